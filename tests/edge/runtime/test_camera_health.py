"""Camera health: the watch (``edge.camera.health``) on a fake clock, the status poll
(``edge.camera.status``) against a status page with basic auth in a thread, and end to end:
``coalgate sim lane``'s camera goes down through its control interface, a truck drives on,
and ``coalgate edge run`` shows the camera fault (``/api/lanes``, ``/metrics``, the
``camera_fault`` event) until the camera pushes again (the test pushes as the camera would:
the truck that was not read still stands on the deck); and a camera's status page failing and
answering again under a running edge.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge.camera.health import NO_READ, CameraChange, CameraWatch
from edge.camera.status import check_status, public_url
from edge.config.load import load_site_config
from edge.errors import SiteConfigError
from tests.conftest import Mosquitto, free_port
from tests.edge.runtime.support import PLATE, Console, gate_house, until, wall_ms

ENTRY, EXIT = "lane1-entry", "lane1-exit"


def watch(no_read_ms: int = 5000) -> CameraWatch:
    w = CameraWatch(entry_camera=ENTRY, exit_camera=EXIT, no_read_ms=no_read_ms, occupied_kg=500)
    assert w.beams(entry=False, exit_=False, now_ms=0) == []  # the first state: no arrival
    assert w.weight(0, now_ms=0) == []
    return w


UNREAD = f"{NO_READ}: no plate read within 5 s of a truck"


def fault(camera: str) -> CameraChange:
    return CameraChange(camera=camera, active=True, reason=UNREAD)


def test_a_truck_read_after_it_broke_the_entry_beam_is_no_fault() -> None:
    w = watch()
    assert w.beams(entry=True, exit_=False, now_ms=1000) == []
    assert w.read(ENTRY, now_ms=2500) == []
    assert w.weight(30_000, now_ms=3000) == []  # the same truck on the deck
    assert w.tick(now_ms=60_000) == []
    assert w.faults == {}


def test_a_read_on_the_approach_counts_once() -> None:
    w = watch()
    assert w.read(ENTRY, now_ms=1000) == []  # the trigger loop is ahead of the beam
    assert w.beams(entry=True, exit_=False, now_ms=2000) == []
    assert w.beams(entry=False, exit_=False, now_ms=2500) == []  # tractor-trailer gap
    assert w.beams(entry=True, exit_=False, now_ms=2700) == []  # the same truck
    assert w.tick(now_ms=20_000) == []
    # the next truck needs a read of its own: the first one was used
    assert w.weight(0, now_ms=30_000) == []
    assert w.beams(entry=False, exit_=False, now_ms=30_000) == []
    assert w.beams(entry=True, exit_=False, now_ms=31_000) == []
    assert w.tick(now_ms=35_999) == []
    assert w.tick(now_ms=36_000) == [fault(ENTRY)]


def test_a_truck_without_a_read_is_a_no_read_fault_until_the_camera_reads_again() -> None:
    w = watch()
    assert w.beams(entry=True, exit_=False, now_ms=1000) == []
    assert w.tick(now_ms=5999) == []
    assert w.tick(now_ms=6000) == [fault(ENTRY)]
    assert w.faults == {ENTRY: UNREAD}
    assert w.tick(now_ms=20_000) == []  # said once
    assert w.read(ENTRY, now_ms=21_000) == [
        CameraChange(camera=ENTRY, active=False, reason="reads again")
    ]
    assert w.faults == {}


def test_weight_alone_is_an_arrival_and_the_exit_camera_is_watched_too() -> None:
    w = watch()
    assert w.weight(12_000, now_ms=1000) == []  # the entry beam is dirty or misaligned
    assert w.weight(40_000, now_ms=1500) == []
    assert w.beams(entry=False, exit_=True, now_ms=4000) == []
    assert w.tick(now_ms=6000) == [fault(ENTRY)]
    assert w.read(EXIT, now_ms=8000) == []
    assert w.tick(now_ms=9000) == []
    assert w.faults == {ENTRY: UNREAD}
    assert w.read("lane2-entry", now_ms=9000) == []  # another lane's camera: not ours


def test_a_status_page_failing_twice_in_a_row_is_a_fault_until_it_answers() -> None:
    w = watch()
    assert w.status(EXIT, problem="HTTP 503", now_ms=1000) == []  # one lost answer is not
    assert w.status(EXIT, problem=None, now_ms=2000) == []
    assert w.status(EXIT, problem="HTTP 503", now_ms=3000) == []
    down = w.status(EXIT, problem="unreachable: refused", now_ms=4000)
    assert down == [CameraChange(camera=EXIT, active=True, reason="status: unreachable: refused")]
    assert w.status(EXIT, problem="HTTP 503", now_ms=5000) == []  # still down: said once
    # no read either: one fault of the camera with both reasons, begun once, ended once
    assert w.beams(entry=False, exit_=True, now_ms=6000) == []
    assert w.tick(now_ms=11_000) == []
    assert w.faults == {EXIT: f"{UNREAD}; status: unreachable: refused"}
    assert w.status(EXIT, problem=None, now_ms=12_000) == []
    assert w.faults == {EXIT: UNREAD}
    assert w.read(EXIT, now_ms=13_000) == [
        CameraChange(camera=EXIT, active=False, reason="reads again")
    ]
    assert w.status("lane9-exit", problem="HTTP 500", now_ms=14_000) == []
    assert w.status("lane9-exit", problem="HTTP 500", now_ms=15_000) == []
    assert w.faults == {}


def test_nothing_at_start_and_nothing_when_off() -> None:
    w = CameraWatch(entry_camera=ENTRY, exit_camera=EXIT, no_read_ms=5000, occupied_kg=500)
    assert w.weight(40_000, now_ms=0) == []  # a truck standing on the deck at start
    assert w.beams(entry=True, exit_=True, now_ms=0) == []
    assert w.tick(now_ms=60_000) == []
    off = watch(no_read_ms=0)
    assert off.beams(entry=True, exit_=True, now_ms=1000) == []
    assert off.tick(now_ms=10**9) == []
    assert off.faults == {}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("no_read_s = -1", "lane[1].cameras.no_read_s: must be greater than or equal to 0"),
        (
            'exit_status = "ftp://10.0.0.32/status"',
            "lane[1].cameras.exit_status: 'ftp://10.0.0.32/status' must be an http:// or "
            "https:// URL",
        ),
        ("status_every_s = 0", "lane[1].cameras.status_every_s: must be greater than or equal"),
        (  # the camera's password is never echoed
            'entry_status = "ftp://admin:Secret9@10.0.0.31/status"',
            "lane[1].cameras.entry_status: 'ftp://admin:***@10.0.0.31/status' must be an "
            "http:// or https:// URL",
        ),
    ],
)
def test_camera_health_settings_are_checked_with_one_line(
    tmp_path: Path, line: str, expected: str
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        """
[site]
id = "yl-mine-a"
device = "yl-mine-a-gate-1"
device_key = "k"
central_keys = "c"
data_dir = "data"

