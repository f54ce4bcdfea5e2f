"""docs/hardware-testing.md stays true: every block marked ``<!-- doctest: … -->`` is run
(the markers are explained in tests/docguide.py)."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import pytest

from tests.docguide import DOCS, free_port, run_guide


@pytest.mark.slow
def test_documented_commands_work(tmp_path: Path) -> None:
    if shutil.which("curl") is None or shutil.which("socat") is None:
        pytest.fail("the guide uses curl and socat; install them (apt-get install curl socat)")
    control, tcp = free_port(), free_port()
    swaps = [
        ("coalgate sim", f"{shlex.quote(sys.executable)} -m coalgate sim"),
        ("python -c", f"{shlex.quote(sys.executable)} -c"),
        ("8750", str(control)),
        ("4001", str(tcp)),
        ("/tmp/coalgate-", f"{tmp_path}/coalgate-"),
    ]
    started, ran = run_guide(DOCS / "hardware-testing.md", tmp_path, swaps=swaps)
    assert started >= 4
    assert ran >= 12
