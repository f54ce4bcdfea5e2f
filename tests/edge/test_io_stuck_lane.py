"""Stuck detection end to end: ``coalgate sim lane`` (subprocess) with a Toledo indicator and the
IO module; the serial scale driver and the IO driver feed one ``ScaleWatch``. A truck that rolls
on with a live indicator is no fault; with the indicator's display frozen (the simulator's
``frozen`` fault), the truck rolling off is ``stuck``, and ``unstuck`` follows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.io.driver import IoDriver
from edge.io.events import BeamsChanged
from edge.modbus.line import ModbusLine
from edge.scale.events import FaultKind, ScaleFault, ScaleReading
from edge.scale.readings import ScaleProtocol
from edge.scale.serial_driver import SerialScaleDriver
from edge.scale.watch import ScaleWatch
from tests.edge.io_sim import ModbusSim

SCENARIO = """\
[lane]
speed = 2
noise_kg = 0
[io]
[indicator]
protocol = "toledo"
rate_hz = 20
"""
PLATE = "陕K12345"
TARE_KG = 6000
WAIT_S = 30.0


class Merged:
    """Both drivers' events, in arrival order, through one ScaleWatch."""

    def __init__(self, watch: ScaleWatch) -> None:
        self.watch = watch
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.faults: list[ScaleFault] = []
        self.kg: int | None = None
        self.beams: BeamsChanged | None = None
        self.last_change_ms = 0

    async def pump(self, source: asyncio.Queue[Any]) -> None:
        while True:
            self.queue.put_nowait(await source.get())

    async def until(self, done: Callable[[object], bool]) -> object:
        """Observe events until ``done(event)`` holds; return that event."""
        async with asyncio.timeout(WAIT_S):
            while True:
                event = await self.queue.get()
                if isinstance(event, ScaleReading):
                    self.kg = event.weight.kg
                elif isinstance(event, BeamsChanged):
                    if self.beams is not None and not event.same_as(self.beams):
                        self.last_change_ms = event.at_ms
                    self.beams = event
                fault = self.watch.observe(event)
                if fault is not None:
                    self.faults.append(fault)
                    event = fault
                if done(event):
                    return event


def _clear(beams: object) -> bool:
    return isinstance(beams, BeamsChanged) and not (
        beams.entry or beams.rear or beams.front or beams.exit
    )


async def test_a_frozen_indicator_is_stuck_while_the_truck_rolls_off(tmp_path: Path) -> None:
    scenario = tmp_path / "lane.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    window_ms = 2500
    with ModbusSim.lane(scenario, "--tcp", "127.0.0.1:0", "--indicator-tcp", "127.0.0.1:0") as sim:
        merged = Merged(ScaleWatch(stuck_after_ms=4000, motion_window_ms=window_ms))
        scale = SerialScaleDriver(
            protocol=ScaleProtocol.TOLEDO, url=sim.fields["indicator"], division_kg=10
        )
        async with ModbusLine(url=sim.url) as line, asyncio.TaskGroup() as group:
            io = IoDriver(line=line)
            tasks = [
                group.create_task(scale.run(), name="scale"),
                group.create_task(io.run(), name="io"),
                group.create_task(merged.pump(scale.events), name="pump scale"),
                group.create_task(merged.pump(io.events), name="pump io"),
            ]
            try:
                await merged.until(_clear)
                await merged.until(lambda e: isinstance(e, ScaleReading) and e.weight.kg == 0)

                # a truck rolls on with a live indicator: the weight follows the axles
                sim.truck(plate=PLATE, axles=2, kind="rigid", tare_kg=TARE_KG, stand_s=600)
                await merged.until(lambda e: isinstance(e, BeamsChanged) and e.entry)
                await merged.until(_clear)
                await merged.until(
                    lambda e: (
                        isinstance(e, ScaleReading)
                        and e.weight.kg == TARE_KG
                        and e.at_ms > merged.last_change_ms + window_ms
                    )
                )
                assert merged.faults == []

                # the display freezes; the truck leaves under a raised barrier
                sim.fault("indicator", "frozen")
                sim.release(PLATE)
                await sim.until(lambda s: s["waiting_to_leave"] == [PLATE])
                assert (await io.raise_barrier()).barrier_up
                stuck = await merged.until(
                    lambda e: isinstance(e, ScaleFault) and e.kind is FaultKind.STUCK
                )
                assert isinstance(stuck, ScaleFault)
                assert f"{TARE_KG} kg" in stuck.detail
                assert merged.kg == TARE_KG  # frozen: the truck is (partly) off, still 6000

                sim.request("DELETE", "/faults")
                cleared = await merged.until(
                    lambda e: isinstance(e, ScaleFault) and e.kind is FaultKind.UNSTUCK
                )
                assert isinstance(cleared, ScaleFault)
                assert [f.kind for f in merged.faults] == [FaultKind.STUCK, FaultKind.UNSTUCK]
            finally:
                for task in tasks:
                    task.cancel()
