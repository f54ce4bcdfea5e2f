"""``coalgate sim io`` and ``coalgate sim lane`` as subprocesses (never imported), with their
control interface, for the IO driver's tests. Waits are bounded and event-driven: the ready
line, the driver's event queue, or the control interface's state polled against a deadline."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from edge.io.driver import IoDriver
from edge.io.events import BeamsChanged, IoEvent, IoFault, IoFaultKind

READY_S = 15.0
WAIT_S = 30.0
_E = TypeVar("_E", bound=IoEvent)


class ModbusSim:
    """A simulated IO module (``sim io``) or lane (``sim lane``); ``url`` is a ModbusLine URL
    (``tcp://…`` or ``rtu://…`` for a pty link), ``control`` the HTTP base."""

    def __init__(self, args: list[str], *, pty_link: Path | None = None) -> None:
        where = ["--pty", "--link", str(pty_link)] if pty_link else ["--tcp", "127.0.0.1:0"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coalgate", "sim", *args, *where, "--control", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            self.fields = self._ready()
        except BaseException:
            self.stop()
            raise
        self.control = self.fields["control"].rstrip("/")
        if pty_link is not None:
            self.url = f"rtu://{pty_link}"
        else:
            self.url = "tcp://" + self.fields["port"].removeprefix("socket://")

    @classmethod
    def io(cls, *extra: str, pty_link: Path | None = None) -> ModbusSim:
        """``coalgate sim io`` with ``extra`` options."""
        return cls(["io", *extra], pty_link=pty_link)

    @classmethod
    def lane(cls, scenario: Path, *extra: str, pty_link: Path | None = None) -> ModbusSim:
        """``coalgate sim lane --scenario FILE``."""
        return cls(["lane", "--scenario", str(scenario), *extra], pty_link=pty_link)

    def _ready(self) -> dict[str, str]:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=READY_S):
                raise AssertionError("the simulator printed no ready line in time")
        line = self.process.stdout.readline().decode()
        assert line.startswith("ready"), line
        return dict(part.split("=", 1) for part in line.split() if "=" in part)

    def request(self, method: str, path: str, body: object = None) -> Any:
        """One control request; the JSON answer (raises on a refusal)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.control}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status < 300, response.status
            return json.loads(response.read())

    def fault(self, device: str, kind: str, **fields: object) -> None:
        """``POST /faults`` for ``device`` (``io``, ``transmitter``, ``indicator``)."""
        self.request("POST", "/faults", {"device": device, "kind": kind, **fields})

    def state(self) -> dict[str, Any]:
        """``GET /state``."""
        result: dict[str, Any] = self.request("GET", "/state")
        return result

    def truck(self, **fields: object) -> None:
        """``POST /trucks``: a truck drives on now."""
        self.request("POST", "/trucks", fields)

    def release(self, plate: str) -> None:
        """``DELETE /trucks/{plate}``: it wants to leave (it still needs the barrier)."""
        self.request("DELETE", "/trucks/" + urllib.request.quote(plate))

    async def until(
        self, check: Callable[[dict[str, Any]], bool], *, within_s: float = WAIT_S
    ) -> dict[str, Any]:
        """Poll ``/state`` until ``check`` holds (a bounded wait on the simulator's state); the
        event loop (and the driver under test) runs between polls."""
        deadline = time.monotonic() + within_s
        while not check(state := self.state()):
            if time.monotonic() > deadline:
                raise AssertionError(f"the simulator never reached the state: {state}")
            await asyncio.sleep(0.05)
        return state

    def __enter__(self) -> ModbusSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


async def next_event(
    driver: IoDriver,
    kind: type[_E],
    check: Callable[[_E], bool] = lambda _: True,
    *,
    within_s: float = WAIT_S,
    seen: list[IoEvent] | None = None,
) -> _E:
    """The next event of type ``kind`` on the driver's queue for which ``check`` holds; the
    events skipped on the way are appended to ``seen``."""
    async with asyncio.timeout(within_s):
        while True:
            event = await driver.events.get()
            if seen is not None:
                seen.append(event)
            if isinstance(event, kind) and check(event):
                return event


async def next_fault(
    driver: IoDriver,
    *kinds: IoFaultKind,
    within_s: float = WAIT_S,
    seen: list[IoEvent] | None = None,
) -> IoFault:
    """The next IoFault of one of ``kinds``."""
    return await next_event(
        driver, IoFault, lambda f: f.kind in kinds, within_s=within_s, seen=seen
    )


async def next_beams(
    driver: IoDriver, check: Callable[[BeamsChanged], bool], *, within_s: float = WAIT_S
) -> BeamsChanged:
    """The next beam snapshot for which ``check`` holds."""
    return await next_event(driver, BeamsChanged, check, within_s=within_s)