[broker]
url = "mqtt://127.0.0.1:1883"

[[lane]]
id = "lane1"
direction = "out"

[lane.scale]
protocol = "toledo"
url = "socket://127.0.0.1:4001"
division_kg = 10
capacity_kg = 60000

[lane.io]
url = "tcp://127.0.0.1:4002"

[lane.cameras]
"""
        + line
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(SiteConfigError) as caught:
        load_site_config(site)
    message = str(caught.value)
    assert "\n" not in message
    assert f"site.toml:26: {expected}" in message, message


@pytest.mark.mosquitto
def test_a_camera_that_goes_down_is_a_lane_fault_until_it_reads_again(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cameras = "[lane.cameras]\nno_read_s = 1"
    with gate_house(tmp_path, mosquitto, operator=True, site_extra=cameras) as gate:
        edge, sim, http_port = gate.edge, gate.sim, gate.http_port
        console: Console | None = None
        try:
            until(
                lambda: (lane := edge.lane())["state"] == "idle" and lane["weight_kg"] == 0,
                what="the lane idle at zero",
            )
            sim.fault("camera", "down")  # the camera pushes nothing until the fault ends
            sim.truck(
                plate=PLATE, axles=6, kind="combination", tare_kg=15_000, load_kg=33_000,
                stand_s=30,
            )  # fmt: skip
            faults = until(lambda: edge.lane()["faults"].get("camera"), what="the camera fault")
            assert faults == f"{ENTRY}: {NO_READ}: no plate read within 1 s of a truck"
            console = Console(edge.base)  # the operator sees it in the lane's fault list
            assert console.lane()["faults"]["camera"] == faults
            assert sim.state()["camera"]["down"]
            assert not sim.state()["camera"]["reads"]
            metrics = edge.metrics()
            assert 'coalgate_edge_lane_fault{lane="lane1",source="camera"} 1' in metrics
            alarm = until(
                lambda: [a for a in edge.lane()["alarms"] if a["kind"] == "camera_fault"],
                what="the camera_fault event",
            )[0]
            assert alarm["severity"] == "warning"
            assert alarm["detail"]["active"] is True
            assert ENTRY in alarm["detail"]["reason"]
            assert not [d for d in edge.lane()["decisions"] if d["decision"] == "release"]
            assert not sim.state()["io"]["barrier"]["up"]

            # The camera is back: its next push (of the truck standing there) clears it.
            sim.request("DELETE", "/faults")
            push(http_port, camera=ENTRY, plate=PLATE)
            until(lambda: "camera" not in edge.lane()["faults"], what="the fault cleared")
            assert 'source="camera"' not in edge.metrics()
            assert "camera" not in console.lane()["faults"]
            ended = [
                line
                for line in edge.log_lines()
                if line.get("fault") == "camera" and "reads again" in line["msg"]
            ]
            assert ended, edge.log()
        finally:
            if console is not None:
                console.close()


def push(http_port: int, *, camera: str, plate: str) -> None:
    """A camera's push (PROTOCOLS.md §5), as the camera sends it."""
    body = {"plate": plate, "confidence": 95, "camera": camera, "ts": wall_ms(),
            "image_sha256": None}  # fmt: skip
    request = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/camera",
        data=json.dumps(body, ensure_ascii=False).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 204


