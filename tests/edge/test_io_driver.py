"""The Modbus IO driver against ``coalgate sim io`` / ``coalgate sim lane`` (subprocesses) over
Modbus TCP and RTU on a real pty: beams, barrier (pulse and level), lights, a barrier that does
not confirm, Modbus exceptions, silence and a pulled cable — the polling goes on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.errors import ConfigError, IoCommandError, ModbusError
from edge.io.driver import BarrierMode, IoDriver
from edge.io.events import BeamsChanged, CoilsChanged, IoEvent, IoFault, IoFaultKind
from edge.io.iomap import IoMap
from edge.modbus.line import ModbusLine
from tests.edge.io_sim import ModbusSim, next_beams, next_event, next_fault

STANDING = "plate=陕K12345,axles=2,kind=rigid,tare=6000,settled=yes"


@contextlib.asynccontextmanager
async def driving(sim: ModbusSim, **options: Any) -> AsyncIterator[IoDriver]:
    """An IoDriver polling ``sim`` while the block runs."""
    async with ModbusLine(url=sim.url, timeout_s=0.3) as line, asyncio.TaskGroup() as group:
        driver = IoDriver(line=line, **options)
        task = group.create_task(driver.run(), name="io-driver")
        try:
            yield driver
        finally:
            task.cancel()


@pytest.fixture
def io_tcp() -> Iterator[ModbusSim]:
    """An IO module on Modbus TCP with a truck standing on the deck."""
    with ModbusSim.io("--truck", STANDING, "--stand", "600") as sim:
        yield sim


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_first_snapshot_then_only_changes(io_tcp: ModbusSim) -> None:
    async with driving(io_tcp) as driver:
        first = await next_event(driver, BeamsChanged)
        coils = await next_event(driver, CoilsChanged)
        assert (first.entry, first.front, first.rear, first.exit, first.barrier_up) == (False,) * 5
        assert (coils.barrier, coils.red, coils.green, coils.horn) == (False,) * 4
        await driver.set_lights(red=True)
        changed = await next_event(driver, CoilsChanged)
        assert changed.red
        assert driver.events.empty()  # nothing changed on the inputs: nothing reported


async def test_pulse_raises_the_barrier_confirmed_by_the_limit_switch(io_tcp: ModbusSim) -> None:
    async with driving(io_tcp) as driver:
        beams = await driver.raise_barrier()
        assert beams.barrier_up
        assert driver.coils is not None
        assert not driver.coils.barrier  # the pulse ended: the relay is open again
        state = io_tcp.state()
        assert state["io"]["barrier"]["up"]
        assert not state["io"]["coils"][0]
        up = await next_beams(driver, lambda b: b.barrier_up)
        assert up.barrier_up
        with pytest.raises(ConfigError, match="pulse mode"):
            await driver.lower_barrier()


async def test_a_cancelled_pulse_still_opens_the_relay(io_tcp: ModbusSim) -> None:
    async with driving(io_tcp, pulse_ms=20_000) as driver:
        raising = asyncio.create_task(driver.raise_barrier(), name="raise")
        await io_tcp.until(lambda s: s["io"]["coils"][0])
        raising.cancel()
        with pytest.raises(asyncio.CancelledError):
            await raising
        assert io_tcp.state()["io"]["coils"][0] is False
        assert driver.coils is not None
        assert not driver.coils.barrier


async def test_level_mode_raises_and_lowers() -> None:
    with ModbusSim.io("--barrier", "level") as sim:
        async with driving(sim, barrier_mode=BarrierMode.LEVEL) as driver:
            up = await driver.raise_barrier()
            assert up.barrier_up
            assert driver.coils is not None
            assert driver.coils.barrier  # level: the coil stays on while the barrier is up
            assert sim.state()["io"]["barrier"]["up"]
            down = await driver.lower_barrier()
            assert not down.barrier_up
            assert driver.coils is not None
            assert not driver.coils.barrier
            await sim.until(lambda s: s["io"]["barrier"]["position"] == 0.0)


async def test_lights_and_horn_read_back(io_tcp: ModbusSim) -> None:
    async with driving(io_tcp) as driver:
        coils = await driver.set_lights(red=True, green=False)
        assert (coils.red, coils.green) == (True, False)
        coils = await driver.set_lights(red=False, green=True)
        assert (coils.red, coils.green) == (False, True)
        coils = await driver.horn(True)
        assert coils.horn
        assert io_tcp.state()["io"]["coils"][:4] == [False, False, True, True]
        coils = await driver.pulse("horn")
        assert not coils.horn
        assert io_tcp.state()["io"]["coils"][3] is False


async def test_a_broken_barrier_is_not_confirmed_and_reported() -> None:
    with ModbusSim.io() as sim:
        sim.truck(
            plate="陕K99999",
            axles=2,
            kind="rigid",
            tare_kg=6000,
            settled=True,
            stand_s=0,
            force_barrier=True,
        )
        await sim.until(lambda s: s["io"]["barrier"]["broken"])
        await _not_confirmed(sim)


async def _not_confirmed(sim: ModbusSim) -> None:
    async with driving(sim, confirm_timeout_s=1.0) as driver:
        with pytest.raises(IoCommandError) as caught:
            await driver.raise_barrier()
        assert caught.value.reason == "not_confirmed"
        assert caught.value.command == "raise_barrier"
        fault = await next_fault(driver, IoFaultKind.MISMATCH)
        assert "limit switch" in fault.detail
        assert driver.coils is not None
        assert not driver.coils.barrier  # the pulse still ended


async def test_a_wrong_map_is_a_mismatch_nothing_else() -> None:
    # The simulated module wires the barrier-up switch to input 6; a driver that believes
    # the default map (input 4) never sees the barrier confirmed.
    with ModbusSim.io("--io-map", "barrier_up=6") as sim:
        async with driving(sim, confirm_timeout_s=1.0) as driver:
            with pytest.raises(IoCommandError, match="did not close"):
                await driver.raise_barrier()
        async with driving(sim, io_map=IoMap(barrier_up=6)) as driver:
            assert (await driver.raise_barrier()).barrier_up


async def test_a_stuck_relay_is_a_mismatch_on_readback(io_tcp: ModbusSim) -> None:
    # Welded contacts: the module answers the write, but the coil stays as it was.
    async with driving(io_tcp) as driver:
        await driver.set_lights(red=True)
        io_tcp.fault("io", "relay-stuck", channel=1)
        with pytest.raises(IoCommandError, match="red off but read back on") as caught:
            await driver.set_lights(red=False, green=True)
        assert caught.value.reason == "mismatch"
        fault = await next_fault(driver, IoFaultKind.MISMATCH)
        assert "red" in fault.detail
        assert io_tcp.state()["io"]["coils"][1:3] == [True, True]  # green did change
        io_tcp.request("DELETE", "/faults", None)
        coils = await driver.set_lights(red=False)
        assert not coils.red


async def test_exceptions_are_reported_and_polling_resumes(io_tcp: ModbusSim) -> None:
    async with driving(io_tcp) as driver:
        await next_event(driver, BeamsChanged)
        io_tcp.fault("io", "exception", code=4, count=3)
        fault = await next_fault(driver, IoFaultKind.EXCEPTION)
        assert "exception 4" in fault.detail
        await next_fault(driver, IoFaultKind.RESUMED)
        io_tcp.truck(plate="陕K22222", axles=2, kind="rigid", tare_kg=6000, stand_s=600)
        await next_beams(driver, lambda b: b.entry)  # the poller sees the next truck come


async def test_silence_is_reported_and_polling_resumes(io_tcp: ModbusSim) -> None:
    async with driving(io_tcp) as driver:
        await next_event(driver, BeamsChanged)
        io_tcp.fault("io", "timeout", duration_ms=1500)
        await next_fault(driver, IoFaultKind.NO_RESPONSE)
        with pytest.raises(IoCommandError) as caught:  # a command meanwhile fails plainly
            await driver.set_lights(red=True)
        assert caught.value.reason == "failed"
        assert isinstance(caught.value.__cause__, ModbusError)
        await next_fault(driver, IoFaultKind.RESUMED)
        assert (await driver.set_lights(red=True)).red


async def test_a_pulled_cable_over_tcp_is_reported_and_polling_resumes(io_tcp: ModbusSim) -> None:
    async with driving(io_tcp, backoff_max_s=0.5) as driver:
        await next_event(driver, BeamsChanged)
        io_tcp.fault("io", "disconnect", duration_ms=1500)
        seen: list[IoEvent] = []
        await next_fault(driver, IoFaultKind.DISCONNECTED, seen=seen)
        await next_fault(driver, IoFaultKind.RECONNECTED, seen=seen)
        assert driver.line.connects >= 2
        assert (await driver.raise_barrier()).barrier_up


async def test_rtu_on_a_pty_with_a_pulled_cable(tmp_path: Path) -> None:
    link = tmp_path / "io"
    with ModbusSim.io("--truck", STANDING, "--stand", "600", pty_link=link) as sim:
        async with driving(sim, backoff_max_s=0.5) as driver:
            assert (await driver.raise_barrier()).barrier_up
            assert (await driver.set_lights(green=True)).green
            sim.fault("io", "disconnect", duration_ms=1500)
            await next_fault(driver, IoFaultKind.DISCONNECTED, IoFaultKind.NO_RESPONSE)
            back = await next_fault(driver, IoFaultKind.RECONNECTED, IoFaultKind.RESUMED)
            assert back.at_ms > 0
            assert (await driver.set_lights(green=False)).green is False


async def test_beams_follow_a_truck_through_the_lane(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, "[lane]\nspeed = 4\nnoise_kg = 0\n[io]\n[transmitter]\n")
    with ModbusSim.lane(scenario, "--tcp", "127.0.0.1:0") as sim:
        async with driving(sim) as driver:
            await next_beams(driver, lambda b: not (b.entry or b.rear or b.front or b.exit))
            sim.truck(plate="陕K12345", axles=2, kind="rigid", tare_kg=6000, stand_s=600)
            await next_beams(driver, lambda b: b.entry)
            await next_beams(driver, lambda b: b.rear)
            await next_beams(driver, lambda b: not (b.entry or b.rear or b.front or b.exit))
            sim.release("陕K12345")
            await sim.until(lambda s: s["waiting_to_leave"] == ["陕K12345"])
            assert (await driver.raise_barrier()).barrier_up
            await next_beams(driver, lambda b: b.front)
            await next_beams(driver, lambda b: b.exit)
            cleared = await next_beams(driver, lambda b: not b.exit and not b.front)
            # The barrier falls behind the truck: the limit switch opens as the arm starts to
            # move, often in the same poll as the exit beam clears (one snapshot, no later one).
            if cleared.barrier_up:
                await next_beams(driver, lambda b: not b.barrier_up)


async def test_shared_rtu_line_with_the_transmitter(tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path,
        "[lane]\nspeed = 4\nnoise_kg = 0\n[io]\n[transmitter]\n"
        '[[truck]]\nplate = "陕K12345"\naxles = 6\ntare_kg = 15000\nload_kg = 34000\n'
        "settled = true\nstand_s = 600\n",
    )
    with ModbusSim.lane(scenario, pty_link=tmp_path / "bus") as sim:
        async with driving(sim) as driver:
            line = driver.line
            words = await line.read_holding(2, 2, device_id=2)
            assert (words[0] << 16) | words[1] == 49_000
            beams = await next_event(driver, BeamsChanged)
            assert (beams.entry, beams.rear, beams.front, beams.exit) == (False,) * 4
            # the transmitter falls silent: the IO module on the same pair still works
            sim.fault("transmitter", "timeout", duration_ms=3000)
            with pytest.raises(ModbusError):
                await line.read_holding(2, 2, device_id=2)
            assert (await driver.raise_barrier()).barrier_up
            assert (await driver.set_lights(red=True)).red
            faults = [e for e in _drain(driver) if isinstance(e, IoFault)]
            assert faults == []  # the transmitter's silence is not the IO module's fault
            await sim.until(lambda s: not s["faults"]["transmitter"]["silent"])
            words = await line.read_holding(2, 2, device_id=2)
            assert (words[0] << 16) | words[1] == 49_000


def _drain(driver: IoDriver) -> list[IoEvent]:
    events: list[IoEvent] = []
    while not driver.events.empty():
        events.append(driver.events.get_nowait())
    return events


def test_bad_options_are_config_errors() -> None:
    line = ModbusLine(url="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError) as caught:
        IoDriver(line=line, barrier_mode="sometimes")
    assert caught.value.option == "barrier_mode"
    with pytest.raises(ConfigError) as caught:
        IoDriver(line=line, confirm_timeout_s=float("nan"))
    assert caught.value.option == "confirm_timeout_s"
    with pytest.raises(ConfigError) as caught:
        IoDriver(line=line, device_id=300)
    assert caught.value.option == "device_id"
    asyncio.run(line.close())
