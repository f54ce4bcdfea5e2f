"""A released truck whose barrier did not rise, and an operator ending the IO fault.

The release is durable before the barrier moves; when the raise fails the truck waits on the
deck, released, its ticket used by that release. The lane raises the barrier again for the same
release once the IO fault ends (``release_retry``), and after a restart for the truck of the
journal's stranded release — never with a new decision, never a second ticket use.
"""

from __future__ import annotations

from edge.gate import prompts
from edge.gate.inputs import (
    BeamsIn,
    ClearIoFault,
    IoFaultIn,
    JournalFault,
    ManualPlate,
    WeightIn,
)
from edge.gate.memory import StrandedRelease
from edge.gate.outputs import Barrier, Output, WriteRecord
from tests.edge.gate import builders as b
from tests.edge.gate.executor import Executor
from wire.bodies import EventBody

RAISE_FAILED = IoFaultIn(active=True, reason="raise_barrier: the limit switch did not close")
CHECKED = ClearIoFault(operator="op-7", reason="relay replaced by the technician")
STRANDED = StrandedRelease(plate=b.PLATE, ticket=b.OUT_TICKET.cti, kg=b.GROSS, reasons=("ok",))


def released() -> tuple[b.Run, Executor]:
    """A truck released, its records written by a real executor; then its raise failed."""
    r = b.Run(b.lane())
    executor = Executor()
    executor.run(r.drive_on(b.GROSS), now_ms=r.now)
    assert r.lane.state == "releasing"
    executor.run(r.feed(RAISE_FAILED, after_ms=50), now_ms=r.now)
    return r, executor


def test_the_io_fault_of_a_failed_raise_names_the_release() -> None:
    r, executor = released()
    fault = executor.records[-1].body
    assert isinstance(fault, EventBody)
    assert (fault.kind, fault.severity) == ("io_fault", "alarm")
    assert fault.detail["barrier"] == "not_raised"
    assert fault.ref is not None
    assert fault.ref == executor.last_release
    assert r.lane.state == "releasing"  # the truck is let go first: no fault hold, no decision


def test_an_operator_clearing_the_fault_raises_the_barrier_again_for_the_same_release() -> None:
    r, executor = released()
    used = r.lane.used_tickets
    out = r.feed(CHECKED, after_ms=50)
    done, failed = executor.run(out, now_ms=r.now)
    assert not failed
    assert done == out
    cleared, retry = b.events(out)
    assert (cleared.kind, cleared.severity) == ("io_fault", "info")
    assert dict(cleared.detail) == {
        "active": False,
        "cleared_by": "op-7",
        "reason": "relay replaced by the technician",
    }
    assert retry.kind == "release_retry"
    assert retry.detail["accepted"] is True
    assert retry.detail["ticket"] == b.OUT_TICKET.cti.hex()
    written = executor.records[-1].body
    assert isinstance(written, EventBody)
    assert written.ref == executor.last_release
    assert not b.weighings(out), "no new decision"
    assert b.barrier_ups(out) == 1
    assert out.index(Barrier(up=True)) > max(
        i for i, o in enumerate(out) if isinstance(o, WriteRecord)
    )
    assert prompts.IO_CHECKED in out
    assert r.lane.used_tickets == used  # one truck, one ticket use
    assert not r.lane.faults
    r.drive_off_exit()
    assert r.lane.state == "idle"


def test_the_module_answering_again_also_raises_it_again() -> None:
    r, _ = released()
    out = r.feed(IoFaultIn(active=False, reason="reconnected"), after_ms=50)
    assert [e.kind for e in b.events(out)] == ["io_fault", "release_retry"]
    assert b.barrier_ups(out) == 1


def test_a_raise_that_fails_again_strands_the_release_again() -> None:
    r, executor = released()
    executor.run(r.feed(CHECKED, after_ms=50), now_ms=r.now)
    out = r.feed(RAISE_FAILED, after_ms=50)
    executor.run(out, now_ms=r.now)
    (fault,) = b.events(out, "io_fault")
    assert fault.detail["barrier"] == "not_raised"
    written = executor.records[-1].body
    assert isinstance(written, EventBody)
    assert written.ref == executor.last_release


def test_no_retry_when_the_barrier_did_rise() -> None:
    r = b.Run(b.lane())
    r.drive_on(b.GROSS)
    r.set_beams(barrier_up=True)  # the limit switch: up; the module drops afterwards
    out = r.feed(IoFaultIn(active=True, reason="no_response: timeout"))
    (fault,) = b.events(out, "io_fault")
    assert "barrier" not in fault.detail
    assert not [o for o in out if isinstance(o, WriteRecord) and o.ref_release]
    out = r.feed(IoFaultIn(active=False, reason="resumed"), after_ms=50)
    assert b.barrier_ups(out) == 0
    assert not b.events(out, "release_retry")


def test_no_retry_for_a_truck_the_indicator_shows_overloaded() -> None:
    r, _ = released()
    r.feed(WeightIn(kg=b.GROSS, overload=True), after_ms=100)
    out = r.feed(CHECKED, after_ms=50)
    assert b.barrier_ups(out) == 0
    assert not b.events(out, "release_retry")


def test_no_retry_once_the_truck_backed_off_and_the_journal_says_it_left() -> None:
    r, executor = released()
    out = r.back_off()
    executor.run(out, now_ms=r.now)
    (left,) = b.events(out, "release_left")
    assert (left.severity, dict(left.detail)) == ("info", {"event": "empty"})
    written = executor.records[-1].body
    assert isinstance(written, EventBody)
    assert written.ref == executor.last_release
    assert r.lane.state in ("idle", "fault")
    out = r.feed(CHECKED, after_ms=50)
    assert b.barrier_ups(out) == 0


