"""``POST /camera`` served by a real uvicorn: pushes from the real ``coalgate sim camera``
(its misreads included), bad bodies over httpx, and any JSON body answered 204 or 400."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import selectors
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.camera.reads import PUSH_REASONS, PlateRead, Side, default_cameras
from tests.edge.camera_server import CameraServer
from wire.errors import PlateError
from wire.plates import normalize_plate

CAMERAS = default_cameras(["lane1"])
GOOD = {
    "plate": "陕K12345",
    "confidence": 93,
    "camera": "lane1-entry",
    "ts": 1_796_000_000_000,
    "image_sha256": None,
}
JSON = {"content-type": "application/json"}
READY_S = 15.0
EVENT_S = 60.0
# Trucks whose plates the camera misreads every time (--misread-rate 1): B→8 in the authority
# letter makes an invalid plate; D/0/2/5 in the serial make other valid plates; 陕K13467 has
# nothing to confuse, so it is read right.
TRUCKS = ("陕B12345", "陕K13467", "陕D80525")
PUSHES = 4  # the three entry reads and the first exit read


def one_line_error(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert b"\n" not in response.content
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] in PUSH_REASONS
    return dict(body)


@pytest.fixture
def server() -> Iterator[CameraServer]:
    with CameraServer(cameras=CAMERAS) as running:
        yield running


def test_a_good_push_reaches_the_sink_stamped(server: CameraServer) -> None:
    response = httpx.post(server.url, json={**GOOD, "plate": "陕k·12345"}, timeout=10)
    assert response.status_code == 204
    assert response.content == b""
    (read,) = server.reads()
    assert (read.plate, read.raw_plate, read.confidence) == ("陕K12345", "陕k·12345", 93)
    assert (read.lane, read.side) == ("lane1", Side.ENTRY)
    assert read.received_ms == 1_796_000_000_000


@pytest.mark.parametrize(
    ("content", "headers", "error", "detail"),
    [
        (json.dumps(GOOD), {"content-type": "text/plain"}, "content_type", "content type must "
         "be application/json, not 'text/plain'"),
        (json.dumps(GOOD), {}, "content_type", "content type must be application/json, not "
         "'none'"),
        (b"{not json", JSON, "not_json", "body is not JSON: Expecting property name enclosed in "
         "double quotes at line 1 column 2"),
        (b"", JSON, "not_json", "body is not JSON: Expecting value at line 1 column 1"),
        (b" " * 9000, JSON, "too_large", "body of 9000 bytes exceeds 8192"),
        (json.dumps({**GOOD, "\ud800": 1}), JSON, "not_json", "key is not Unicode text (a lone "
         "surrogate escape): '\\ud800'"),
        (json.dumps({**GOOD, "camera": "lane1-\ud800"}), JSON, "camera", "camera: Input should "
         "be a valid string, unable to parse raw data as a unicode string"),
    ],
)  # fmt: skip
def test_bad_requests_are_400_with_one_line(
    server: CameraServer, content: str | bytes, headers: dict[str, str], error: str, detail: str
) -> None:
    response = httpx.post(server.url, content=content, headers=headers, timeout=10)
    assert one_line_error(response) == {"error": error, "detail": detail}
    assert server.reads() == []


def test_a_chunked_body_over_the_cap_is_refused(server: CameraServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = httpx.post(server.url, content=chunks(), headers=JSON, timeout=10)
    assert one_line_error(response) == {"error": "too_large", "detail": "body exceeds 8192 bytes"}
    assert server.reads() == []


def test_charset_parameter_is_fine(server: CameraServer) -> None:
    headers = {"content-type": "application/json; charset=utf-8"}
    response = httpx.post(server.url, content=json.dumps(GOOD), headers=headers, timeout=10)
    assert response.status_code == 204
    assert len(server.reads()) == 1


async def test_a_full_queue_answers_busy_and_takes_nothing() -> None:
    sink: asyncio.Queue[PlateRead] = asyncio.Queue(maxsize=1)
    with CameraServer(cameras=CAMERAS, queue_sink=sink) as running:
        async with httpx.AsyncClient(timeout=10) as client:
            first = await client.post(running.url, json=GOOD)
            second = await client.post(running.url, json={**GOOD, "plate": "陕K54321"})
    assert first.status_code == 204
    assert second.status_code == 503
    assert second.json() == {"error": "busy", "detail": "the edge is not taking reads right now"}
    assert sink.qsize() == 1
    assert sink.get_nowait().plate == "陕K12345"


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=()), max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "plate": st.sampled_from(["陕K12345", "陕B8Z5S0", "陕812345", "陕k 1234挂"]) | _json,
        "confidence": st.integers(-2, 102) | _json,
        "camera": st.sampled_from(["lane1-entry", "lane1-exit", "lane2-exit"]) | _json,
        "ts": st.integers(-1, 2**64) | _json,
        "image_sha256": st.sampled_from(["ab" * 32, None, "AB" * 31]) | _json,
        "vendor": _json,
    },
)


def test_any_json_body_is_204_or_400_never_500() -> None:
    with CameraServer(cameras=CAMERAS) as running, httpx.Client(timeout=10) as client:

        @settings(max_examples=200)
        @given(_fields | _json)
        def check(value: object) -> None:
            response = client.post(running.url, content=json.dumps(value), headers=JSON)
            delivered = running.reads()
            if response.status_code == 204:
                assert len(delivered) == 1
                assert isinstance(value, dict)
                assert delivered[0].confidence == value["confidence"]
            else:
                one_line_error(response)
                assert delivered == []

        check()


# --- the real simulator ----------------------------------------------------------------------


class SimCamera:
    """``coalgate sim camera`` as a subprocess pushing to ``url``."""

    def __init__(self, url: str) -> None:
        truck = "axles=2,kind=rigid,tare=6000"
        trucks = [arg for plate in TRUCKS for arg in ("--truck", f"plate={plate},{truck}")]
        command = [
            sys.executable, "-m", "coalgate", "sim", "camera", "--url", url,
            "--lane", "lane1", "--misread-rate", "1", "--seed", "1", "--stand", "0.5",
            "--control", "127.0.0.1:0", *trucks,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            text=True,
        )
        try:
            assert self.process.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(self.process.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=READY_S), "the camera printed no ready line"
            line = self.process.stdout.readline()
            assert line.startswith("ready"), line
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            self.control = fields["control"].rstrip("/")
        except BaseException:
            self.stop()
            raise

    def reads(self) -> list[dict[str, object]]:
        with urllib.request.urlopen(f"{self.control}/state", timeout=5) as response:
            return list(json.loads(response.read())["camera"]["reads"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def valid(plate: str) -> bool:
    try:
        normalize_plate(plate)
    except PlateError:
        return False
    return True


def test_the_simulators_reads_arrive_normalised_and_misreads_as_read(
    server: CameraServer,
) -> None:
    camera = SimCamera(server.url)
    try:
        events: list[PlateRead | str] = []
        for _ in range(PUSHES):
            try:
                events.append(server.events.get(timeout=EVENT_S))
            except queue.Empty:
                pytest.fail(f"only {len(events)} of {PUSHES} pushes arrived: {events}")
        sent = camera.reads()[:PUSHES]
    finally:
        camera.stop()
    delivered = sorted(
        ((e.camera, e.ts_ms, e.plate, e.confidence) for e in events if isinstance(e, PlateRead)),
        key=str,
    )
    refused = sorted(e for e in events if isinstance(e, str))
    good = [r for r in sent if valid(str(r["plate"]))]
    bad = [r for r in sent if not valid(str(r["plate"]))]
    assert delivered == sorted(
        ((r["camera"], r["ts"], r["plate"], r["confidence"]) for r in good), key=str
    )
    assert len(refused) == len(bad)
    for line, read in zip(refused, sorted(bad, key=lambda r: str(r["plate"])), strict=True):
        assert line.startswith(f"camera push refused (plate): plate '{read['plate']}'")
    # The seed gives all three kinds: a right read, a misread that is another valid plate
    # (delivered as read, with its lower confidence), and a misread that is no plate at all.
    assert any(not r["misread"] for r in good)
    assert any(r["misread"] and r["plate"] != r["true_plate"] for r in good)
    assert all(int(str(r["confidence"])) < 70 for r in good if r["misread"])
    assert bad
