"""A barrier the IO module did not raise for a released truck, and how the gate recovers.

End to end against ``coalgate sim lane`` (the barrier relay stuck through the sim's control
interface), a private Mosquitto and the real central: the release is journaled, the raise fails
(an IO command fault); the technician fixes the relay (the sim fault cleared); the operator
says so on the console ("IO checked"); the edge raises the barrier again for the same release
and the truck leaves through it; central holds every record of it. And after a restart of the
edge with the truck still waiting, the journal says the same. Before those: the executor's and
the journal rebuild's parts, against a real journal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.gate.outputs import Barrier, SetLights, WriteRecord
from edge.journal.store import Journal
from edge.modbus.line import ModbusLine
from edge.runtime.executor import OutputExecutor, is_release
from edge.runtime.recovery import rebuild
from tests.conftest import Mosquitto
from tests.edge.runtime.support import PLATE, Console, Gate, gate_house, until
from tests.edge.runtime.test_edge_run import ready_with_bundle
from tests.edge.runtime.test_executor import CTI, DEVICE, KEY, SITE, T0, release_list, runner
from tests.wire import factories
from wire.bodies import EventBody, WeighingBody
from wire.keys import KeySet
from wire.records import Record, verify_record

LANE = "/console/api/lanes/lane1"
RELAY_FIXED = "barrier relay replaced, tested by hand"


def retry_list(*, ref_release: bool = True) -> list[object]:
    body = EventBody(
        lane="lane-1", kind="release_retry", severity="warning", detail={"accepted": True},
        ref=None,
    )  # fmt: skip
    return [
        WriteRecord(type="event", body=body, ref_release=ref_release),
        SetLights(red=False, green=True),
        Barrier(up=True),
    ]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.db", key=KEY, site=SITE, device=DEVICE) as opened:
        yield opened


# --- the executor and the rebuild --------------------------------------------------------------


async def test_a_retry_names_the_last_release_and_only_then_raises(journal: Journal) -> None:
    async with ModbusLine(url="tcp://127.0.0.1:9", timeout_s=0.2) as line:
        commands = runner(line)
        executor = OutputExecutor(lane="lane-1", journal=journal, commands=commands)
        none_yet = await executor.execute(retry_list(), now_ms=T0)  # type: ignore[arg-type]
        released = await executor.execute(release_list(), now_ms=T0)  # type: ignore[arg-type]
        held = release_list(decision="hold", reasons=("no_ticket",))
        await executor.execute(held, now_ms=T0 + 1)  # type: ignore[arg-type]
        retried = await executor.execute(retry_list(), now_ms=T0 + 2)  # type: ignore[arg-type]
    assert none_yet.failed is not None  # no release to name: nothing written, nothing raised
    assert "ref_release" in none_yet.failed
    weighing = released.written[1]
    (retry,) = retried.written
    assert isinstance(retry.body, EventBody)
    assert retry.body.ref == weighing.entry.record_id  # the release, not the hold after it
    assert retried.commands[-1] == Barrier(up=True)
    ups = [c for batch in commands.submitted for c in batch if c == Barrier(up=True)]
    assert len(ups) == 2  # the release's and the retry's
    assert executor.refused_barriers == 1  # the hold's


def test_a_retry_naming_another_record_authorises_nothing() -> None:
    (write, *_) = retry_list()
    assert isinstance(write, WriteRecord)
    assert isinstance(write.body, EventBody)
    named = EventBody(
        lane="lane-1", kind="release_retry", severity="warning", detail={"accepted": True},
        ref=b"\x01" * 32,
    )  # fmt: skip
    assert is_release(write, named, last_release=b"\x01" * 32)
    assert not is_release(write, named, last_release=b"\x02" * 32)
    assert not is_release(write, named, last_release=None)
    refused = EventBody(
        lane="lane-1", kind="release_retry", severity="warning", detail={"accepted": False},
        ref=b"\x01" * 32,
    )  # fmt: skip
    assert not is_release(write, refused, last_release=b"\x01" * 32)


def stranding(journal: Journal, ref: bytes, *, at: int) -> None:
    body = EventBody(
        lane="lane-1", kind="io_fault", severity="alarm",
        detail={"reason": "raise_barrier: no limit switch", "active": True,
                "barrier": "not_raised"},
        ref=ref,
    )  # fmt: skip
    journal.append(record_type="event", body=body, ts_ms=at)


def test_the_rebuild_finds_a_release_whose_barrier_did_not_rise(journal: Journal) -> None:
    release = journal.append(
        record_type="weighing", body=factories.weighing(lane="lane-1", ticket=CTI), ts_ms=T0
    )
    stranding(journal, release.record_id, at=T0 + 1)
    held = factories.weighing(lane="lane-1", plate="?", decision="hold", reasons=("no_ticket",))
    journal.append(record_type="weighing", body=held, ts_ms=T0 + 2)  # weighed again, no plate
    memory = rebuild(journal.entries())["lane-1"]
    assert memory.last_release == release.record_id
    stranded = memory.stranded
    assert stranded is not None
    body = factories.weighing(lane="lane-1", ticket=CTI)
    assert (stranded.plate, stranded.ticket, stranded.kg) == (body.plate, CTI, body.gross_kg)
    assert CTI in memory.used_tickets  # used once, by that release


def test_a_retry_or_a_new_release_ends_the_stranding(journal: Journal) -> None:
    first = journal.append(
        record_type="weighing", body=factories.weighing(lane="lane-1", ticket=CTI), ts_ms=T0
    )
    stranding(journal, first.record_id, at=T0 + 1)
    retry = EventBody(
        lane="lane-1", kind="release_retry", severity="warning", detail={"accepted": True},
        ref=first.record_id,
    )  # fmt: skip
    journal.append(record_type="event", body=retry, ts_ms=T0 + 2)
    assert rebuild(journal.entries())["lane-1"].stranded is None
    stranding(journal, first.record_id, at=T0 + 3)  # the raise failed again
    assert rebuild(journal.entries())["lane-1"].stranded is not None
    gone = EventBody(
        lane="lane-1", kind="release_left", severity="info", detail={"event": "empty"},
        ref=first.record_id,
    )  # fmt: skip
    journal.append(record_type="event", body=gone, ts_ms=T0 + 3)
    assert rebuild(journal.entries())["lane-1"].stranded is None  # the truck backed off
    stranding(journal, first.record_id, at=T0 + 3)
    assert rebuild(journal.entries())["lane-1"].stranded is not None
    other = factories.weighing(lane="lane-1", ticket=bytes(16))
    second = journal.append(record_type="weighing", body=other, ts_ms=T0 + 4)
    memory = rebuild(journal.entries())["lane-1"]
    assert memory.stranded is None
    assert memory.last_release == second.record_id
    stranding(journal, first.record_id, at=T0 + 5)  # an old release's id strands nothing
    assert rebuild(journal.entries())["lane-1"].stranded is None


# --- end to end ----------------------------------------------------------------------------------


@pytest.fixture
def gate(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Gate]:
    """The gate house of ``test_edge_run`` with an operator account."""
    with gate_house(tmp_path, mosquitto, operator=True) as world:
        yield world


def stranded_truck(gate: Gate) -> dict[str, object]:
    """A truck released by the edge whose barrier the stuck relay did not raise, waiting."""
    ready_with_bundle(gate)
    gate.sim.fault("io", "relay-stuck", channel=0)  # the barrier relay no longer closes
    gate.truck(PLATE, load_kg=33_000, stand_s=1)
    fault = until(lambda: gate.edge.lane()["faults"].get("io"), what="the IO fault")
    assert "raise_barrier" in str(fault)
    (decision,) = gate.edge.lane()["decisions"]
    assert decision["decision"] == "release"
    until(lambda: gate.sim.state()["waiting_to_leave"] == [PLATE], what="the truck waiting")
    assert not gate.sim.state()["io"]["barrier"]["up"]
    gate.sim.request("DELETE", "/faults")  # the technician replaced the relay
    return dict(decision)


def records_at_central(gate: Gate) -> list[Record]:
    keys = KeySet([gate.central.edge.key.public])
    return [verify_record(stored.raw, keys) for stored in gate.central.records()]


def left(gate: Gate) -> bool:
    return not gate.sim.state()["trucks"]


def the_release_at_central(gate: Gate) -> tuple[Record, list[EventBody]]:
    """The one release of PLATE at central, and the events that name it (waits for the retry)."""

    def retried() -> tuple[Record, list[EventBody]] | None:
        found = records_at_central(gate)
        releases = [
            r for r in found if isinstance(r.body, WeighingBody) and r.body.decision == "release"
        ]
        naming = [
            r.body
            for r in found
            if isinstance(r.body, EventBody) and releases and r.body.ref == releases[0].id
        ]
        if not any(e.kind == "release_retry" for e in naming):
            return None
        assert len(releases) == 1, "one truck, one release"
        return releases[0], naming

    return until(retried, what="the release retry at central")


def test_the_operator_clears_the_io_fault_and_the_released_truck_leaves(gate: Gate) -> None:
    stranded_truck(gate)
    console = Console(gate.edge.base)
    try:
        lane = console.lane()
        assert lane["state"] == "releasing"
        assert "io" in lane["faults"]  # the module answers again, the command fault stays
        assert console.post(f"{LANE}/io-checked", {"reason": "ok"}).status_code == 400
        answer = console.post(f"{LANE}/io-checked", {"reason": RELAY_FIXED})
        assert answer.status_code == 200, answer.text
        assert answer.json()["refused"] is False
        assert "IO fault cleared by an operator" in [s["en"] for s in answer.json()["said"]]
        until(lambda: left(gate), what="the truck gone through the barrier the edge raised")
        again = console.post(f"{LANE}/io-checked", {"reason": RELAY_FIXED})
        assert again.status_code == 409
        assert "no IO command fault" in again.json()["detail"]["message"]
    finally:
        console.close()
    assert 'coalgate_edge_barrier_raised_total{lane="lane1"} 1' in gate.edge.metrics()
    release, naming = the_release_at_central(gate)
    assert isinstance(release.body, WeighingBody)
    assert release.body.plate == PLATE
    kinds = [(e.kind, e.detail.get("barrier")) for e in naming]
    assert kinds == [("io_fault", "not_raised"), ("release_retry", None)]
    cleared = until(
        lambda: [
            r.body
            for r in records_at_central(gate)
            if isinstance(r.body, EventBody) and r.body.detail.get("cleared_by")
        ],
        what="the operator's clearing at central",
    )
    assert [(e.kind, e.severity, e.detail["active"], e.detail["reason"]) for e in cleared] == [
        ("io_fault", "info", False, RELAY_FIXED)
    ]


def test_after_a_restart_the_released_truck_still_leaves_on_its_own_release(
    gate: Gate,
) -> None:
    stranded_truck(gate)
    gate.edge.stop()
    gate.restart_edge()  # the journal still says: released, barrier not raised, not retried
    console = Console(gate.edge.base)
    try:
        # no camera read of a truck already standing: the operator types the plate
        until(lambda: console.lane()["state"] == "held", what="the standing truck weighed")
        answer = console.post(f"{LANE}/plate", {"plate": PLATE})
        assert answer.status_code == 200, answer.text
        until(lambda: left(gate), what="the truck gone through the barrier the edge raised")
        decisions = console.lane()["decisions"]
        assert not [d for d in decisions if d["decision"] == "release"], "no new release"
    finally:
        console.close()
    release, naming = the_release_at_central(gate)
    assert [e.kind for e in naming] == ["io_fault", "release_retry"]
    assert isinstance(release.body, WeighingBody)
    assert release.body.ticket is not None
    assert release.body.plate == PLATE
