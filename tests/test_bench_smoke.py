"""The benchmarks still run (figures are read by people, never asserted on)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
