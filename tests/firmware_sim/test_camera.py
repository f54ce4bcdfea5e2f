"""Plate reads: misread statistics, and pushes that reach a real HTTP endpoint."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from firmware_sim.camera import CONFUSIONS, CameraConfig, confuse, read
from firmware_sim.lane_config import CameraSetup, Device, FaultPlan, LaneConfig, TruckPlan
from firmware_sim.model import Deck, Truck, TruckKind
from tests.firmware_sim.lane_thread import run_lane


def test_misread_statistics_and_confusions() -> None:
    config = CameraConfig(lane="lane1", misread_rate=0.2, low_confidence_rate=0.1, seed=7)
    plate = "陕K20585"  # every character after the province is confusable but K
    reads = [read(config, plate=plate, side="entry", seq=n, ts_ms=0) for n in range(4000)]
    misread = [r for r in reads if r.misread]
    assert 0.17 < len(misread) / len(reads) < 0.23
    for r in misread:
        diffs = [(a, b) for a, b in zip(plate, r.plate, strict=True) if a != b]
        assert len(diffs) == 1
        assert diffs[0][1] in CONFUSIONS[diffs[0][0]]
        assert r.confidence < 70
    correct = [r for r in reads if not r.misread]
    low = sum(r.confidence < 70 for r in correct) / len(correct)
    assert 0.07 < low < 0.13
    assert all(85 <= r.confidence <= 99 for r in correct if r.confidence >= 70)
    again = [read(config, plate=plate, side="entry", seq=n, ts_ms=0) for n in range(4000)]
    assert again == reads  # a seed replays the same reads
    assert confuse("陕KXXXXX", __import__("random").Random(1)) == "陕KXXXXX"


@contextmanager
def endpoint() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A stdlib HTTP server that records every POST and answers 204, like the edge."""
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="camera-endpoint")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/camera", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def wait_for(received: list[Any], count: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_reads_arrive_at_the_endpoint_with_the_configured_misreads() -> None:
    plates = [f"陕K{n:05d}" for n in range(20580, 20592)]
    trucks = tuple(
        TruckPlan(
            truck=Truck(plate=p, axles=2, kind=TruckKind.RIGID, tare_kg=6000),
            arrive_ms=i * 8000,
            stand_ms=0,
            speed_mps=8.0,
        )
        for i, p in enumerate(plates)
    )
    swapped = TruckPlan(
        truck=Truck(plate="晋B12345", axles=2, kind=TruckKind.RIGID, tare_kg=6000),
        arrive_ms=len(plates) * 8000,
        stand_ms=0,
        speed_mps=8.0,
        exit_plate="晋B99999",
    )
    with endpoint() as (url, received):
        setup = CameraSetup(url=url, config=CameraConfig(lane="lane7", misread_rate=0.5, seed=3))
        config = LaneConfig(
            deck=Deck(noise_kg=0.0), speed=40, camera=setup, trucks=(*trucks, swapped)
        )
        with run_lane(config) as (_, running):
            wait_for(received, 2 * len(plates) + 2)
            state = running.call("GET /state")[1]
        assert state["camera"]["failures"] == 0
    assert len(received) == 2 * len(plates) + 2
    bodies = [body for path, body in received]
    assert all(path == "/camera" for path, _ in received)
    assert all(set(b) == {"plate", "confidence", "camera", "ts", "image_sha256"} for b in bodies)
    assert {b["camera"] for b in bodies} == {"lane7-entry", "lane7-exit"}
    assert all(len(b["image_sha256"]) == 64 and 0 <= b["confidence"] <= 100 for b in bodies)
    # Each read is the camera model's read for that truck: the misreads are the seeded ones.
    expected_misreads = sum(
        read(setup.config, plate=p, side=side, seq=seq, ts_ms=0).misread
        for seq, (p, side) in enumerate(
            ((p, s) for p in plates for s in ("entry", "exit")), start=1
        )
    )
    misread = sum(b["plate"] not in plates for b in bodies[: 2 * len(plates)])
    assert misread == expected_misreads
    assert 0 < misread < 2 * len(plates)
    exit_read = [b for b in bodies if b["camera"] == "lane7-exit"][-1]
    entry_read = [b for b in bodies if b["camera"] == "lane7-entry"][-1]
    assert entry_read["plate"][:3] == "晋B1"  # the plates the truck came in with
    assert exit_read["plate"][:3] == "晋B9"  # plate swap: other plates leave


def test_camera_down_sends_nothing() -> None:
    truck = Truck(plate="陕K12345", axles=2, kind=TruckKind.RIGID, tare_kg=6000)
    with endpoint() as (url, received):
        setup = CameraSetup(url=url, config=CameraConfig())
        down = FaultPlan(at_ms=0, device=Device.CAMERA, kind="down")
        plan = TruckPlan(truck=truck, arrive_ms=100, stand_ms=0, speed_mps=8.0)
        config = LaneConfig(speed=40, camera=setup, trucks=(plan,), faults=(down,))
        with run_lane(config) as (_, running):
            time.sleep(1.0)
            assert running.call("GET /state")[1]["trucks"] == []  # it has come and gone
        assert received == []
