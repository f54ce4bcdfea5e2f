"""Runs the shell examples of a Markdown guide: every block marked ``<!-- doctest: … -->``.

Markers: ``start`` runs the block's one command in the background and waits for its ready
line; ``run expect="…" [status=N]`` runs the block with bash and checks the exit status and
that the output contains the text; ``stop`` ends the background command (SIGTERM), which must
exit cleanly and remove its link. Ports and paths are swapped for free and private ones.
"""

from __future__ import annotations

import re
import select
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
MARKED = re.compile(r"<!-- doctest: (?P<spec>[^\n]*?) -->\s*```sh\n(?P<code>.*?)```", re.DOTALL)
EXPECT = re.compile(r'expect="(?P<text>(?:[^"\\]|\\.)*)"')
STATUS = re.compile(r"status=(?P<code>\d+)")
STOP = re.compile(r"<!-- doctest: stop -->")


def blocks(doc: Path) -> Iterator[tuple[str, str]]:
    """(spec, code) in document order; a bare stop marker has empty code."""
    text = doc.read_text(encoding="utf-8")
    events: list[tuple[int, str, str]] = [
        (m.start(), m.group("spec"), m.group("code")) for m in MARKED.finditer(text)
    ]
    events += [(m.start(), "stop", "") for m in STOP.finditer(text)]
    for _, spec, code in sorted(events):
        yield spec, code


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Background:
    """The one long-running command of a doc section."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 20)
        line = self.process.stdout.readline().decode() if ready else ""
        if not line.startswith("ready "):
            self.stop()
            pytest.fail(f"{argv} did not get ready: {line!r}")
        self.fields = dict(part.split("=", 1) for part in line.split()[1:])

    def stop(self) -> int:
        self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if self.process.returncode != 0:
            print(err.decode())
        return self.process.returncode


def run_guide(doc: Path, tmp_path: Path, *, swaps: list[tuple[str, str]]) -> tuple[int, int]:
    """Run ``doc``'s marked blocks in order with ``swaps`` applied (ports, paths, commands);
    returns (background commands started, blocks run)."""

    def localise(code: str) -> str:
        for old, new in swaps:
            code = code.replace(old, new)
        return code

    background: Background | None = None
    ran = started = 0
    try:
        for spec, code in blocks(doc):
            if spec == "start":
                assert background is None, "a doc section starts two things at once"
                background = Background(shlex.split(localise(code)))
                started += 1
            elif spec == "stop":
                assert background is not None
                assert background.stop() == 0, "Ctrl-C/SIGTERM ends the simulator cleanly"
                link = background.fields.get("port", "")
                if link.startswith(str(tmp_path)):
                    assert not Path(link).exists(), "the link is removed on exit"
                background = None
            else:
                run_block(spec, localise(code))
                ran += 1
            time.sleep(0.05)
    finally:
        if background is not None:
            background.stop()
    return started, ran


def run_block(spec: str, code: str) -> None:
    """One ``run expect="…" [status=N]`` block: exit status, expected text, one line on error."""
    expect = EXPECT.search(spec)
    status = STATUS.search(spec)
    assert expect is not None, spec
    wanted = expect.group("text").replace('\\"', '"')
    result = subprocess.run(
        ["bash", "-c", "set -e\n" + code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == (int(status.group("code")) if status else 0), output
    assert wanted in output, f"{code!r} printed {output!r}"
    if status is not None:
        assert len(output.strip().splitlines()) == 1, "one clear line"
