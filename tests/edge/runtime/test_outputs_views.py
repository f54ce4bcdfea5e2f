"""The display implementations (console buffer; LED sign over a TCP serial server and over HTTP,
both real sockets), the Prometheus text and the structured log formats."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from edge.gate.outputs import Say
from edge.runtime.display import ConsoleDisplay, FanOut, LedDisplay
from edge.runtime.logs import JsonFormatter, KeyValueFormatter, configure_logging
from edge.runtime.metrics import Metrics

HELD = Say(text_zh="车辆超限，禁止放行", text_en="Overloaded: not released")  # noqa: RUF001
T0 = 1_796_083_200_000


async def test_the_console_keeps_the_latest_lines_per_lane() -> None:
    console = ConsoleDisplay(keep=2)
    for n in range(3):
        await console.show(Say(text_zh=f"{n}", text_en=f"line {n}"), lane="lane1", at_ms=T0 + n)
    await console.show(HELD, lane="lane2", at_ms=T0)
    assert [line.text_en for line in console.lines("lane1")] == ["line 1", "line 2"]
    current = console.current("lane2")
    assert current is not None
    assert (current.text_zh, current.at_ms) == (HELD.text_zh, T0)
    assert console.current("lane3") is None


async def test_an_led_sign_on_a_serial_server_gets_one_line_per_message() -> None:
    received: list[bytes] = []
    got = asyncio.Event()

    async def sign(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readuntil(b"\r\n"))
        got.set()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(sign, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    led = LedDisplay(target=f"socket://127.0.0.1:{port}", language="zh", encoding="gbk")
    try:
        await led.show(HELD, lane="lane1", at_ms=T0)
        async with asyncio.timeout(10):
            await got.wait()
    finally:
        await led.aclose()
        server.close()
        await server.wait_closed()
    assert received == [HELD.text_zh.encode("gbk") + b"\r\n"]
    assert (led.sent, led.failures) == (1, 0)


class _Sign(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        _Sign.bodies.append((self.headers["content-type"], self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture
def http_sign() -> Iterator[str]:
    _Sign.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sign)
    thread = threading.Thread(target=server.serve_forever, name="sign")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/text"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_an_led_sign_over_http_gets_the_text_and_a_dead_one_never_raises(
    http_sign: str,
) -> None:
    led = LedDisplay(target=http_sign, language="both", encoding="utf-8")
    dead = LedDisplay(target="http://127.0.0.1:9/text", timeout_s=1)
    console = ConsoleDisplay()
    try:
        await FanOut([console, dead, led]).show(HELD, lane="lane1", at_ms=T0)
    finally:
        await led.aclose()
        await dead.aclose()
    assert _Sign.bodies == [
        ("text/plain; charset=utf-8", f"{HELD.text_zh} {HELD.text_en}".encode()),
    ]
    assert (dead.sent, dead.failures) == (0, 1)
    assert console.current("lane1") is not None  # the console got it before the dead sign


def test_the_prometheus_text() -> None:
    metrics = Metrics()
    metrics.readings["lane1"] += 3
    metrics.decisions[("lane1", "hold", "overload_gross")] += 1
    metrics.alarms[("lane1", "escape")] += 2
    metrics.gauge("coalgate_edge_x", "A gauge", lambda: [((("lane", 'a"b\\c'),), 0.5)])
    text = metrics.render()
    assert 'coalgate_edge_readings_total{lane="lane1"} 3\n' in text
    assert (
        'coalgate_edge_decisions_total{lane="lane1",decision="hold",reason="overload_gross"} 1'
        in text
    )
    assert 'coalgate_edge_alarms_total{lane="lane1",kind="escape"} 2' in text
    assert "coalgate_edge_journal_failures_total 0\n" in text
    assert '# TYPE coalgate_edge_x gauge\ncoalgate_edge_x{lane="a\\"b\\\\c"} 0.5\n' in text
    for line in text.splitlines():
        assert line.startswith("# ") or line.split(" ")[-1].replace(".", "").isdigit(), line


def test_the_log_formats() -> None:
    record = logging.LogRecord("edge.x", logging.WARNING, __file__, 1, "lane %s: %s", None, None)
    record.args = ("lane1", "hold 陕K12345")
    record.lane = "lane1"
    record.reasons = ["overload_gross"]
    fields = json.loads(JsonFormatter().format(record))
    assert fields["level"] == "warning"
    assert fields["msg"] == "lane lane1: hold 陕K12345"
    assert (fields["lane"], fields["reasons"]) == ("lane1", ["overload_gross"])
    assert fields["ts"].endswith("Z")
    kv = KeyValueFormatter().format(record)
    assert ' msg="lane lane1: hold 陕K12345" lane=lane1 reasons="[\\"overload_gross\\"]"' in kv
    assert " level=warning logger=edge.x " in kv


def test_configure_logging_writes_one_json_object_per_line() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    try:
        configure_logging(log_format="json", level="INFO", stream=stream)
        logging.getLogger("edge.test").info("one %d", 1, extra={"seq": 7})
        logging.getLogger("edge.test").debug("not shown")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before[0]:
            root.addHandler(handler)
        root.setLevel(before[1])
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["msg"] == "one 1"
    assert json.loads(line)["seq"] == 7
