"""docs/operator-console.md stays true: its marked account commands run (tests/docguide.py)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from tests.docguide import DOCS, run_guide


def test_the_console_guide_account_commands_work(tmp_path: Path) -> None:
    python = shlex.quote(sys.executable)
    swaps = [
        ("coalgate edge", f"{python} -m coalgate edge"),
        ("/tmp/coalgate-", f"{tmp_path}/coalgate-"),
    ]
    started, ran = run_guide(DOCS / "operator-console.md", tmp_path, swaps=swaps)
    assert (started, ran) == (0, 5)
    assert (tmp_path / "coalgate-edge" / "operators.json").stat().st_mode & 0o777 == 0o600
