"""``coalgate edge run`` through every shipped lane scenario (``firmware_sim/scenarios/*.toml``):
``coalgate sim lane`` (Modbus transmitter and IO module on one line, the plate cameras pushing
to the edge), a private Mosquitto and the real central (store, ingest worker, tickets, site
bundle), as in ``test_edge_run``. For each scenario the test asserts what an operator expects:
the decision about each truck and its reasons; the barrier as the IO module saw it, rising only
for released trucks; the alarms at the edge and at central; central holding every record,
verified with the device key, one chain from seq 1 with no gap or fork, each weighing as the
edge decided it; and for each released truck the driver's receipt from the operator console,
verified offline with central's public key alone.

The simulator loads the shipped file; what this test rewrites (``scenario_support.sim_file``),
and why:

- ``[camera] url`` → this edge's ``POST /camera`` (the shipped files say 127.0.0.1:8080, the
  edge listens on a free port). Scenarios without a ``[camera]`` table get one with the same
  URL and no misreads: the gate house has its plate cameras; without them every truck would be
  held for ``plate_low_confidence`` and the cheat or fault would never be reached.
- ``[lane] auto_barrier = false``: the edge controls the barrier (cheat-plate-swap and
  fault-camera-down ship ``true``, i.e. the simulator opens it itself as an operator's button
  would). No shipped cheat needs it: cheat-barrier-broken breaks through a lowered barrier.
- ``[lane] speed``: normal-day 10 → 15 and fault-modbus 1 → 3, to keep the test short. The
  other scenarios keep their speed: their trucks' stand times race the edge's decision (which
  runs on the wall clock: a one-second stability window) — at a higher speed the barrier-breaker
  would leave before being held and the remote control would act before the weighing.
- The ``[[truck]]`` and ``[[fault]]`` tables are not given to the simulator: the test reads them
  with the simulator's own parser and plays them through its control interface at their
  scenario times, counted from when the edge is ready (bundle, zero). The simulator's clock
  starts with the process, before an edge can be started against it, and the edge needs the
  empty deck at zero before the first transaction. A ``settled`` truck (fault-modbus) is put on
  the deck before the edge starts, as the scenario means: it has long stood there.

Central registers every truck of the scenario (axles, kind, tare) and issues a ticket for each,
so what the edge catches is the cheat or the fault, not a missing ticket — except the
barrier-breaker, who has none: a truck the edge would release drives out under a raised
barrier, and there is nothing to break through.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Mosquitto
from tests.edge.runtime.scenario_support import IoWatch, ScenarioGate, scenario_gate, truck_fields
from tests.edge.runtime.support import until
from wire.bodies import WeighingBody

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(150)]

PLATE = "陕K12345"
OTHER = "陕K67890"
DIVISION_KG = 10


def gate_for(
    name: str,
    tmp_path: Path,
    mosquitto: Mosquitto,
    *,
    speed: float | None = None,
    ticketless: tuple[str, ...] = (),
    console: bool = False,
    thresholds: str = "",
) -> Iterator[ScenarioGate]:
    with scenario_gate(
        name, tmp_path, mosquitto, speed=speed, ticketless=ticketless, console=console,
        thresholds=thresholds,
    ) as gate:  # fmt: skip
        gate.ready()
        gate.play()
        yield gate


def watched(gate: ScenarioGate) -> IoWatch:
    """What the IO module and the deck showed since the scenario started."""
    assert gate.io is not None
    return gate.io


def left(gate: ScenarioGate, plate: str) -> None:
    until(lambda: plate in watched(gate).gone, what=f"{plate} leaving the lane")


def waiting(gate: ScenarioGate, *plates: str) -> dict[str, Any]:
    """``plates`` want to leave (their stand is over) and wait at the lowered barrier."""
    until(lambda: gate.wants_to_leave(*plates), what=f"{', '.join(plates)} wanting to leave")
    state = gate.sim.state()
    assert [t["plate"] for t in state["trucks"]] == list(plates)
    assert state["waiting_to_leave"] == list(plates)
    assert not state["io"]["barrier"]["up"]
    return state


def weighed(gross_kg: int, true_kg: int) -> bool:
    """The weight the edge took is the truck's within one division (the deck's noise)."""
    return abs(gross_kg - true_kg) <= DIVISION_KG


def alarms_at_the_edge(gate: ScenarioGate, *kinds: str) -> set[str]:
    """Once ``kinds`` were raised at the edge: the kinds of the lane's alarms."""
    until(lambda: set(kinds) <= gate.edge_alarms(), what=f"{', '.join(kinds)} at the edge")
    return gate.edge_alarms()


