"""docs/edge-drivers.md stays true: every block marked ``<!-- doctest: … -->`` is run against
the simulators (the markers are explained in tests/docguide.py)."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import pytest

from tests.docguide import DOCS, free_port, run_guide


@pytest.mark.slow
def test_edge_driver_guide_commands_work(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("the guide uses curl; install it (apt-get install curl)")
    python = shlex.quote(sys.executable)
    swaps = [
        ("coalgate sim", f"{python} -m coalgate sim"),
        ("coalgate edge", f"{python} -m coalgate edge"),
        ("coalgate key", f"{python} -m coalgate key"),
        ("coalgate central", f"{python} -m coalgate central"),
        ("python -c", f"{python} -c"),
        ("8750", str(free_port())),
        ("4001", str(free_port())),
        ("/tmp/coalgate-", f"{tmp_path}/coalgate-"),
    ]
    started, ran = run_guide(DOCS / "edge-drivers.md", tmp_path, swaps=swaps)
    assert started >= 3
    assert ran >= 12
