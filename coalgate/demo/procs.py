"""Every child process of the demo, in one place: started with their output on a log file
(or a pipe for a ready line), and stopped together, newest first, with SIGTERM and then SIGKILL
after a bounded wait."""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from coalgate.demo.errors import DemoError

_T = TypeVar("_T")


@dataclass(slots=True, kw_only=True)
class Child:
    """One started process: its name (for messages), the process and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None

    def check(self) -> None:
        """``DemoError`` naming the log when the process has exited."""
        if not self.alive():
            raise DemoError(
                f"{self.name} exited with status {self.process.returncode}; see {self.log_path}"
            )


def coalgate_argv(*args: str) -> list[str]:
    """``python -m coalgate ARGS`` with this interpreter."""
    return [sys.executable, "-m", "coalgate", *args]


class Children:
    """The demo's child processes. ``stop_all`` is safe to call more than once."""

    def __init__(self, *, logger: logging.Logger | None = None) -> None:
        self.children: list[Child] = []
        self._logger = logger or logging.getLogger(__name__)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        ready_prefix: str | None = None,
        ready_within_s: float = 30.0,
    ) -> tuple[Child, dict[str, str]]:
        """Start ``argv`` with stderr on ``log_path``. With ``ready_prefix`` stdout is a pipe
        and the first line starting with it is awaited and parsed (``key=value`` words, as the
        simulators print); otherwise stdout goes to the log too."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
        try:
            process = subprocess.Popen(  # noqa: S603 - our CLI and the broker
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if ready_prefix is not None else log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                start_new_session=True,  # Ctrl-C reaches the demo only; it stops the children
            )
        except OSError as exc:
            log.close()
            raise DemoError(f"cannot start {name}: {exc.strerror or exc}") from exc
        child = Child(name=name, process=process, log_path=log_path, log=log)
        self.children.append(child)
        fields: dict[str, str] = {}
        if ready_prefix is not None:
            fields = _ready_line(child, ready_prefix, within_s=ready_within_s)
        self._logger.debug("started %s (pid %d)", name, process.pid)
        return child, fields

    def check(self) -> None:
        """``DemoError`` for the first child that has exited."""
        for child in self.children:
            child.check()

    def stop(self, child: Child, *, within_s: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``within_s``; the exit status."""
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(timeout=within_s)
            except subprocess.TimeoutExpired:
                self._logger.warning("%s did not stop in %.0f s; killed", child.name, within_s)
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                child.process.wait()
        if child.process.stdout is not None:
            child.process.stdout.close()
        child.log.close()
        return child.process.returncode

    def stop_all(self) -> None:
        """Stop every child, newest first (edges before simulators before central and broker)."""
        while self.children:
            self.stop(self.children.pop())


def _ready_line(child: Child, prefix: str, *, within_s: float) -> dict[str, str]:
    stdout = child.process.stdout
    assert stdout is not None
    deadline = time.monotonic() + within_s
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(timeout=left):
                raise DemoError(f"{child.name} printed no ready line in {within_s:.0f} s")
            line = stdout.readline().decode("utf-8", errors="replace")
            if not line:
                child.process.wait(timeout=5)
                child.check()
            if line.startswith(prefix):
                return dict(word.split("=", 1) for word in line.split() if "=" in word)


def until(
    check: Callable[[], _T | None],
    *,
    within_s: float,
    what: str,
    children: Children | None = None,
    interval_s: float = 0.1,
) -> _T:
    """Poll ``check`` until it returns something truthy (bounded), failing early when a child
    has exited; return that."""
    deadline = time.monotonic() + within_s
    while True:
        if children is not None:
            children.check()
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DemoError(f"{what}: not within {within_s:.0f} s")
        time.sleep(interval_s)