def checked_at_central(gate: ScenarioGate) -> list[dict[str, Any]]:
    """Every record at central (signed, chained, no gap); each of the edge's decisions is a
    weighing there, as decided; the barrier rose on the IO module once per release; each
    release has a receipt that verifies offline. The edge's decisions."""
    records = gate.all_at_central()
    decisions = gate.decisions()
    by_seq = {r.seq: r for r in records}
    weighings = {r.seq: r.body for r in records if isinstance(r.body, WeighingBody)}
    assert sorted(weighings) == sorted(d["seq"] for d in decisions)
    for decision in decisions:
        body = weighings[decision["seq"]]
        assert (body.decision, list(body.reasons), body.plate, body.gross_kg, body.net_kg) == (
            decision["decision"], decision["reasons"], decision["plate"], decision["gross_kg"],
            decision["net_kg"],
        )  # fmt: skip
    releases = [d for d in decisions if d["decision"] == "release"]
    io = watched(gate)
    assert io.rises == len(releases) == gate.barrier_raises()
    for decision in releases:
        receipt = gate.verify_offline(gate.receipt(decision["seq"]))
        assert receipt.record.id == by_seq[decision["seq"]].id
        assert receipt.weighing.net_kg == decision["net_kg"]
        assert receipt.ticket.id == decision["ticket"]
    return decisions


def reasons(decisions: list[dict[str, Any]], plate: str) -> list[tuple[str, list[str]]]:
    return [(d["decision"], d["reasons"]) for d in decisions if d["plate"] == plate]


# --- a normal day -------------------------------------------------------------------------