def test_a_released_truck_that_left_normally_writes_no_release_left() -> None:
    r = b.Run(b.lane())
    r.drive_on(b.GROSS)
    r.set_beams(barrier_up=True)
    out = r.drive_off_exit()
    assert not b.events(out, "release_left")


def test_clearing_without_an_io_fault_says_so_and_writes_nothing() -> None:
    r = b.Run(b.lane())
    r.empty_deck()
    assert r.feed(CHECKED) == [prompts.NO_IO_FAULT]
    r.feed(IoFaultIn(active=True, reason="set_lights: coil readback differs"))
    assert r.lane.state == "fault"
    out = r.feed(CHECKED, after_ms=10)
    assert [e.kind for e in b.events(out)] == ["io_fault"]
    assert r.lane.moves[-1].after == "idle"


def test_a_failed_retry_write_keeps_the_barrier_down_until_the_journal_is_back() -> None:
    r, executor = released()
    executor.fail_next_write = True
    out = r.feed(CHECKED, after_ms=50)
    done, failed = executor.run(out, now_ms=r.now)
    assert failed
    assert Barrier(up=True) not in done
    r.feed(JournalFault(active=True, reason="disk full"))
    assert r.lane.used_tickets == frozenset({b.OUT_TICKET.cti})  # nothing rolled back
    out = r.feed(JournalFault(active=False, reason="disk replaced"), after_ms=50)
    assert b.events(out, "release_retry")
    assert b.barrier_ups(out) == 1


# --- after a restart: the journal's stranded release ------------------------------------------


def restarted(stranded: StrandedRelease | None = STRANDED, *, kg: int = b.GROSS) -> b.Run:
    """The edge starts again with the released truck standing on the deck: no camera read; the
    IO module's beams may come before the scale's first reading."""
    lane = b.lane(used_tickets={b.OUT_TICKET.cti}, stranded=stranded)
    r = b.Run(lane)
    r.set_beams()
    r.feed(WeightIn(kg=kg), after_ms=100)
    r.feed(ManualPlate(operator="op-1", plate=b.PLATE), after_ms=10)
    return r


def decided(r: b.Run, kg: int = b.GROSS) -> list[Output]:
    return r.hold_weight(kg, ms=1500)


def test_after_a_restart_the_stranded_truck_gets_its_barrier_raised_again() -> None:
    r = restarted()
    out = decided(r)
    assert not b.weighings(out), "the release is the journal's, not a new one"
    (retry,) = b.events(out, "release_retry")
    assert retry.detail["ticket"] == b.OUT_TICKET.cti.hex()
    assert b.barrier_ups(out) == 1
    assert r.lane.state == "releasing"
    r.drive_off_exit()
    assert r.lane.moves[-1].after == "idle"


def test_after_a_restart_other_trucks_are_held_as_before() -> None:
    lighter = decided(r := restarted(kg=b.GROSS - 2000), b.GROSS - 2000)
    assert [w.reasons for w in b.weighings(lighter)] == [("zero_not_ok", "ticket_used")]
    assert r.lane.state == "held"
    assert b.barrier_ups(lighter) == 0
    unstranded = decided(restarted(None))
    assert [w.reasons for w in b.weighings(unstranded)] == [("zero_not_ok", "ticket_used")]


def test_after_a_restart_a_deck_seen_empty_ends_the_stranded_release() -> None:
    lane = b.lane(used_tickets={b.OUT_TICKET.cti}, stranded=STRANDED)
    r = b.Run(lane)
    out = r.drive_on(b.GROSS)  # the deck was empty first: another visit of the truck
    assert [w.reasons for w in b.weighings(out)] == [("ticket_used",)]
    assert b.barrier_ups(out) == 0


def test_after_a_restart_an_overloaded_stranded_truck_stays_down() -> None:
    r = restarted()
    r.feed(WeightIn(kg=b.GROSS, overload=True), after_ms=100)
    out = decided(r)
    assert b.barrier_ups(out) == 0
    assert not b.events(out, "release_retry")


def test_after_a_restart_the_stranded_release_is_retried_once() -> None:
    r = restarted()
    decided(r)
    r.feed(BeamsIn(entry=False, front=False, rear=True, exit=False, barrier_up=False))
    r.feed(WeightIn(kg=0), after_ms=100)  # backed off instead
    r.feed(BeamsIn(entry=False, front=False, rear=False, exit=False, barrier_up=False))
    again = r.drive_on(b.GROSS, plate=None)
    r.feed(ManualPlate(operator="op-1", plate=b.PLATE), after_ms=10)
    again += decided(r)
    assert b.barrier_ups(again) == 0


def test_an_overload_flag_on_a_reading_that_moves_nothing_still_holds_the_truck() -> None:
    """The indicator flags overload once while the truck settles (no event comes of it): the
    session remembers it, so neither the decision nor a retry can let the truck go."""
    r = b.Run(b.lane())
    r.empty_deck()
    r.plate()
    r.set_beams(entry=True)
    r.set_beams(entry=False, rear=True)
    r.hold_weight(b.GROSS // 2, ms=300)
    r.set_beams(rear=False)
    r.feed(WeightIn(kg=b.GROSS), after_ms=100)
    r.feed(WeightIn(kg=None, overload=True), after_ms=100)
    out = r.hold_weight(b.GROSS, ms=1500)
    assert [w.decision for w in b.weighings(out)] == ["hold"]
    assert "overload_gross" in b.weighings(out)[0].reasons
    assert b.barrier_ups(out) == 0
