"""Helpers: run a simulated lane (and its control server) in a thread of its own.

The tests talk to it with blocking clients (pymodbus's sync clients, urllib) from the main
thread; every helper stops and joins what it started.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from firmware_sim.control import ControlServer
from firmware_sim.lane import LaneSimulator
from firmware_sim.lane_config import LaneConfig
from firmware_sim.lane_control import LaneController
from firmware_sim.ports import PtyPort, TcpPort
from tests.firmware_sim.sim_thread import Running


@contextmanager
def run_lane(
    config: LaneConfig,
    lines: Sequence[tuple[PtyPort | TcpPort, Sequence[str]]] = (),
    *,
    baud: int = 115200,
) -> Iterator[tuple[LaneSimulator, Running]]:
    """Serve a lane from a background thread for the duration of the block."""
    lane = LaneSimulator(config=config, lines=lines, baud=baud)
    with run_lane_simulator(lane) as running:
        yield lane, running


@contextmanager
def run_lane_simulator(lane: LaneSimulator) -> Iterator[Running]:
    """Serve an already built lane from a background thread for the duration of the block."""
    server = ControlServer(controller=LaneController(lane), host="127.0.0.1", port=0)
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
                running = tasks.create_task(lane.run(), name="lane")
                await lane.ready.wait()
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

    thread = threading.Thread(target=target, name="lane-sim", daemon=True)
    thread.start()
    try:
        assert started.wait(10), "lane did not start"
        if failure:
            raise failure[0]
        address = lane.lines[0].port.address if lane.lines else ""
        yield Running(simulator=None, address=address, control=server.url)  # type: ignore[arg-type]
    finally:
        if loop_box and stop_box and not failure:
            loop_box[0].call_soon_threadsafe(stop_box[0].set)
        thread.join(10)
        assert not thread.is_alive(), "lane thread did not stop"
    if failure:
        raise failure[0]
