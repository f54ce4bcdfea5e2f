"""``coalgate edge run`` end to end: a simulated lane (``coalgate sim lane``: the Modbus weight
transmitter and the IO module on one line, the camera pushing to the edge), a private
Mosquitto and the real central (store, ingest worker, tickets, site bundle).

The scenario runs with ``auto_barrier = false``: a truck leaves only through a barrier the edge
raised, so "the truck left" is the barrier's doing, and a held truck is still on the deck.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.store.model import StoredTicket
from edge.journal.store import Journal
from tests.conftest import Mosquitto
from tests.edge.runtime.support import PLATE, SITE, Gate, gate_house, until
from wire.bodies import WeighingBody
from wire.keys import KeySet
from wire.records import verify_record

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def gate(tmp_path: Path, mosquitto: Mosquitto, request: pytest.FixtureRequest) -> Iterator[Gate]:
    """The gate house; ``@pytest.mark.parametrize("gate", ["toledo"], indirect=True)`` weighs
    with a Toledo indicator on its own port instead of the Modbus transmitter (``inbound``: the
    destination's lane)."""
    with gate_house(tmp_path, mosquitto, kind=getattr(request, "param", "modbus")) as world:
        yield world


def ready_with_bundle(gate: Gate, *, loaded_kg: int | None = None) -> None:
    """A ticket for PLATE (loaded at the mine with ``loaded_kg``, for a destination's lane),
    the site bundle published, and the lane idle at zero with it."""
    ticket = gate.central.issue()
    if loaded_kg is not None:
        gate.central.loaded(ticket, loaded_kg)
    version = gate.central.publish_bundle()

    def ready() -> bool:
        lane = gate.edge.lane()
        return bool(
            lane["bundle_version"] == version and lane["weight_kg"] == 0 and lane["state"] == "idle"
        )

    until(ready, what="the lane idle at zero with the site bundle")
    # zero before the transaction: the empty deck must have read stable (1 s window) first
    until(lambda: readings(gate) >= 25, what="2.5 s of readings of the empty deck")


def readings(gate: Gate) -> int:
    for line in gate.edge.metrics().splitlines():
        if line.startswith('coalgate_edge_readings_total{lane="lane1"}'):
            return int(line.rsplit(" ", 1)[1])
    return 0


def barrier_pulsed(state: dict[str, Any]) -> bool:
    return bool(state["io"]["barrier"]["up"])


def weighings_at_central(gate: Gate) -> list[WeighingBody]:
    """Every weighing central stored from the gate, each verified with the device's key."""
    keys = KeySet([gate.central.edge.key.public])
    found = []
    for stored in gate.central.records():
        record = verify_record(stored.raw, keys)
        if isinstance(record.body, WeighingBody):
            found.append(record.body)
    return found


def test_a_normal_truck_is_weighed_released_and_its_records_reach_central(gate: Gate) -> None:
    ready_with_bundle(gate)
    gate.truck(PLATE, load_kg=33_000)  # gross 48 000 kg, within 49 000 kg for 6 axles

    decision = gate.decision(PLATE)
    assert decision["decision"] == "release", decision
    assert decision["reasons"] == ["ok"]
    assert decision["gross_kg"] == 48_000
    assert decision["net_kg"] == 48_000 - 15_020  # the registered tare, from the bundle

    # The edge pulsed the barrier, the IO module's limit switch confirmed it, and the truck
    # (which only leaves through a raised barrier) drove off.
    until(lambda: not gate.sim.state()["trucks"], what="the released truck leaving")
    assert 'coalgate_edge_barrier_raised_total{lane="lane1"} 1' in gate.edge.metrics()

    # Central has the evidence and the weighing, signed by the device, chained, acked.
    (weighing,) = until(lambda: weighings_at_central(gate), what="the weighing at central")
    assert weighing.decision == "release"
    assert weighing.plate == PLATE
    assert weighing.gross_kg == 48_000
    assert weighing.ticket is not None

    def acked() -> bool:
        uplink = gate.edge.get("/healthz")["uplink"]
        return bool(uplink["backlog"] == 0 and uplink["acked_seq"] >= 2)

    until(acked, what="central's ack of every record")

    # SIGTERM: a clean exit, and the journal reopens whole.
    assert gate.edge.terminate() == 0
    assert any("journal closed at seq" in line["msg"] for line in gate.edge.log_lines())
    device = gate.central.edge.device
    with Journal.open(
        gate.directory / "data" / "journal.db", key=gate.central.edge.key, site=SITE, device=device
    ) as journal:
        seqs = [entry.seq for entry in journal.entries()]
        highest = journal.highest_seq
    assert seqs == list(range(1, highest + 1))

    # A restart goes on from there: its heartbeat (every 2 s) is the next seq, and central
    # sees one unbroken chain with no seq signed twice.
    gate.restart_edge()
    until(
        lambda: gate.central.store.contiguous(device) > highest,
        what="a record of the restarted edge at central",
    )
    assert gate.central.store.equivocations(device) == []
    assert len({stored.seq for stored in gate.central.records()}) == len(gate.central.records())


def held_on_deck(gate: Gate, plate: str, reason: str) -> None:
    """``plate`` was held for ``reason`` and, wanting to leave, is still on the deck."""
    decision = gate.decision(plate)
    assert decision["decision"] == "hold", decision
    assert reason in decision["reasons"], decision
    gate.sim.release(plate)  # the driver wants to go: only a raised barrier would let him
    state = until(
        lambda: (s := gate.sim.state())["waiting_to_leave"] == [plate] and s,
        what=f"{plate} waiting at the barrier",
    )
    assert [t["plate"] for t in state["trucks"]] == [plate]
    assert not state["io"]["barrier"]["up"]
    assert "coalgate_edge_barrier_raised_total{" not in gate.edge.metrics()
    assert gate.edge.lane()["state"] == "held"
    (weighing,) = until(lambda: weighings_at_central(gate), what="the hold at central")
    assert weighing.decision == "hold"
    assert reason in weighing.reasons


def test_an_overloaded_truck_is_held(gate: Gate) -> None:
    ready_with_bundle(gate)
    gate.truck(PLATE, load_kg=40_000)  # gross 55 000 kg > 49 000 kg for 6 axles
    held_on_deck(gate, PLATE, "overload_gross")
    shown = [line["en"] for line in gate.edge.lane()["display"]]
    assert "Overloaded: not released" in shown  # what the console and the sign say


def test_a_truck_without_a_ticket_is_held(gate: Gate) -> None:
    ready_with_bundle(gate)  # the only ticket is for 陕K12345
    gate.truck("陕K67890", load_kg=30_000)
    held_on_deck(gate, "陕K67890", "no_ticket")


def test_a_silent_scale_keeps_the_barrier_down(gate: Gate) -> None:
    ready_with_bundle(gate)
    gate.sim.fault("transmitter", "timeout")  # no answers until cleared
    until(lambda: "scale" in gate.edge.lane()["faults"], what="the scale fault at the edge")
    assert gate.edge.lane()["state"] == "fault"

    gate.truck(PLATE, load_kg=33_000, stand_s=2)  # a truck that would be released
    until(lambda: gate.sim.state()["waiting_to_leave"] == [PLATE], what="the truck waiting")
    state = gate.sim.state()
    assert [t["plate"] for t in state["trucks"]] == [PLATE]
    assert not state["io"]["barrier"]["up"]
    lane = gate.edge.lane()
    assert lane["state"] == "fault"
    assert not [d for d in lane["decisions"] if d["decision"] == "release"]
    assert "coalgate_edge_barrier_raised_total{" not in gate.edge.metrics()
    assert 'coalgate_edge_lane_fault{lane="lane1",source="scale"} 1' in gate.edge.metrics()


@pytest.mark.parametrize("gate", ["toledo"], indirect=True)
def test_a_toledo_indicator_weighs_the_released_truck(gate: Gate) -> None:
    ready_with_bundle(gate)
    gate.truck(PLATE, load_kg=30_000)  # gross 45 000 kg
    decision = gate.decision(PLATE)
    assert (decision["decision"], decision["reasons"]) == ("release", ["ok"]), decision
    assert decision["gross_kg"] == 45_000
    until(lambda: not gate.sim.state()["trucks"], what="the released truck leaving")
    (weighing,) = until(lambda: weighings_at_central(gate), what="the weighing at central")
    assert (weighing.decision, weighing.net_kg) == ("release", 45_000 - 15_020)


def test_a_barrier_the_io_module_does_not_raise_is_an_io_fault(gate: Gate) -> None:
    ready_with_bundle(gate)
    gate.sim.fault("io", "relay-stuck", channel=0)  # the barrier relay no longer closes
    gate.truck(PLATE, load_kg=33_000)
    decision = gate.decision(PLATE)
    assert decision["decision"] == "release"  # durably decided; the barrier is what fails
    faults = until(lambda: gate.edge.lane()["faults"].get("io"), what="the IO fault")
    assert "raise_barrier" in faults
    until(lambda: gate.sim.state()["waiting_to_leave"] == [PLATE], what="the truck waiting")
    state = gate.sim.state()
    assert not state["io"]["barrier"]["up"]
    metrics = gate.edge.metrics()
    assert 'coalgate_edge_io_command_failures_total{lane="lane1"} 1' in metrics
    assert "coalgate_edge_barrier_raised_total{" not in metrics


def test_a_truck_forcing_the_barrier_raises_an_escape_alarm_at_central(gate: Gate) -> None:
    ready_with_bundle(gate)
    gate.sim.truck(
        plate="陕K67890", axles=6, kind="combination", tare_kg=15_000, load_kg=30_000,
        stand_s=3, force_barrier=True,
    )  # fmt: skip
    until(lambda: not gate.sim.state()["trucks"], what="the truck gone through the barrier")
    kinds = until(
        lambda: {a["kind"] for a in gate.edge.lane()["alarms"]} & {"escape", "barrier_forced"},
        what="the alarm at the edge",
    )
    assert "escape" in kinds
    assert not [d for d in gate.edge.lane()["decisions"] if d["decision"] == "release"]
    assert "coalgate_edge_barrier_raised_total{" not in gate.edge.metrics()
    central_kinds = until(
        lambda: {a.kind for a in gate.central.store.alarms()} & {"escape"},
        what="the escape alarm at central",
    )
    assert central_kinds == {"escape"}


@pytest.mark.parametrize("gate", ["inbound"], indirect=True)
def test_an_inbound_lane_at_the_destination_marks_the_ticket_arrived(gate: Gate) -> None:
    ready_with_bundle(gate, loaded_kg=33_000)
    (ticket,) = gate.central.store.list_tickets()
    assert ticket.state == "loaded"
    gate.truck(PLATE, load_kg=33_000)  # arrives as it left: gross 48 000 kg
    decision = gate.decision(PLATE)
    assert (decision["decision"], decision["reasons"]) == ("release", ["ok"]), decision
    (weighing,) = until(lambda: weighings_at_central(gate), what="the arrival at central")
    assert (weighing.direction, weighing.ticket) == ("in", ticket.cti)

    def moved_on() -> StoredTicket | None:
        now = gate.central.store.get_ticket(ticket.cti)
        return now if now.state != "loaded" else None

    arrived = until(moved_on, what="the ticket's arrival at central")
    assert arrived.state in ("arrived", "closed")
