"""``coalgate edge io`` as an integrator runs it: a subprocess against ``coalgate sim io``."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner

from coalgate.cli import cli
from tests.edge.io_sim import ModbusSim

RUN_S = 60
EDGE_IO = (sys.executable, "-m", "coalgate", "edge", "io")


def edge_io(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGE_IO, *args],
        capture_output=True,
        text=True,
        timeout=RUN_S,
        check=False,
    )


@pytest.fixture
def sim() -> Iterator[ModbusSim]:
    with ModbusSim.io() as running:
        yield running


def test_pulse_barrier_is_confirmed(sim: ModbusSim) -> None:
    done = edge_io("--url", sim.url, "--pulse", "barrier")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("barrier raised: pulsed 500 ms")
    assert "limit switch closed" in done.stdout
    assert sim.state()["io"]["barrier"]["up"]


def test_set_and_watch_as_json(sim: ModbusSim) -> None:
    done = edge_io("--url", sim.url, "--set", "red=on", "--set", "horn=on")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "red on: read back (barrier=off red=on green=off horn=off)",
        "horn on: read back (barrier=off red=on green=off horn=on)",
    ]
    watched = edge_io("--url", sim.url, "--watch", "--count", "2", "--json")
    assert watched.returncode == 0, watched.stderr
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    assert lines[0] | {"at_ms": 0} == {
        "event": "beams",
        "entry": False,
        "front": False,
        "rear": False,
        "exit": False,
        "barrier_up": False,
        "at_ms": 0,
    }
    assert lines[1]["event"] == "coils"
    assert (lines[1]["red"], lines[1]["horn"], lines[1]["green"]) == (True, True, False)


def test_watch_shows_a_truck_arriving_over_rtu(tmp_path: Path) -> None:
    link = tmp_path / "io"
    with ModbusSim.io(pty_link=link) as running:
        watcher = subprocess.Popen(
            [*EDGE_IO, "--url", f"rtu://{link}", "--watch", "--count", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert watcher.stdout is not None
            first = _line(watcher.stdout)
            second = _line(watcher.stdout)
            running.truck(plate="陕K12345", axles=2, kind="rigid", tare_kg=6000, stand_s=600)
            third = _line(watcher.stdout)
            assert watcher.wait(timeout=RUN_S) == 0
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.wait()
            for pipe in (watcher.stdout, watcher.stderr):
                if pipe is not None:
                    pipe.close()
    assert first == "beams entry=off front=off rear=off exit=off barrier_up=off"
    assert second == "coils barrier=off red=off green=off horn=off"
    assert third.startswith("beams entry=on")


def _line(stream: IO[str]) -> str:
    """The next line, within RUN_S (the ready-line wait of the simulator helpers)."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout=RUN_S):
            raise AssertionError("no line from coalgate edge io in time")
    return stream.readline().rstrip("\n")


def test_an_unconfirmed_barrier_is_one_line_and_status_1() -> None:
    with ModbusSim.io("--io-map", "barrier_up=6") as running:
        done = edge_io("--url", running.url, "--pulse", "barrier", "--confirm-timeout", "1")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "Error: raise_barrier: the barrier-up limit switch did not close (barrier up) within 1 s"
    ]


def test_a_dead_line_is_one_line_and_status_1() -> None:
    done = edge_io("--url", "tcp://127.0.0.1:1", "--set", "green=on")
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["Error: set_green: tcp://127.0.0.1:1: cannot connect"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--url", "tcp://127.0.0.1:1"], "exactly one of --pulse, --set or --watch"),
        (["--url", "tcp://127.0.0.1:1", "--watch", "--pulse", "red"], "exactly one"),
        (["--url", "tcp://127.0.0.1:1", "--set", "red=maybe"], "COIL=on|off"),
        (["--url", "tcp://127.0.0.1:1", "--pulse", "red", "--count", "2"], "go with --watch"),
        (["--url", "modbus://x", "--watch"], "--url: 'modbus://x'"),
        (["--url", "tcp://127.0.0.1:1", "--watch", "--io-map", "exit=1"], "--io-map.exit"),
    ],
)
def test_mistakes_are_one_line(args: list[str], words: str) -> None:
    result = CliRunner().invoke(cli, ["edge", "io", *args])
    assert result.exit_code in (1, 2)
    assert words in result.output
    assert "Traceback" not in result.output
