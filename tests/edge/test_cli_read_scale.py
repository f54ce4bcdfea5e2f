"""``coalgate edge read-scale`` as an integrator runs it: a subprocess against the simulator.

Every streaming protocol over a pty (with a stable link) and MT-SICS over TCP, ``--json``
lines with whole kilograms; bad options fail with one clear line. Bounded by subprocess
timeouts; ``--count`` ends each run on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.edge.simproc import EXPECTED_KG, Indicator

RUN_S = 30.0
TONNES = ("--unit", "t", "--decimals", "2")

CASES = {
    "toledo-pty": ("toledo", True, (), ()),
    "xk3190-a9-pty": ("xk3190-a9", True, TONNES, ("--unit", "t")),
    "xk3190-a12-pty": ("xk3190-a12", True, (), ()),
    "xk3190-eq-pty": ("xk3190-eq", True, (), ()),
    "mt-sics-tcp": ("mt-sics", False, (), ()),
}


def read_scale(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coalgate", "edge", "read-scale", *args],
        capture_output=True,
        text=True,
        timeout=RUN_S,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_json_lines_in_whole_kilograms(case: str, tmp_path: Path) -> None:
    protocol, pty, sim_extra, cli_extra = CASES[case]
    indicator = Indicator(protocol, pty_link=tmp_path / "scale" if pty else None, extra=sim_extra)
    try:
        done = read_scale(
            "--protocol", protocol, "--url", indicator.url, "--count", "3", "--json", "--raw",
            *cli_extra,
        )  # fmt: skip
    finally:
        indicator.stop()
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert line["weight"] == EXPECTED_KG
        assert line["unit"] == "kg"
        assert line["stable"] is not False
        assert line["overload"] is False
        assert "net" in line
        assert bytes.fromhex(line["raw"])


def test_text_lines() -> None:
    indicator = Indicator("toledo")
    try:
        done = read_scale("--protocol", "toledo", "--url", indicator.url, "--count", "2")
    finally:
        indicator.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split()[:3] == ["49000", "kg", "stable"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("--protocol", "toledo", "--url", "socket://127.0.0.1:1", "--division", "2.5"),
            "division",
        ),
        (("--protocol", "toledo", "--url", "x", "--division", "ten"), "division"),
        (("--protocol", "nope", "--url", "x"), "--protocol"),
        (("--protocol", "toledo", "--url", "nope://x", "--count", "1"), "--url"),
        (("--protocol", "toledo", "--url", "x", "--count", "0"), "--count"),
    ],
)
def test_bad_options_fail_with_a_clear_line(args: tuple[str, ...], says: str) -> None:
    done = read_scale(*args)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1, done.stderr
    assert says in error_lines[0]
