"""The benchmarks still run (figures are read by people, never asserted on)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parents[1]


def test_wire_bench_runs_and_prints_every_figure() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "wire_bench.py"),
            "--seconds",
            "0.05",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for label in (
        "records signed/s",
        "records verified/s",
        "raw Ed25519 verify/s (cryptography)",
        "tickets verified/s",
        "receipts verified/s",
        "verify ratio (records / raw)",
    ):
        assert label in result.stdout


@pytest.mark.mosquitto
def test_uplink_bench_runs_and_prints_every_figure() -> None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        service_missing("mosquitto is not installed")  # the bench starts its own broker
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "uplink_bench.py"), "--records", "300"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for label in (
        "journal appends (sign + fsync'd commit)",
        "backlog drain to acks",
        "CPU per record",
        "lost (never received)",
        "duplicates at the consumer",
        "uplink resends",
    ):
        assert label in result.stdout


@pytest.mark.mosquitto
def test_edge_bench_runs_and_prints_every_figure() -> None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        service_missing("mosquitto is not installed")  # the bench starts its own broker
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "edge_bench.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for label in (
        "weighings: 4 in",
        "decisions: release/ok 4",
        "edge RSS after N weighings (MiB): 0: ",
        "alarms: ",
        "edge RSS start / mid / end:",
        "edge RSS slope:",
        "edge CPU per weighing:",
    ):
        assert label in result.stdout


def test_driver_bench_runs_and_prints_every_figure() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "driver_bench.py"),
            "--readings",
            "10",
            "--rate",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for label in (
        "serial latency, last byte on the pty to reading (ms): p50",
        "CPU per 1,000 readings, serial streaming (toledo)",
        "CPU per 1,000 readings, modbus polling (tcp, hr-int32)",
    ):
        assert label in result.stdout


def test_gate_bench_runs_and_prints_every_figure() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gate_bench.py"),
            "--weighings",
            "5",
            "--trucks",
            "3",
            "--warmup",
            "1",
            "--fsyncs",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for label in (
        "decision latency, stable reading to Barrier(up=True) (ms): p50",
        "target p99 <= 20 ms; p99 / target =",
        "core step (decide, verify ticket) (ms)",
        "signing, 2 records (ms)",
        "journal commit, 2 records (fsync each) (ms)",
        "raw fsync of 1 KiB on the same disk (ms)",
        "5 releases measured after 1 warm-up, 0 held",
    ):
        assert label in result.stdout


@pytest.mark.timeout(300)
def test_run_all_writes_the_report_with_every_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "performance.md"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        check=True,
    )
    text = out.read_text(encoding="utf-8")
    assert "- CPU: " in text
    assert "- Python 3." in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    names = {row.split("|")[1].strip() for row in rows[1:]}
    expected = {
        "wire_bench", "driver_bench", "gate_bench", "ingest_bench", "uplink_bench", "edge_bench",
    }  # fmt: skip
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        expected -= {"ingest_bench", "uplink_bench", "edge_bench"}  # run_all skips them, saying so
        assert "skipped: ingest_bench" in text
    assert names == expected, text
    assert "| gate_bench | decision latency, stable reading to Barrier(up=True)" in text
    assert "| ingest_bench |" not in text or "(target ≥ 0.70)" in text
