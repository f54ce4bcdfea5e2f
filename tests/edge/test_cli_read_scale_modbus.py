"""``coalgate edge read-scale --modbus`` as an integrator runs it, against ``sim modbus``.

Both presets and a vendor map, over Modbus TCP and RTU on a pty: ``--json`` lines in whole kg
with the registers under ``--raw``; a transmitter that is not there is reported as faults on
stderr without pymodbus's own log lines; mistakes are one ``Error:`` line. Bounded by
subprocess timeouts; ``--count`` ends each run on its own.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.edge.simproc import EXPECTED_KG, Transmitter
from tests.edge.test_modbus_driver import VENDOR_MAP

RUN_S = 30.0
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def read_scale(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coalgate", "edge", "read-scale", *args],
        capture_output=True,
        text=True,
        timeout=RUN_S,
        env=ENV,
        check=False,
    )


CASES = {
    "hr-int32-tcp": ("hr-int32", False),
    "ir-c500-pty": ("ir-c500", True),
    "vendor-pty": ("vendor", True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_json_lines_in_whole_kilograms(case: str, tmp_path: Path) -> None:
    spec, pty = CASES[case]
    map_file = None
    if spec == "vendor":
        map_file = tmp_path / "vendor.toml"
        map_file.write_text(VENDOR_MAP)
    transmitter = Transmitter(
        preset=spec, map_file=map_file, pty_link=tmp_path / "modbus" if pty else None
    )
    try:
        done = read_scale(
            "--modbus", str(map_file or spec), "--url", transmitter.url, "--unit-id", "2",
            "--count", "3", "--json", "--raw",
        )  # fmt: skip
    finally:
        transmitter.stop()
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert line["weight"] == EXPECTED_KG
        assert (line["unit"], line["stable"], line["net"], line["overload"]) == (
            "kg", True, False, False,
        )  # fmt: skip
        registers = {int(a): int(w, 16) for a, w in line["registers"].items()}
        assert bytes.fromhex(line["raw"]) == b"".join(
            registers[a].to_bytes(2, "big") for a in sorted(registers)
        )
    if spec == "hr-int32":
        assert registers[3] == EXPECTED_KG  # gross, low word
        assert registers[8] == 10  # division
    assert "Traceback" not in done.stderr


def test_text_lines_show_the_registers() -> None:
    transmitter = Transmitter(preset="hr-int32")
    try:
        done = read_scale("--modbus", "hr-int32", "--url", transmitter.url, "--count", "2", "--raw")
    finally:
        transmitter.stop()
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.split()[:4] == ["49000", "kg", "stable", "gross"]
    assert "3:bf68" in first  # 49,000 = 0x0000bf68, register 3 the low word


def test_a_transmitter_that_is_not_there_is_faults_on_stderr() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    process = subprocess.Popen(
        [sys.executable, "-m", "coalgate", "edge", "read-scale", "--modbus", "hr-int32",
         "--url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + RUN_S
        with selectors.DefaultSelector() as selector:
            selector.register(process.stderr, selectors.EVENT_READ)
            while not any(line.startswith("scale: silent") for line in lines):
                left = deadline - time.monotonic()
                assert left > 0, f"no silence line: {lines}"
                assert selector.select(timeout=left), f"no silence line: {lines}"
                line = process.stderr.readline()
                assert line, f"read-scale ended: {lines}"
                lines.append(line)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    assert lines[0].startswith(f"scale: disconnected: {url}: cannot connect")
    assert len(lines) == 2, lines  # nothing from pymodbus's own logger


MAP_ERRORS = {
    "gross = 2\nnet = 3\n": "Error: {path}: two values share a register",
    'gross = 2\ntype = "int64"\n': (
        "Error: {path}.type: must be one of int32, uint32, float32, int16"
    ),
    "gross = 2\nspeed = 1\n": "Error: {path}: unknown key(s) speed",
    "gross = = 2\n": "Error: --modbus: {path}: Invalid value (at line 1, column 9)",
}


@pytest.mark.parametrize("content", list(MAP_ERRORS))
def test_a_bad_map_file_is_its_one_line(content: str, tmp_path: Path) -> None:
    path = tmp_path / "vendor.toml"
    path.write_text(content)
    done = read_scale("--modbus", str(path), "--url", "tcp://127.0.0.1:1", "--count", "1")
    assert done.returncode == 1
    assert done.stderr.strip() == MAP_ERRORS[content].format(path=path)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--modbus", "hr-int33", "--url", "tcp://h"), "Error: --modbus: 'hr-int33' is neither"),
        (("--modbus", "/no/such.toml", "--url", "tcp://h"), "Error: --modbus: cannot read"),
        (
            ("--modbus", "hr-int32", "--url", "socket://h:1"),
            "Error: --url: 'socket://h:1': a Modbus",
        ),
        (("--modbus", "hr-int32", "--url", "rtu://dev/x"), "Error: --url: 'rtu://dev/x': expected"),
        (("--modbus", "hr-int32", "--url", "tcp://h", "--division", "0"), "Error: --division:"),
        (("--modbus", "hr-int32", "--url", "tcp://h", "--unit-id", "0"), "'--unit-id'"),
        (("--modbus", "hr-int32", "--protocol", "toledo", "--url", "x"), "exactly one of"),
        (("--url", "x"), "exactly one of"),
        (("--protocol", "modbus", "--url", "x"), "'--protocol'"),
    ],
)
def test_bad_options_fail_with_a_clear_line(args: tuple[str, ...], says: str) -> None:
    done = read_scale(*args)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1, done.stderr
    assert says in error_lines[0]
