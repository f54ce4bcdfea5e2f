"""The parsers read what the simulated indicators send, through the wire only.

``coalgate sim indicator`` runs as a subprocess (never imported: firmware_sim must stay an
independent implementation) with a settled truck of 15,000 kg tare + 34,000 kg load and no
noise; a plain socket reads a few seconds of its bytes; every reading must convert to
49,000 kg. Waits are bounded and event-driven (a ready line, then readings as they come).
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from edge.errors import FrameError
from edge.scale.convert import Converter
from edge.scale.mt_sics import SicsParser
from edge.scale.readings import Reading, Unit
from edge.scale.toledo import ToledoParser
from edge.scale.xk3190 import A9Parser, A12Parser, EqOrder, EqParser

TRUCK = "plate=陕K12345,axles=6,tare=15000,load=34000,settled=yes"
EXPECTED_KG = 49_000
WANTED = 5
DEADLINE_S = 15.0


class Simulator:
    """One ``coalgate sim indicator`` process serving TCP on a free port."""

    def __init__(self, protocol: str, extra: list[str]) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coalgate",
                "sim",
                "indicator",
                "--protocol",
                protocol,
                "--tcp",
                "127.0.0.1:0",
                "--control",
                "127.0.0.1:0",
                "--noise",
                "0",
                "--rate",
                "20",
                "--truck",
                TRUCK,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.port = self._ready_port()

    def _ready_port(self) -> int:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=DEADLINE_S):
                raise AssertionError("the simulator printed no ready line in time")
        line = self.process.stdout.readline().decode()
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        assert line.startswith("ready"), line
        return int(fields["port"].rsplit(":", 1)[1])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


CASES = {
    "toledo": ("toledo", [], ToledoParser),
    "toledo-short": ("toledo", ["--short-frames"], ToledoParser),
    "toledo-t": ("toledo", ["--unit", "t", "--decimals", "2"], ToledoParser),
    "xk3190-a9": (
        "xk3190-a9",
        ["--unit", "t", "--decimals", "2"],
        lambda: A9Parser(unit=Unit.TONNE),
    ),
    "xk3190-a12": ("xk3190-a12", [], A12Parser),
    "xk3190-eq": ("xk3190-eq", [], EqParser),
    "xk3190-eq-forward": (
        "xk3190-eq",
        ["--eq-order", "forward", "--unit", "t", "--decimals", "2"],
        lambda: EqParser(order=EqOrder.FORWARD, unit=Unit.TONNE),
    ),
    "mt-sics": ("mt-sics", [], SicsParser),
}


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> Iterator[tuple[str, Simulator, object]]:
    protocol, extra, make = CASES[request.param]
    simulator = Simulator(protocol, extra)
    try:
        yield protocol, simulator, make()
    finally:
        simulator.stop()


def test_readings_of_a_settled_truck(case: tuple[str, Simulator, object]) -> None:
    protocol, simulator, parser = case
    assert isinstance(parser, ToledoParser | A9Parser | A12Parser | EqParser | SicsParser)
    converter = Converter(division_kg=10)
    readings: list[Reading] = []
    errors: list[FrameError] = []
    deadline = time.monotonic() + DEADLINE_S
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as sock:
        sock.settimeout(0.5)
        while len(readings) < WANTED and time.monotonic() < deadline:
            if protocol == "mt-sics":
                sock.sendall(b"SI\r\n")
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            assert data, "the simulator closed the connection"
            for event in parser.feed(data):
                if isinstance(event, Reading):
                    readings.append(event)
                elif isinstance(event, FrameError):
                    errors.append(event)
    print(f"{protocol}: {len(readings)} readings, {len(errors)} frame errors")
    assert len(readings) >= WANTED
    assert len(errors) <= 1, errors  # at most a frame cut by connecting mid-stream
    for reading in readings:
        weight = converter.convert(reading)
        assert weight.kg == EXPECTED_KG
        assert reading.stable is not False
        assert not reading.overload
        assert not reading.underload
        assert reading.unit in (Unit.KILOGRAM, Unit.TONNE)