class StatusPage:
    """A camera's status page on a free port, in a thread: answers ``status`` (after
    ``delay_s``), asking for basic auth first when ``user`` is set, and counts the requests
    that came with the right credentials."""

    def __init__(self, *, user: str | None = None, password: str = "") -> None:
        self.status = 200
        self.delay_s = 0.0
        self.authorized = 0
        expected = base64.b64encode(f"{user}:{password}".encode()).decode()
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if user is not None and self.headers.get("Authorization") != f"Basic {expected}":
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                page.authorized += 1
                time.sleep(page.delay_s)
                body = b"<DeviceStatus/>"
                self.send_response(page.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002  # base's name
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = False  # server_close joins every request's thread
        self._thread = threading.Thread(target=self.server.serve_forever, name="status-page")
        self._thread.start()

    def url(self, credentials: str = "") -> str:
        return f"http://{credentials}127.0.0.1:{self.port}/ISAPI/System/status"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


@pytest.fixture
def page() -> Iterator[StatusPage]:
    status = StatusPage(user="admin", password="s3cret!")
    try:
        yield status
    finally:
        status.close()


async def test_a_status_poll_is_2xx_in_time_with_the_cameras_credentials(page: StatusPage) -> None:
    url = page.url("admin:s3cret!@")
    assert public_url(url) == page.url()
    assert await check_status(url, timeout_s=2) is None
    assert page.authorized == 1
    assert await check_status(page.url("admin:wrong@"), timeout_s=2) == "HTTP 401"
    page.status = 503
    assert await check_status(url, timeout_s=2) == "HTTP 503"
    page.status, page.delay_s = 200, 1.0
    assert await check_status(url, timeout_s=0.2) == "no answer within 0.2 s"
    refused = f"http://127.0.0.1:{free_port()}/status"
    problem = await check_status(refused, timeout_s=2)
    assert problem is not None
    assert problem.startswith("unreachable: "), problem


@pytest.mark.mosquitto
def test_a_camera_whose_status_page_fails_is_a_lane_fault_until_it_answers(
    tmp_path: Path, mosquitto: Mosquitto, page: StatusPage
) -> None:
    cameras = (
        f'[lane.cameras]\nexit_status = "{page.url("admin:s3cret!@")}"\n'
        "status_every_s = 0.2\nstatus_timeout_s = 1"
    )
    with gate_house(tmp_path, mosquitto, site_extra=cameras) as gate:
        edge = gate.edge
        until(lambda: page.authorized >= 2, what="the status page polled")
        assert "camera" not in edge.lane()["faults"]
        page.status = 503
        faults = until(lambda: edge.lane()["faults"].get("camera"), what="the camera fault")
        assert faults == f"{EXIT}: status: HTTP 503"
        metrics = edge.metrics()
        assert 'coalgate_edge_lane_fault{lane="lane1",source="camera"} 1' in metrics
        alarm = until(
            lambda: [a for a in edge.lane()["alarms"] if a["kind"] == "camera_fault"],
            what="the camera_fault event",
        )[0]
        assert alarm["detail"]["reason"] == f"{EXIT}: status: HTTP 503"
        page.status = 200
        until(lambda: "camera" not in edge.lane()["faults"], what="the fault cleared")
        assert "s3cret" not in edge.log()
