"""Every row of THE transition table, driven through a real lane (one case per row).

Each case brings a lane into the row's state with real inputs, feeds the one input that makes
the row's event, and checks that the step took exactly that row and ended in its state. A test
checks that the cases cover the table, so a row added without a case fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from edge.gate import prompts
from edge.gate.inputs import (
    AlarmAck,
    BundleIn,
    CameraFaultIn,
    ClearIoFault,
    Input,
    IoFaultIn,
    JournalFault,
    ManualPlate,
    Override,
    PlateIn,
    ScaleFaultIn,
    Tick,
    WeightIn,
    ZeroRequest,
)
from edge.gate.lane import action_names
from edge.gate.memory import StrandedRelease
from edge.gate.outputs import Barrier, Output, WriteRecord, ZeroScale
from edge.gate.table import ANY, TABLE
from tests.edge.gate import builders as b

# Long enough that Tick-driven cases meet their own timeout before the scale's silence.
CONFIG = b.config(weight_timeout_ms=10**9)


def run() -> b.Run:
    return b.Run(b.lane(CONFIG))


# --- reaching each state ------------------------------------------------------------------------


def idle() -> b.Run:
    r = run()
    r.empty_deck()
    return r


def arriving() -> b.Run:
    r = idle()
    r.plate()
    r.set_beams(entry=True)
    return r


def positioning() -> b.Run:
    r = arriving()
    r.set_beams(entry=False, rear=True)
    r.hold_weight(20_000, ms=300)
    return r


def settling() -> b.Run:
    r = positioning()
    r.set_beams(rear=False)
    return r


def held() -> b.Run:
    r = run()
    r.drive_on(b.GROSS, plate=b.OTHER_PLATE)  # no ticket for it
    return r


def held_not_positioned() -> b.Run:
    r = positioning()
    r.tick(CONFIG.position_timeout_ms)
    return r


def releasing() -> b.Run:
    r = run()
    r.drive_on(b.GROSS)
    return r


def just_released() -> b.Run:
    """Released in the very last step (so a journal fault now is the release's)."""
    r = settling()
    r.set_beams(rear=False)
    while not r.lane.barrier_up:
        r.feed(WeightIn(kg=b.GROSS), after_ms=100)
    return r


def exiting() -> b.Run:
    r = releasing()
    r.set_beams(front=True)
    r.set_beams(exit=True)
    return r


def fault() -> b.Run:
    r = idle()
    r.feed(ScaleFaultIn(active=True, reason="stuck"))
    return r


def fault_on_deck() -> b.Run:
    r = settling()
    r.feed(ScaleFaultIn(active=True, reason="stuck"))
    return r


def stranded() -> b.Run:
    """Released, and the IO fault of its barrier's raise began: the truck waits on the deck."""
    r = releasing()
    r.feed(IoFaultIn(active=True, reason="raise_barrier: the limit switch did not close"))
    return r


def io_fault() -> b.Run:
    r = idle()
    r.feed(IoFaultIn(active=True, reason="set_lights: coil readback differs"))
    return r


def restarted_with_stranded() -> b.Run:
    """A lane started with the journal's stranded release and its truck still on the deck."""
    release = StrandedRelease(plate=b.PLATE, ticket=b.OUT_TICKET.cti, kg=b.GROSS, reasons=("ok",))
    r = b.Run(b.lane(CONFIG, used_tickets={b.OUT_TICKET.cti}, stranded=release))
    r.feed(WeightIn(kg=b.GROSS), after_ms=100)  # on the deck from the first reading
    r.feed(ManualPlate(operator="op-1", plate=b.PLATE), after_ms=10)  # no camera read now
    return r


def retried(r: b.Run, out: list[Output]) -> bool:
    """The barrier raised again after a ``release_retry`` naming the release, no new weighing."""
    (retry,) = b.events(out, "release_retry")
    writes = [o for o in out if isinstance(o, WriteRecord)]
    ups = [i for i, o in enumerate(out) if isinstance(o, Barrier) and o.up]
    return (
        b.barrier_ups(out) == 1
        and not b.weighings(out)
        and retry.detail["accepted"] is True
        and writes[-1].ref_release
        and out.index(writes[-1]) < ups[0]
    )


def zero_not_ok_hold() -> b.Run:
    """A good truck on a lane that never saw its deck empty: held only for zero_not_ok."""
    r = run()
    r.plate()
    r.set_beams(entry=True)
    r.set_beams(entry=False, rear=True)
    r.hold_weight(20_000, ms=300)
    r.set_beams(rear=False)
    r.hold_weight(b.GROSS, ms=1500)
    return r


# --- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    setup: Callable[[], b.Run]
    trigger: Callable[[b.Run], list[Output]]
    check: Callable[[b.Run, list[Output]], bool] = lambda r, out: True


def feed(item: Input, after_ms: int = 10) -> Callable[[b.Run], list[Output]]:
    return lambda r: r.feed(item, after_ms=after_ms)


def beams(**changes: bool) -> Callable[[b.Run], list[Output]]:
    return lambda r: r.set_beams(**changes)


def weight(kg: int) -> Callable[[b.Run], list[Output]]:
    return lambda r: r.feed(WeightIn(kg=kg), after_ms=100)


def alarm(kind: str) -> Callable[[b.Run, list[Output]], bool]:
    return lambda r, out: bool(b.events(out, kind))


def no_alarm(r: b.Run, out: list[Output]) -> bool:
    return not [e for e in b.events(out) if e.severity == "alarm"]


def released(r: b.Run, out: list[Output]) -> bool:
    return b.barrier_ups(out) == 1 and [w.decision for w in b.weighings(out)] == ["release"]


def barrier_down(r: b.Run, out: list[Output]) -> bool:
    return Barrier(up=False) in out and not r.lane.barrier_up


def exit_cleared_with_truck(r: b.Run) -> list[Output]:
    r.hold_weight(20_000, ms=200)  # backed onto the deck again: a new truck to the lane
    return r.set_beams(exit=False)


def stable_twice(r: b.Run) -> list[Output]:
    return r.hold_weight(r.kg, ms=1200)


def stable_empty(r: b.Run) -> list[Output]:
    return r.hold_weight(0, ms=1200)


def unstable(r: b.Run) -> list[Output]:
    out: list[Output] = []
    for i in range(12):
        out += r.feed(WeightIn(kg=20_000 + (i % 2) * 400), after_ms=100)
    return out + r.tick(CONFIG.settle_timeout_ms)


def journal_after_release(r: b.Run) -> list[Output]:
    return r.feed(JournalFault(active=True, reason="disk full"))


def step_jump(r: b.Run) -> list[Output]:
    r.hold_weight(b.GROSS, ms=1500)
    return r.feed(WeightIn(kg=b.GROSS + 5000), after_ms=100)


def journal_back(r: b.Run) -> list[Output]:
    r.feed(JournalFault(active=True, reason="disk full"))
    return r.feed(JournalFault(active=False, reason="disk replaced"))


def recovered_on_deck(r: b.Run) -> list[Output]:
    return r.feed(ScaleFaultIn(active=False, reason="ok"))


def lowers(out: list[Output]) -> bool:
    return Barrier(up=False) in out


def tare_ok_override(r: b.Run, out: list[Output]) -> bool:
    return released(r, out) and b.weighings(out)[0].reasons == ("manual_override", "zero_not_ok")


CASES: dict[tuple[str, str], Case] = {
    ("idle", "approach"): Case(idle, beams(entry=True)),
    ("idle", "partly_on"): Case(exiting, exit_cleared_with_truck),
    ("idle", "wholly_on"): Case(idle, weight(20_000), alarm("tamper_beams")),
    ("idle", "empty_stable"): Case(idle, weight(0)),
    ("idle", "exit_broken"): Case(idle, beams(exit=True), alarm("barrier_forced")),
    ("idle", "zero_request"): Case(
        idle, feed(ZeroRequest(operator="op-1")), lambda r, out: ZeroScale() in out
    ),
    ("idle", "fault_pending"): Case(idle, feed(ScaleFaultIn(active=True, reason="x"))),
    ("arriving", "empty"): Case(arriving, beams(entry=False), no_alarm),
    ("arriving", "partly_on"): Case(arriving, lambda r: r.set_beams(rear=True) + weight(9000)(r)),
    ("arriving", "wholly_on"): Case(arriving, weight(20_000)),
    ("arriving", "exit_broken"): Case(arriving, beams(exit=True), alarm("barrier_forced")),
    ("arriving", "fault_pending"): Case(arriving, feed(ScaleFaultIn(active=True, reason="x"))),
    ("positioning", "wholly_on"): Case(positioning, beams(rear=False)),
    ("positioning", "position_timeout"): Case(
        positioning,
        lambda r: r.tick(CONFIG.position_timeout_ms),
        lambda r, out: "not_positioned" in b.weighings(out)[0].reasons,
    ),
    ("positioning", "approach"): Case(positioning, weight(0), alarm("escape")),
    ("positioning", "exit_broken"): Case(positioning, beams(exit=True), alarm("escape")),
    ("positioning", "fault_pending"): Case(
        positioning, feed(ScaleFaultIn(active=True, reason="x"))
    ),
    ("settling", "stable"): Case(settling, stable_twice),
    ("settling", "settle_timeout"): Case(
        settling, unstable, lambda r, out: "unstable" in b.weighings(out)[0].reasons
    ),
    ("settling", "partly_on"): Case(settling, beams(front=True)),
    ("settling", "approach"): Case(
        settling, lambda r: r.set_beams(entry=True) + weight(0)(r), alarm("escape")
    ),
    ("settling", "empty"): Case(settling, weight(0), alarm("escape")),
    ("settling", "exit_broken"): Case(settling, beams(exit=True), alarm("escape")),
    ("settling", "fault_pending"): Case(settling, feed(ScaleFaultIn(active=True, reason="x"))),
    ("deciding", "release"): Case(settling, lambda r: r.hold_weight(b.GROSS, ms=1500)),
    ("deciding", "release_override"): Case(
        zero_not_ok_hold, feed(Override(operator="op-1", reason="zeroed by hand")), tare_ok_override
    ),
    ("deciding", "hold"): Case(
        settling,
        lambda r: r.hold_weight(60_000, ms=1500),
        lambda r, out: b.weighings(out)[0].reasons == ("overload_gross", "over_ticket_max"),
    ),
    ("deciding", "stranded_release"): Case(
        restarted_with_stranded, lambda r: r.hold_weight(b.GROSS, ms=1500), retried
    ),
    ("deciding", "override_refused"): Case(
        held,
        feed(Override(operator="op-1", reason="driver known")),
        lambda r, out: (
            b.barrier_ups(out) == 0 and not b.events(out, "override")[0].detail["accepted"]
        ),
    ),
    ("held", "partly_on"): Case(held, beams(front=True)),
    ("held", "wholly_on"): Case(held_not_positioned, beams(rear=False)),
    ("held", "operator_input"): Case(held, feed(ManualPlate(operator="op-1", plate=b.PLATE))),
    ("held", "plate_entry"): Case(held, lambda r: r.plate(b.PLATE, 99)),
    ("held", "override"): Case(held, feed(Override(operator="op-1", reason="x"))),
    ("held", "approach"): Case(
        held, lambda r: r.set_beams(entry=True) + weight(0)(r), alarm("escape")
    ),
    ("held", "empty"): Case(held, weight(0), alarm("escape")),
    ("held", "exit_broken"): Case(held, beams(exit=True), alarm("escape")),
    ("held", "fault_pending"): Case(held, feed(ScaleFaultIn(active=True, reason="x"))),
    ("releasing", "exit_broken"): Case(releasing, beams(exit=True), no_alarm),
    ("releasing", "empty"): Case(releasing, weight(0), barrier_down),
    ("releasing", "plate_exit"): Case(
        releasing,
        lambda r: r.plate(b.OTHER_PLATE, 99, camera="lane-1-exit"),
        alarm("exit_without_session"),
    ),
    ("releasing", "release_failed"): Case(just_released, journal_after_release, barrier_down),
    ("releasing", "operator_input"): Case(
        releasing, feed(ManualPlate(operator="op-1", plate=b.OTHER_PLATE))
    ),
    ("releasing", "recovered_on_deck"): Case(
        stranded, feed(IoFaultIn(active=False, reason="reconnected")), retried
    ),
    ("exiting", "exit_cleared"): Case(
        exiting,
        lambda r: r.hold_weight(0, ms=300) + r.set_beams(front=False, exit=False),
        barrier_down,
    ),
    ("exiting", "plate_exit"): Case(
        exiting, lambda r: r.plate(b.PLATE, 99, camera="lane-1-exit"), no_alarm
    ),
    ("exiting", "operator_input"): Case(exiting, feed(ManualPlate(operator="op-1", plate=b.PLATE))),
    ("fault", "partly_on"): Case(fault, lambda r: r.set_beams(rear=True) + weight(9000)(r)),
    ("fault", "wholly_on"): Case(fault, weight(20_000)),
    ("fault", "approach"): Case(
        fault_on_deck, lambda r: r.set_beams(entry=True) + weight(0)(r), alarm("escape")
    ),
    ("fault", "empty"): Case(fault_on_deck, weight(0), alarm("escape")),
    ("fault", "exit_broken"): Case(fault_on_deck, beams(exit=True), alarm("escape")),
    # Leaving a fault commands the barrier down again: a lowering lost to the fault (a level
    # barrier whose IO module dropped) must not leave the arm up over an idle lane.
    ("fault", "recovered"): Case(
        fault, feed(ScaleFaultIn(active=False, reason="ok")), lambda r, out: lowers(out)
    ),
    ("fault", "recovered_on_deck"): Case(
        fault_on_deck, recovered_on_deck, lambda r, out: lowers(out)
    ),
    (ANY, "plate_entry"): Case(idle, lambda r: r.plate()),
    (ANY, "plate_exit"): Case(
        idle, lambda r: r.plate(camera="lane-1-exit"), alarm("exit_without_session")
    ),
    (ANY, "operator_input"): Case(settling, feed(ManualPlate(operator="op-1", plate=b.PLATE))),
    (ANY, "override"): Case(idle, feed(Override(operator="op-1", reason="x"))),
    (ANY, "zero_request"): Case(
        settling, feed(ZeroRequest(operator="op-1")), lambda r, out: ZeroScale() not in out
    ),
    (ANY, "alarm_ack"): Case(
        idle, feed(AlarmAck(operator="op-1", kind="escape")), lambda r, out: bool(b.events(out))
    ),
    (ANY, "bundle"): Case(
        idle,
        feed(BundleIn(bundle=b.bundle(version=2))),
        lambda r, out: r.lane.bundle is not None and r.lane.bundle.version == 2,
    ),
    (ANY, "barrier_raised"): Case(idle, beams(barrier_up=True), alarm("barrier_forced")),
    (ANY, "beams_without_weight"): Case(
        idle,
        lambda r: r.set_beams(front=True) + r.tick(CONFIG.beams_no_weight_ms),
        alarm("tamper_beams"),
    ),
    (ANY, "tamper_step"): Case(releasing, step_jump, alarm("tamper_step")),
    (ANY, "calibration_changed"): Case(
        idle,
        lambda r: (
            r.feed(WeightIn(kg=0, calibration=7), after_ms=100)
            + r.feed(WeightIn(kg=0, calibration=8), after_ms=100)
        ),
        alarm("calibration_changed"),
    ),
    (ANY, "fault_raised"): Case(
        idle, feed(ScaleFaultIn(active=True, reason="x")), alarm("scale_fault")
    ),
    (ANY, "fault_cleared"): Case(fault, feed(ScaleFaultIn(active=False, reason="ok"))),
    (ANY, "camera_fault"): Case(
        idle,
        feed(CameraFaultIn(active=True, camera="lane-1-entry", reason="offline")),
        lambda r, out: b.events(out, "camera_fault")[0].severity == "warning",
    ),
    (ANY, "journal_ok"): Case(idle, journal_back),
    (ANY, "io_checked"): Case(
        io_fault,
        feed(ClearIoFault(operator="op-1", reason="relay replaced")),
        lambda r, out: (
            b.events(out, "io_fault")[0].severity == "info"
            and dict(b.events(out, "io_fault")[0].detail)
            == {"active": False, "cleared_by": "op-1", "reason": "relay replaced"}
            and r.lane.state == "idle"
            and not r.lane.faults
        ),
    ),
    (ANY, "io_not_faulted"): Case(
        idle,
        feed(ClearIoFault(operator="op-1", reason="relay replaced")),
        lambda r, out: out == [prompts.NO_IO_FAULT],
    ),
}


def test_every_row_has_a_case() -> None:
    assert set(CASES) == set(TABLE)


def test_every_action_is_a_lane_method_and_every_method_is_used() -> None:
    named = {action for _, actions in TABLE.values() for action in actions}
    helpers = {"start_session", "write_evidence", "write_weighing", "close"}  # also called inline
    assert named <= action_names()
    assert action_names() - named <= helpers


@pytest.mark.parametrize("row", list(CASES), ids=[f"{s}+{e}" for s, e in CASES])
def test_row(row: tuple[str, str]) -> None:
    case = CASES[row]
    r = case.setup()
    state_before = r.lane.state
    moves: list[tuple[str, str]] = []
    taken: list[str] = []
    out: list[Output] = []

    def step_and_record(item: Input, *, after_ms: int = 0) -> list[Output]:
        result = original(item, after_ms=after_ms)
        for move in r.lane.moves:
            moves.append(move.row)
            if move.row == row:
                taken.append(move.after)
        return result

    original = r.feed
    r.feed = step_and_record  # type: ignore[method-assign]
    out = case.trigger(r)
    assert row in moves, f"{row} not taken from {state_before}; took {moves}"
    target = TABLE[row][0]
    if target is not None:
        assert taken[-1] == target
    assert case.check(r, out), f"{row}: the outputs were not as expected: {out}"


def test_unknown_camera_is_ignored() -> None:
    r = idle()
    assert r.feed(PlateIn(plate=b.PLATE, confidence=99, camera="lane-9-entry")) == []
    assert r.lane.moves == ()


def test_tick_without_deadlines_changes_nothing() -> None:
    r = idle()
    assert r.feed(Tick(), after_ms=50) == []
