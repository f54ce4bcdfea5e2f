"""DESIGN.md's import rules, enforced: the suite fails when a package imports what it may not.

- ``wire`` imports none of the others;
- ``edge`` and ``central`` import ``wire`` but never each other;
- ``firmware_sim`` imports none of ``wire``, ``edge``, ``central`` (nor ``coalgate``): it stands
  in for third-party hardware, so a shared codec would hide a shared bug;
- only ``coalgate`` imports everything.
Relative imports are banned too (STYLE.md), so every import names its package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("wire", "edge", "central", "firmware_sim", "coalgate")
ALLOWED: dict[str, set[str]] = {
    "wire": set(),
    "edge": {"wire"},
    "central": {"wire"},
    "firmware_sim": set(),
    "coalgate": {"wire", "edge", "central", "firmware_sim"},
}


def imported_packages(source: str, filename: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in ``source`` naming one of ours."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "<relative import>"))
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".", 1)[0]
            if top in PACKAGES:
                found.append((node.lineno, top))
    return found


def violations(package: str, source: str, filename: str) -> list[str]:
    allowed = ALLOWED[package] | {package}
    return [
        f"{filename}:{line}: {package} may not import {target}"
        for line, target in imported_packages(source, filename)
        if target not in allowed
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_follow_design(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    problems = [
        problem
        for path in files
        for problem in violations(package, path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("package", "source", "bad"),
    [
        ("wire", "import edge.gate\n", True),
        ("wire", "from central import store\n", True),
        ("edge", "from central.api import app\n", True),
        ("central", "import edge\n", True),
        ("firmware_sim", "from wire.records import Record\n", True),
        ("firmware_sim", "import coalgate.cli\n", True),
        ("edge", "from . import gate\n", True),
        ("edge", "from wire.records import Record\nimport serial\n", False),
        ("coalgate", "import edge, central, wire, firmware_sim\n", False),
        ("wire", "def f():\n    import central.store\n", True),
    ],
)
def test_checker_catches_violations(package: str, source: str, bad: bool) -> None:
    assert bool(violations(package, source, "<test>")) is bad


def test_the_gate_agent_loads_nothing_of_central_or_the_simulator() -> None:
    """``coalgate edge run`` runs in a gate house's box with its memory budget (issue 10: 100
    MB): the CLI imports each command only when it is used, so the agent never loads
    central's API, store and dashboard, nor the simulator."""
    code = (
        "import sys\n"
        "from coalgate.cli import cli\n"
        "edge = cli.get_command(None, 'edge')\n"
        "run = edge.get_command(None, 'run')\n"
        "import edge.runtime.agent\n"
        "print(' '.join(sorted(m for m in sys.modules\n"
        "                      if m.split('.')[0] in ('central', 'firmware_sim', 'rich'))))\n"
        "print(run.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded, name = done.stdout.splitlines()
    assert name == "run"
    assert loaded == ""
