"""The lane executor against a real journal (SQLite, signed records) and a simulated IO module:
records durable and referenced in list order, a failed write stops the list before the barrier,
a barrier without a durable release is never handed on, a failed command drops the barrier
behind it; and the lane memory rebuilt from the journal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.gate.outputs import Barrier, Say, SetLights, WriteRecord
from edge.io.driver import IoDriver
from edge.journal.store import Journal
from edge.modbus.line import ModbusLine
from edge.runtime.display import ConsoleDisplay
from edge.runtime.executor import COMMAND_BATCHES, CommandRunner, OutputExecutor, Written
from edge.runtime.recovery import rebuild
from tests.edge.io_sim import ModbusSim
from tests.wire import factories
from wire.bodies import WeighingBody
from wire.keys import SigningKey
from wire.records import decode_record

DEVICE = "yl-mine-a-gate-1"
SITE = "yl-mine-a"
KEY = SigningKey.from_seed(b"\x07" * 32, kid=DEVICE)
T0 = 1_796_083_200_000
CTI = bytes.fromhex("00112233445566778899aabbccddeeff")


def release_list(**changes: object) -> list[object]:
    """What the core emits for a release: evidence, weighing (ref), lights, barrier, text."""
    return [
        WriteRecord(type="evidence", body=factories.evidence()),
        WriteRecord(type="weighing", body=factories.weighing(**changes), ref_previous=True),
        SetLights(red=False, green=True),
        Barrier(up=True),
        Say(text_zh="称重完成，请通行", text_en="Weighing done, drive on"),  # noqa: RUF001
    ]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.db", key=KEY, site=SITE, device=DEVICE) as opened:
        yield opened


@pytest.fixture
def io_sim() -> Iterator[ModbusSim]:
    with ModbusSim.io() as sim:
        yield sim


async def test_a_release_is_written_in_order_before_its_commands(
    journal: Journal, tmp_path: Path
) -> None:
    async with ModbusLine(url="tcp://127.0.0.1:9", timeout_s=0.2) as line:
        commands = runner(line)
        seen: list[Written] = []
        executor = OutputExecutor(
            lane="lane-1", journal=journal, commands=commands, on_written=seen.append
        )
        result = await executor.execute(release_list(), now_ms=T0)  # type: ignore[arg-type]
    assert result.failed is None
    evidence, weighing = (decode_record(w.entry.data) for w in result.written)
    assert (evidence.seq, weighing.seq) == (1, 2)
    assert isinstance(weighing.body, WeighingBody)
    assert weighing.body.evidence == evidence.id  # ref_previous resolved
    assert [w.entry.seq for w in seen] == [1, 2]
    (batch,) = commands.submitted
    assert [type(c).__name__ for c in batch] == ["SetLights", "Barrier", "Say"]
    assert result.commands == batch


async def test_a_failed_write_stops_the_list_and_the_barrier_is_never_handed_on(
    tmp_path: Path,
) -> None:
    # A real journal fault: the disk budget is spent, so the evidence cannot be written.
    path = tmp_path / "j.db"
    with Journal.open(path, key=KEY, site=SITE, device=DEVICE) as empty:
        used = empty.usage().used_bytes
    with Journal.open(path, key=KEY, site=SITE, device=DEVICE, budget_bytes=used + 10) as journal:
        async with ModbusLine(url="tcp://127.0.0.1:9", timeout_s=0.2) as line:
            commands = runner(line)
            executor = OutputExecutor(lane="lane-1", journal=journal, commands=commands)
            result = await executor.execute(release_list(), now_ms=T0)  # type: ignore[arg-type]
        assert result.failed is not None
        assert "full" in result.failed
        assert result.written == ()
        assert list(commands.submitted) == []  # no lights, no barrier, nothing
        assert journal.highest_seq == 0


async def test_a_barrier_without_a_durable_release_is_refused(journal: Journal) -> None:
    async with ModbusLine(url="tcp://127.0.0.1:9", timeout_s=0.2) as line:
        commands = runner(line)
        executor = OutputExecutor(lane="lane-1", journal=journal, commands=commands)
        held = release_list(decision="hold", reasons=("overload_gross",))
        result = await executor.execute(held, now_ms=T0)  # type: ignore[arg-type]
        bare = await executor.execute([Barrier(up=True)], now_ms=T0)
    assert result.failed is None
    assert bare.failed is None
    assert executor.refused_barriers == 2
    assert [type(c).__name__ for b in commands.submitted for c in b] == ["SetLights", "Say"]


async def test_a_failed_light_command_drops_the_barrier_behind_it(io_sim: ModbusSim) -> None:
    faults: list[str] = []
    async with ModbusLine(url=io_sim.url, timeout_s=0.3) as line:
        io = IoDriver(line=line, confirm_timeout_s=1.0)
        commands = CommandRunner(
            lane="lane-1", io=io, scale=_NoScale(), display=ConsoleDisplay(),
            on_io_fault=faults.append, clock=lambda: T0,
        )  # fmt: skip
        io_sim.fault("io", "relay-stuck", channel=2)  # the green relay is welded open
        async with asyncio.TaskGroup() as group:
            task = group.create_task(commands.run(), name="commands")
            commands.submit((SetLights(red=False, green=True), Barrier(up=True)))
            async with asyncio.timeout(20):
                await commands.idle()
            task.cancel()
    assert len(faults) == 1
    assert faults[0].startswith("set_lights:")
    state = io_sim.state()
    assert state["io"]["coils"][0] is False
    assert state["io"]["barrier"]["position"] == 0.0  # never raised


async def test_a_barrier_down_in_a_dropped_batch_still_runs() -> None:
    """Devices ``COMMAND_BATCHES`` behind drop a batch — but never its barrier-down, which
    runs after every batch queued before it (not before an older barrier-up)."""
    with ModbusSim.io("--barrier", "level") as sim:
        async with ModbusLine(url=sim.url, timeout_s=0.5) as line:
            io = IoDriver(line=line, barrier_mode="level", confirm_timeout_s=3.0)
            commands = CommandRunner(
                lane="lane-1", io=io, scale=_NoScale(), display=ConsoleDisplay(),
                on_io_fault=lambda _r: None, clock=lambda: T0,
            )  # fmt: skip
            say = Say(text_zh="请稍候", text_en="Please wait")
            commands.submit((say,))  # then a release, queued behind it
            commands.submit((SetLights(red=False, green=True), Barrier(up=True)))
            for _ in range(COMMAND_BATCHES - 2):
                commands.submit((say,))
            commands.submit((say, Barrier(up=False), SetLights(red=True, green=False)))
            commands.submit((Barrier(up=True),))  # dropped too, and nothing of it kept
            assert commands.dropped == 2
            async with asyncio.TaskGroup() as group:
                task = group.create_task(commands.run(), name="commands")
                async with asyncio.timeout(30):
                    await commands.idle()
                task.cancel()
        state = sim.state()
    assert commands.failures == 0
    assert state["io"]["coils"][0] is False  # the level coil released: the barrier goes down
    assert state["io"]["coils"][1] is True  # red
    assert state["io"]["coils"][2] is False  # green


def test_the_lane_memory_is_rebuilt_from_the_journal(journal: Journal) -> None:
    other = bytes(16)
    bodies = [
        factories.weighing(lane="lane-1", ticket=CTI),  # single pass: the ticket is used
        factories.weighing(lane="lane-1", ticket=other, decision="hold", reasons=("no_ticket",)),
        factories.weighing(
            lane="lane-2",
            plate="陕K67890",
            pass_="first",
            ticket=None,
            gross_kg=15_200,
            tare_kg=15_200,
            net_kg=None,
            tare_source="weighed",
        ),
    ]
    for index, body in enumerate(bodies):
        journal.append(record_type="weighing", body=body, ts_ms=T0 + index)
    journal.append(record_type="evidence", body=factories.evidence(), ts_ms=T0 + 9)
    memories = rebuild(journal.entries())
    assert memories["lane-1"].used_tickets == {CTI}
    assert memories["lane-2"].used_tickets == {CTI}  # a ticket used anywhere is used
    assert dict(memories["lane-1"].first_passes) == {}
    first = memories["lane-2"].first_passes["陕K67890"]
    assert (first.kg, first.cti, first.at_ms) == (15_200, None, T0 + 2)
    assert memories["lane-2"].tare_history == {"陕K67890": 15_200}
    assert other not in memories["lane-1"].used_tickets  # a hold uses nothing


class _NoScale:
    async def zero(self) -> None:
        raise AssertionError("no zero was asked for")


def runner(line: ModbusLine) -> CommandRunner:
    """A command runner that is not started: what was submitted stays visible."""
    return CommandRunner(
        lane="lane-1", io=IoDriver(line=line), scale=_NoScale(), display=ConsoleDisplay(),
        on_io_fault=lambda _r: None, clock=lambda: T0,
    )  # fmt: skip