@pytest.fixture
def normal_day(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    yield from gate_for("normal-day", tmp_path, mosquitto, speed=15, console=True)


def test_normal_day_every_truck_is_released_through_the_barrier(normal_day: ScenarioGate) -> None:
    gate = normal_day
    trucks = {plan.truck.plate: plan.truck for plan in gate.config.trucks}
    for plate in trucks:
        left(gate, plate)
    until(gate.played_all, what="the whole day played")
    decisions = checked_at_central(gate)
    for plate, truck in trucks.items():
        (decision,) = [d for d in decisions if d["plate"] == plate]
        assert (decision["decision"], decision["reasons"]) == ("release", ["ok"]), decision
        assert weighed(decision["gross_kg"], truck.tare_kg + truck.load_kg)
        assert decision["net_kg"] == decision["gross_kg"] - truck.tare_kg  # the registered tare
    assert watched(gate).rises == 3
    assert not watched(gate).broken
    assert gate.edge_alarms() == set()
    assert gate.central_alarms() == set()
    # the driver's receipt, as a checkpoint's officer checks it: the CLI, central's key only
    first = next(d for d in decisions if d["plate"] == PLATE)
    shown = gate.verify_with_cli(gate.receipt(first["seq"]))
    assert shown.startswith("receipt: ok")
    assert "net 34000 kg" in shown


# --- cheats -------------------------------------------------------------------------------


@pytest.fixture
def partly_on_deck(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    # the site's position timeout, 20 s here (default 60 s): longer than the truck's stand
    yield from gate_for(
        "cheat-partly-on-deck", tmp_path, mosquitto, thresholds="position_timeout_ms = 20000"
    )


def test_a_truck_partly_on_the_deck_is_never_weighed_and_is_held(
    partly_on_deck: ScenarioGate,
) -> None:
    """The rearmost axle stays off the deck (the rear beam broken): no weighing counts; after
    the position timeout (``[lane.thresholds] position_timeout_ms``, on the edge's clock) it
    is held."""
    gate = partly_on_deck
    state = waiting(gate, PLATE)
    assert state["beams"]["deck_rear"]
    assert gate.lane()["state"] == "positioning"
    assert gate.decisions() == []
    decision = until(
        lambda: next(iter(gate.decisions()), None), within_s=35, what="the position timeout"
    )
    assert (decision["decision"], decision["reasons"]) == ("hold", ["not_positioned"]), decision
    assert decision["gross_kg"] < 49_000  # an axle's load is off the deck
    waiting(gate, PLATE)
    checked_at_central(gate)
    assert watched(gate).rises == 0
    assert gate.lane()["state"] == "held"


@pytest.fixture
def barrier_broken(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    yield from gate_for("cheat-barrier-broken", tmp_path, mosquitto, ticketless=(PLATE,))


def test_a_held_truck_breaking_through_the_barrier_raises_escape_and_barrier_forced(
    barrier_broken: ScenarioGate,
) -> None:
    gate = barrier_broken
    decision = gate.decision(PLATE)
    assert (decision["decision"], decision["reasons"]) == ("hold", ["no_ticket"]), decision
    left(gate, PLATE)  # through the lowered barrier
    assert watched(gate).broken
    # the exit camera reads it leaving with no release: exit_without_session names it too
    kinds = alarms_at_the_edge(gate, "escape", "barrier_forced", "exit_without_session")
    assert kinds == {"escape", "barrier_forced", "exit_without_session"}
    until(lambda: gate.central_alarms() >= kinds, what="the alarms at central")
    decisions = checked_at_central(gate)
    assert [d["decision"] for d in decisions] == ["hold"]
    assert watched(gate).rises == 0
    seen = next(e for e in gate.events() if e.kind == "exit_without_session")
    assert seen.detail["plate"] == PLATE
    escape = next(e for e in gate.events() if e.kind == "escape")
    assert (escape.detail["via"], escape.detail["plate"], escape.detail["weighed"]) == (
        "exit", PLATE, True,
    )  # fmt: skip
    assert escape.detail["reasons"] == ["no_ticket"]


def two_trucks_on_the_deck(gate: ScenarioGate) -> None:
    """The second truck stops close behind the first, its rear over the deck's entry edge:
    the edge weighs neither (positioning), and both wait at the lowered barrier."""
    state = waiting(gate, PLATE, OTHER)
    assert state["beams"]["deck_rear"]
    lane = gate.lane()
    assert lane["state"] == "positioning", lane
    assert lane["decisions"] == []
    checked_at_central(gate)
    assert watched(gate).rises == 0
    assert gate.edge_alarms() == set()
    assert gate.barrier_raises() == 0


@pytest.fixture
def tailgating(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    yield from gate_for("cheat-tailgating", tmp_path, mosquitto)


def test_a_tailgater_arriving_before_the_first_truck_is_weighed_stops_both(
    tailgating: ScenarioGate,
) -> None:
    """As shipped, the tailgater (arrive_s 12) drives on before the first truck has stopped
    (13.5 lane s): the first truck is never weighed alone, so no barrier rises for either."""
    two_trucks_on_the_deck(tailgating)


@pytest.fixture
def tailgating_unplayed(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    with scenario_gate("cheat-tailgating", tmp_path, mosquitto, console=True) as gate:
        gate.ready()
        yield gate


def test_a_tailgater_under_the_raise_for_the_truck_ahead_is_an_escape_naming_it(
    tailgating_unplayed: ScenarioGate,
) -> None:
    """The cheat the scenario describes, with its two trucks, timed by events instead of its
    arrive_s: the tailgater drives up once the first truck is released and stops behind it
    (its rear over the deck's entry edge); the first truck then drives off and the tailgater
    follows it under the same raise. When the first truck has cleared the exit beam the edge
    sees the tailgater as a new truck on the deck, and as it breaks the exit beam: escape and
    barrier_forced (the lane commands the barrier down by then)."""
    gate = tailgating_unplayed
    first, second = (truck_fields(plan) for plan in gate.config.trucks)
    gate.play_nothing()
    gate.sim.truck(**{**first, "stand_s": 3600})  # it leaves when the test says so
    decision = gate.decision(PLATE)
    assert (decision["decision"], decision["reasons"]) == ("release", ["ok"]), decision
    until(lambda: watched(gate).up, what="the barrier up for the released truck")
    gate.sim.truck(**second)
    until(lambda: gate.sim.state()["beams"]["deck_rear"], what="the tailgater behind it")
    until(lambda: gate.sim.state()["trucks"][1]["front_m"] > 0, what="the tailgater on the deck")
    gate.sim.release(PLATE)
    left(gate, PLATE)
    left(gate, OTHER)  # under the same raise
    assert watched(gate).rises == 1
    kinds = alarms_at_the_edge(gate, "escape", "barrier_forced")
    # the exit read arrives just after the exit beam breaks; should the beam be polled late, the
    # read comes while the tailgater is positioning and is an exit_without_session
    assert kinds <= {"escape", "barrier_forced", "exit_without_session"}
    until(lambda: gate.central_alarms() >= kinds, what="the alarms at central")
    decisions = checked_at_central(gate)
    assert reasons(decisions, PLATE) == [("release", ["ok"])]
    assert reasons(decisions, OTHER) == []
    escape = next(e for e in gate.events() if e.kind == "escape")
    assert (escape.detail["via"], escape.detail["weighed"]) == ("exit", False)
    reads = {r["plate"] for r in gate.sim.state()["camera"]["reads"] if r["confidence"] >= 80}
    assert OTHER in reads  # both cameras read the tailgater's plate confidently
    assert escape.detail["plate"] == OTHER, escape.detail  # its entry read, though unweighed


@pytest.fixture
def two_trucks(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    yield from gate_for("cheat-two-trucks", tmp_path, mosquitto)


def test_a_second_truck_driving_on_during_the_weighing_stops_both(
    two_trucks: ScenarioGate,
) -> None:
    two_trucks_on_the_deck(two_trucks)


@pytest.fixture
def plate_swap(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    yield from gate_for("cheat-plate-swap", tmp_path, mosquitto, console=True)


def test_other_plates_at_the_exit_raise_exit_without_session(plate_swap: ScenarioGate) -> None:
    gate = plate_swap
    decision = gate.decision(PLATE)
    assert (decision["decision"], decision["reasons"]) == ("release", ["ok"]), decision
    left(gate, PLATE)
    until(lambda: "exit_without_session" in gate.edge_alarms(), what="the alarm at the edge")
    (alarm,) = gate.lane()["alarms"]
    assert "陕K12845" in str(alarm["detail"]), alarm
    until(lambda: gate.central_alarms() == {"exit_without_session"}, what="it at central")
    checked_at_central(gate)
    assert watched(gate).rises == 1


@pytest.fixture
def remote_control(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    yield from gate_for("cheat-remote-control", tmp_path, mosquitto, console=True)


def test_a_remote_control_weight_step_shows_as_zero_drift_once_the_truck_left(
    remote_control: ScenarioGate,
) -> None:
    """As shipped the step (at 40 lane s) comes after the weighing (about 25 lane s): the
    release is of the true weight. The step is exactly ``step_kg`` (2000 kg), which the core
    flags only when exceeded, so ``tamper_step`` depends on the noise; the empty deck reading
    -2 t after the truck left is ``tamper_zero_drift``."""
    gate = remote_control
    decision = gate.decision(PLATE)
    assert (decision["decision"], decision["reasons"]) == ("release", ["ok"]), decision
    assert weighed(decision["gross_kg"], 49_000)
    assert decision["net_kg"] == decision["gross_kg"] - 15_000
    left(gate, PLATE)
    until(gate.played_all, what="the step")
    until(lambda: "tamper_zero_drift" in gate.edge_alarms(), what="the drift alarm")
    assert gate.edge_alarms() <= {"tamper_zero_drift", "tamper_step"}
    until(lambda: "tamper_zero_drift" in gate.central_alarms(), what="it at central")
    drift = next(a for a in gate.lane()["alarms"] if a["kind"] == "tamper_zero_drift")
    assert weighed(drift["detail"]["kg"] - drift["detail"]["reference_kg"], -2_000), drift
    checked_at_central(gate)
    assert watched(gate).rises == 1


# --- faults -------------------------------------------------------------------------------


@pytest.fixture
def camera_down(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    yield from gate_for("fault-camera-down", tmp_path, mosquitto, console=True)


def test_with_the_camera_down_the_operator_enters_the_plate_and_the_truck_is_released(
    camera_down: ScenarioGate,
) -> None:
    """No plate read: held for ``plate_low_confidence``; the operator types the plate on the
    console and the lane weighs again and releases. (The edge has no camera health yet: once it
    has, a ``camera_fault`` warning is expected too.)"""
    gate = camera_down
    held = gate.decision("?")
    assert (held["decision"], held["reasons"]) == ("hold", ["plate_low_confidence"]), held
    assert watched(gate).rises == 0
    with gate.console() as console:
        answer = console.post("/console/api/lanes/lane1/plate", json={"plate": PLATE})
    assert answer.status_code == 200, answer.text
    released = gate.decision(PLATE)
    assert (released["decision"], released["reasons"]) == ("release", ["ok"]), released
    left(gate, PLATE)
    until(gate.played_all, what="the camera back")
    decisions = checked_at_central(gate)
    assert [d["decision"] for d in decisions] == ["hold", "release"]
    assert gate.edge_alarms() <= {"camera_fault"}
    assert gate.central_alarms() == set()


@pytest.fixture
def modbus_faults(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[ScenarioGate]:
    yield from gate_for("fault-modbus", tmp_path, mosquitto, speed=3)


def test_modbus_faults_put_the_lane_in_fault_with_the_barrier_down_until_they_end(
    modbus_faults: ScenarioGate,
) -> None:
    """A truck stands on the deck when the edge starts (weight without beams: tamper_beams;
    no zero, no plate: held). The transmitter's exceptions pass; its silence, the pulled cable
    and the slow IO module each put the lane in fault; it recovers after each."""
    gate = modbus_faults
    seen: set[str] = set()  # fault sources
    states: set[str] = set()

    def after_the_last_fault() -> bool:
        lane = gate.lane()
        seen.update(lane["faults"])
        states.add(lane["state"])
        last_ends_s = 40 + 20  # the slow IO module, from 40 s for 20 s (lane time)
        return bool(
            gate.played_all() and gate.lane_s() > last_ends_s and lane["state"] == "held"
            and not lane["faults"]
        )  # fmt: skip

    until(after_the_last_fault, within_s=60, what="the lane recovered after the last fault")
    assert {"scale", "io"} <= seen, seen
    assert "fault" in states
    decisions = checked_at_central(gate)
    assert decisions
    assert {d["decision"] for d in decisions} == {"hold"}
    assert "zero_not_ok" in decisions[-1]["reasons"]
    assert watched(gate).rises == 0
    assert not watched(gate).broken
    state = gate.sim.state()  # it does not want to leave yet (stand_s 600)
    assert [t["plate"] for t in state["trucks"]] == [PLATE]
    assert not state["io"]["barrier"]["up"]
    assert gate.edge_alarms() <= {"tamper_beams", "scale_fault", "io_fault"}
    assert {"scale_fault", "io_fault"} <= gate.central_alarms()
    ended = {
        e.kind for e in gate.events() if e.severity == "info" and e.detail.get("active") is False
    }
    assert {"scale_fault", "io_fault"} <= ended, ended
