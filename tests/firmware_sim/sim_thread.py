"""Helpers: run a simulated indicator (and its control server) in a thread of its own.

pyserial is blocking, so the tests read it from the main thread while the simulator's event
loop runs in a private thread; every helper stops and joins what it started.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from firmware_sim.control import Controller, ControlServer
from firmware_sim.indicator import IndicatorConfig, IndicatorState
from firmware_sim.ports import PtyPort, TcpPort
from firmware_sim.simulator import IndicatorSimulator


@dataclass
class Running:
    """A simulator running in a thread: where to reach it, and how to drive it."""

    simulator: IndicatorSimulator | None  # None for a lane (tests hold the LaneSimulator)
    address: str
    control: str

    def call(self, request: str, body: Any = None, *, raw: bytes | None = None) -> tuple[int, Any]:
        """One control request, e.g. ``call("POST /faults", {...})``: (status, JSON)."""
        method, path = request.split(" ", 1)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        http = urllib.request.Request(self.control + path, data=data, method=method)
        try:
            with urllib.request.urlopen(http, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())


@contextmanager
def serve_in_thread(
    run: Callable[[], Coroutine[Any, Any, None]],
    ready: asyncio.Event,
    server: ControlServer,
    *,
    name: str,
) -> Iterator[str]:
    """Run ``run()`` and the control ``server`` on an event loop in a thread of their own until
    the block ends; yield the control URL once ``ready`` is set. Stops and joins everything."""
    started = threading.Event()
    failure: list[BaseException] = []
    loop_box: list[asyncio.AbstractEventLoop] = []
    stop_box: list[asyncio.Event] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop_box.append(asyncio.get_running_loop())
        stop_box.append(stop)
        await server.open()
        try:
            async with asyncio.TaskGroup() as tasks:
                running = tasks.create_task(run(), name=name)
                await ready.wait()
                started.set()
                await stop.wait()
                running.cancel()
        finally:
            await server.close()

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - whatever it is, the test re-raises it
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=target, name=f"{name}-sim", daemon=True)
    thread.start()
    try:
        assert started.wait(10), f"{name} simulator did not start"
        if failure:
            raise failure[0]
        yield server.url
    finally:
        if loop_box and stop_box and not failure:
            loop_box[0].call_soon_threadsafe(stop_box[0].set)
        thread.join(10)
        assert not thread.is_alive(), f"{name} simulator thread did not stop"
    if failure:
        raise failure[0]


@contextmanager
def run_indicator(
    config: IndicatorConfig,
    state: IndicatorState,
    port: PtyPort | TcpPort,
    *,
    baud: int = 115200,
    stable_timeout_ms: int = 1000,
) -> Iterator[Running]:
    """Serve an indicator from a background thread for the duration of the block."""
    simulator = IndicatorSimulator(
        config=config, state=state, port=port, baud=baud, stable_timeout_ms=stable_timeout_ms
    )
    server = ControlServer(controller=Controller(simulator), host="127.0.0.1", port=0)
    with serve_in_thread(simulator.run, simulator.ready, server, name="indicator") as control:
        yield Running(simulator=simulator, address=port.address, control=control)
