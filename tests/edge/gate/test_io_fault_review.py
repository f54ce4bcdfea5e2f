"""A safety review of the retry of a stranded release (``release_retry``): counterexamples.

The retry raises the barrier again with no new decision, so it must only ever do so for the
very truck that was released, still standing as it was weighed: never for a truck that drove
on while the lane could not raise the barrier, never for a load that grew in the meantime,
never for a truck the scale could not see. Each test drives the pure core with the inputs a
real lane would see (``tests.edge.gate.builders``) and runs its outputs through a real
executor where the records matter.
"""

from __future__ import annotations

import pytest

from edge.gate.inputs import (
    BeamsIn,
    IoFaultIn,
    JournalFault,
    ManualPlate,
    Override,
    ScaleFaultIn,
    Tick,
    WeightIn,
)
from edge.gate.memory import StrandedRelease
from edge.gate.outputs import Barrier, WriteRecord
from edge.journal.store import JournalEntry
from edge.runtime.recovery import rebuild
from tests.edge.gate import builders as b
from tests.edge.gate.executor import Executor
from tests.edge.gate.test_io_fault import CHECKED, RAISE_FAILED, STRANDED, released
from wire.bodies import EventBody

HEAVY = 60_000  # far above the 6-axle legal limit of 49 t, yet no indicator overload flag


# --- the truck on the deck is not the released one -------------------------------------------


def test_no_retry_for_another_truck_that_drove_on_while_the_first_backed_off() -> None:
    """Truck swap while faulted: the released truck backs off the rear while the next one
    waits at the entry beam (the deck never 'empty': a beam stays interrupted), the next one
    drives on, the operator clears the IO fault. The barrier must not rise for it."""
    r, executor = released()
    r.set_beams(rear=True)  # the released truck reverses over the rear beam ...
    r.hold_weight(0, ms=300)  # ... and is off the deck
    r.set_beams(rear=False, entry=True)  # the next truck at the entry beam: 'approach'
    r.set_beams(entry=False, rear=True)  # ... and driving on
    r.hold_weight(HEAVY // 2, ms=300)
    r.set_beams(rear=False)
    r.hold_weight(HEAVY, ms=1500)  # wholly on, 60 t
    out = r.feed(CHECKED, after_ms=50)
    executor.run(out, now_ms=r.now)
    assert b.barrier_ups(out) == 0, "the barrier rose for a truck never weighed"
    assert not b.events(out, "release_retry")


def test_no_retry_for_another_truck_of_the_same_weight() -> None:
    """The same swap with a truck that weighs what the released one did: still not it."""
    r, _ = released()
    r.set_beams(rear=True)
    r.hold_weight(0, ms=300)
    r.set_beams(rear=False, entry=True)
    r.set_beams(entry=False, rear=True)
    r.hold_weight(b.GROSS // 2, ms=300)
    r.set_beams(rear=False)
    r.hold_weight(b.GROSS, ms=1500)
    out = r.feed(IoFaultIn(active=False, reason="reconnected"), after_ms=50)
    assert b.barrier_ups(out) == 0
    assert not b.events(out, "release_retry")


def test_no_retry_for_a_load_that_grew_while_the_barrier_stayed_down() -> None:
    """The released truck is loaded further behind the closed barrier (11 t more, past the
    legal limit; the indicator flags nothing): the retry must not let that load go."""
    r, _ = released()
    for kg in range(b.GROSS, HEAVY + 1, 1000):  # loaded in steps: no single jump
        r.hold_weight(kg, ms=1000)
    out = r.feed(CHECKED, after_ms=50)
    assert b.barrier_ups(out) == 0, "an overloaded truck released by the retry"
    assert not b.events(out, "release_retry")


def test_no_retry_after_the_scale_was_blind_and_a_truck_swapped_unseen() -> None:
    """While the raise failed the scale went silent; the released truck backed off and another
    drove on, which only the beams saw; the IO fault is cleared; the scale's first reading
    again (the other truck, 60 t) ends the silence — the retry must not fire on the weight
    the scale read before it went blind."""
    r, _ = released()
    r.tick(b.config().weight_timeout_ms + 100)  # silent: a scale fault
    assert "silent" in r.lane.faults
    r.feed(CHECKED, after_ms=50)  # the IO fault ends; the scale's does not
    r.set_beams(rear=True)
    r.set_beams(rear=False)
    r.set_beams(entry=True)
    r.set_beams(entry=False, rear=True)
    r.set_beams(rear=False)
    out = r.feed(WeightIn(kg=HEAVY), after_ms=100)
    out += r.hold_weight(HEAVY, ms=1500)
    assert b.barrier_ups(out) == 0, "the barrier rose on a weight read before the scale was blind"
    assert not b.events(out, "release_retry")


def test_no_retry_after_a_scale_fault_during_which_the_deck_was_not_seen() -> None:
    """The same with the scale driver's own fault (frames garbled) instead of silence."""
    r, _ = released()
    r.feed(ScaleFaultIn(active=True, reason="frame"), after_ms=50)
    r.feed(CHECKED, after_ms=50)
    r.set_beams(rear=True)
    r.set_beams(rear=False)
    r.set_beams(entry=True)
    r.set_beams(entry=False, rear=True)
    r.set_beams(rear=False)
    out = r.feed(ScaleFaultIn(active=False, reason="frames again"), after_ms=100)
    out += r.hold_weight(HEAVY, ms=1500)
    assert b.barrier_ups(out) == 0
    assert not b.events(out, "release_retry")


# --- what still works -----------------------------------------------------------------------


def test_the_released_truck_standing_still_is_retried_once_the_fault_ends() -> None:
    """The fix keeps the purpose: a truck that stood still (noise within the tolerance) gets
    its barrier raised again, once, with its release named."""
    r, executor = released()
    r.hold_weight(b.GROSS + 60, ms=1000)
    r.hold_weight(b.GROSS - 40, ms=1000)
    out = r.feed(CHECKED, after_ms=50)
    executor.run(out, now_ms=r.now)
    (retry,) = b.events(out, "release_retry")
    assert retry.detail["kg"] == b.GROSS - 40
    assert b.barrier_ups(out) == 1
    written = executor.records[-1].body
    assert isinstance(written, EventBody)
    assert written.ref == executor.last_release
    r.set_beams(barrier_up=True)
    out = r.drive_off_exit()
    assert b.barrier_ups(out) == 0
    assert not b.events(out, "release_left")
    assert r.lane.state == "idle"


def test_a_retry_whose_journal_write_failed_is_retried_when_the_journal_is_back() -> None:
    r, executor = released()
    executor.fail_next_write = True
    out = r.feed(IoFaultIn(active=False, reason="reconnected"), after_ms=50)
    done, failed = executor.run(out, now_ms=r.now)
    assert failed
    assert Barrier(up=True) not in done
    r.feed(JournalFault(active=True, reason="disk full"))
    out = r.feed(JournalFault(active=False, reason="disk replaced"), after_ms=50)
    assert b.barrier_ups(out) == 1


# --- one release, one truck -----------------------------------------------------------------


def test_the_barrier_rises_once_per_raise_that_failed() -> None:
    """Each retry follows an IO fault that named the release; after a retry that worked
    (limit switch up), a later IO fault and its end raise nothing more."""
    r, executor = released()
    out = r.feed(CHECKED, after_ms=50)
    executor.run(out, now_ms=r.now)
    assert b.barrier_ups(out) == 1
    r.set_beams(barrier_up=True)
    out = r.feed(IoFaultIn(active=True, reason="no_response: timeout"), after_ms=50)
    (fault,) = b.events(out, "io_fault")
    assert "barrier" not in fault.detail
    out = r.feed(IoFaultIn(active=False, reason="resumed"), after_ms=50)
    assert b.barrier_ups(out) == 0
    assert not b.events(out, "release_retry")


def test_the_release_left_event_names_the_release_after_a_swap_ended_on_an_empty_deck() -> None:
    """The truck backs off and the deck weighs empty with no beam left interrupted: the session
    ends, ``release_left`` names the release, a fresh truck is decided afresh."""
    r, executor = released()
    out = r.back_off()
    executor.run(out, now_ms=r.now)
    (left,) = b.events(out, "release_left")
    written = [rec.body for rec in executor.records if isinstance(rec.body, EventBody)]
    assert written[-1].kind == "release_left"
    assert written[-1].ref == executor.last_release
    out = r.feed(CHECKED, after_ms=50)
    out += r.drive_on(b.GROSS)
    assert b.barrier_ups(out) == 0
    assert [w.reasons for w in b.weighings(out)] == [("ticket_used",)]
    assert left.detail["event"] == "empty"


# --- after a restart ------------------------------------------------------------------------


def test_after_a_restart_the_resumed_release_is_not_retried_for_a_grown_load() -> None:
    """The stranded truck resumed after a restart, its raise fails again, it is loaded further,
    the fault ends: no retry."""
    lane = b.lane(used_tickets={b.OUT_TICKET.cti}, stranded=STRANDED)
    r = b.Run(lane)
    r.set_beams()
    r.feed(WeightIn(kg=b.GROSS), after_ms=100)
    r.feed(ManualPlate(operator="op-1", plate=b.PLATE), after_ms=10)
    out = r.hold_weight(b.GROSS, ms=1500)
    assert b.barrier_ups(out) == 1
    r.feed(RAISE_FAILED, after_ms=50)
    for kg in range(b.GROSS, HEAVY + 1, 1000):
        r.hold_weight(kg, ms=1000)
    out = r.feed(CHECKED, after_ms=50)
    assert b.barrier_ups(out) == 0
    assert not b.events(out, "release_retry")


# --- the operator's act ---------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="the core alone takes a ClearIoFault during a journal fault; the adapter refuses it "
    "then (LaneRunner, tests/edge/runtime/test_agent_failsafe.py) — the write failing at that "
    "very step remains a gap",
)
def test_an_io_check_the_journal_could_not_write_does_not_raise_the_barrier() -> None:
    """Invariant: nothing the operator does escapes the signed record. The journal fails; the
    operator clears the IO fault (its ``io_fault`` event with ``cleared_by`` cannot be
    written); the journal works again: the barrier must not rise on an unrecorded clear."""
    r, executor = released()
    r.feed(JournalFault(active=True, reason="disk full"), after_ms=10)
    out = r.feed(CHECKED, after_ms=50)
    executor.fail_next_write = True
    _, failed = executor.run(out, now_ms=r.now)
    assert failed  # the io_fault event with cleared_by: not written
    r.feed(JournalFault(active=True, reason="disk full"))
    out = r.feed(JournalFault(active=False, reason="disk replaced"), after_ms=50)
    executor.run(out, now_ms=r.now)
    cleared = [
        rec.body
        for rec in executor.records
        if isinstance(rec.body, EventBody) and rec.body.detail.get("cleared_by") == "op-7"
    ]
    ups = b.barrier_ups(out)
    assert cleared or ups == 0, "the barrier rose on an IO check that is in no record"


def test_a_barrier_up_in_a_retry_list_always_follows_its_release_retry() -> None:
    r, _ = released()
    out = r.feed(CHECKED, after_ms=50)
    index = out.index(Barrier(up=True))
    writes = [o for o in out[:index] if isinstance(o, WriteRecord)]
    assert writes[-1].ref_release
    assert isinstance(writes[-1].body, EventBody)
    assert writes[-1].body.kind == "release_retry"
    assert not [o for o in out[index:] if isinstance(o, WriteRecord)]


def test_ticks_alone_never_retry() -> None:
    r, _ = released()
    out = r.feed(Tick(), after_ms=10)
    out += r.feed(BeamsIn(entry=False, front=False, rear=False, exit=False, barrier_up=False))
    assert b.barrier_ups(out) == 0


def test_after_a_restart_a_deck_weighed_empty_ends_the_stranded_release_in_the_journal() -> None:
    """The stranded release's truck is gone when the edge starts (the deck weighs empty): the
    journal must say so (``release_left`` naming the release), or the next restart finds the
    release stranded again and would resume it for the same plate at the same weight — a
    truck that stands on the deck on a later trip would pass a second time on that ticket."""
    lane = b.lane(used_tickets={b.OUT_TICKET.cti}, stranded=STRANDED)
    r = b.Run(lane)
    executor = Executor(last_release=b"\x07" * 32)  # the journal's last release: the stranded
    out = r.set_beams()
    out += r.empty_deck()
    executor.run(out, now_ms=r.now)
    (left,) = b.events(out, "release_left")
    assert left.detail["event"] == "empty"
    written = executor.records[-1].body
    assert isinstance(written, EventBody)
    assert written.ref == b"\x07" * 32
    out = r.drive_on(b.GROSS)
    assert not b.events(out, "release_left")
    assert b.barrier_ups(out) == 0


def test_a_stranded_release_whose_truck_was_gone_is_not_resumed_at_a_later_restart() -> None:
    """The whole story through the journal (``edge.runtime.recovery``): a release stranded;
    restart 1 finds the deck empty (the truck left while the edge was down); restart 2 happens
    with the same truck standing on the deck on its next trip, same load, its old ticket the
    only one it has. It must be held ``ticket_used``, not passed again on the old release."""
    r, executor = released()

    def journal() -> list[JournalEntry]:
        return [
            JournalEntry(seq=i + 1, record_id=rec.id, data=rec.raw)
            for i, rec in enumerate(executor.records)
        ]

    memory = rebuild(journal())["lane-1"]
    assert memory.stranded is not None  # restart 1
    lane = b.lane(used_tickets=memory.used_tickets, stranded=memory.stranded, now_ms=r.now)
    r1 = b.Run(lane, now_ms=r.now)
    executor.run(r1.set_beams() + r1.empty_deck(), now_ms=r1.now)
    memory = rebuild(journal())["lane-1"]  # restart 2, the truck back on the deck
    lane = b.lane(used_tickets=memory.used_tickets, stranded=memory.stranded, now_ms=r1.now)
    r2 = b.Run(lane, now_ms=r1.now + 3_600_000)
    r2.set_beams()
    r2.feed(WeightIn(kg=b.GROSS), after_ms=100)
    r2.feed(ManualPlate(operator="op-1", plate=b.PLATE), after_ms=10)
    out = r2.hold_weight(b.GROSS, ms=1500)
    assert b.barrier_ups(out) == 0, "one ticket, two passes"
    assert [w.reasons for w in b.weighings(out)] == [("zero_not_ok", "ticket_used")]


def test_a_release_left_never_names_a_newer_release_than_the_stranded_one() -> None:
    """After a restart another truck, standing on the deck since the start, is released (an
    override of its zero); it leaves. The stranded release is no longer the lane's last: no
    ``release_left`` may name the new release (the executor's ``ref_release``)."""
    other = StrandedRelease(plate="陕K99999", ticket=b"\x09" * 16, kg=b.GROSS, reasons=("ok",))
    lane = b.lane(used_tickets={b"\x09" * 16}, stranded=other)
    r = b.Run(lane)
    r.set_beams()
    r.feed(WeightIn(kg=b.GROSS), after_ms=100)
    r.feed(ManualPlate(operator="op-1", plate=b.PLATE), after_ms=10)
    out = r.hold_weight(b.GROSS, ms=1500)
    assert [w.reasons for w in b.weighings(out)] == [("zero_not_ok",)]
    out = r.feed(Override(operator="op-1", reason="truck there at start"), after_ms=10)
    assert b.barrier_ups(out) == 1
    r.set_beams(barrier_up=True)
    out = r.drive_off_exit()
    out += r.empty_deck()
    assert not b.events(out, "release_left")


# --- more sequences tried: no violation (kept as guards) -----------------------------------


def test_a_clear_and_then_the_module_answering_raise_the_barrier_once() -> None:
    r, _ = released()
    out = r.feed(CHECKED, after_ms=50)
    out += r.feed(IoFaultIn(active=False, reason="reconnected"), after_ms=50)
    out += r.feed(CHECKED, after_ms=50)
    assert b.barrier_ups(out) == 1
    assert len(b.events(out, "release_retry")) == 1


def test_no_retry_while_another_fault_is_active() -> None:
    r, _ = released()
    r.feed(JournalFault(active=True, reason="disk full"), after_ms=10)
    out = r.feed(IoFaultIn(active=False, reason="reconnected"), after_ms=50)
    assert b.barrier_ups(out) == 0
    assert r.lane.faults.keys() == {"journal"}


def test_no_retry_when_a_scale_fault_ends_during_an_ordinary_release() -> None:
    """No IO fault stranded the release (the barrier rose; the limit switch is slow to say
    so): a scale fault and its end write no ``release_retry``."""
    r = b.Run(b.lane())
    r.drive_on(b.GROSS)
    r.feed(ScaleFaultIn(active=True, reason="frame"), after_ms=50)
    out = r.feed(ScaleFaultIn(active=False, reason="frames again"), after_ms=50)
    assert not b.events(out, "release_retry")


def test_no_retry_after_the_barrier_rose_anyway_and_the_truck_drove_out() -> None:
    """The raise was reported failed (the limit switch is broken) but the arm rose: the truck
    leaves by the exit; the journal says it left; clearing the fault raises nothing."""
    r, executor = released()
    out = r.drive_off_exit()
    executor.run(out, now_ms=r.now)
    assert [e.detail["event"] for e in b.events(out, "release_left")] == ["exit_cleared"]
    out = r.feed(CHECKED, after_ms=50)
    out += r.drive_on(b.GROSS)
    assert b.barrier_ups(out) == 0


def test_no_release_retry_when_the_journal_comes_back_during_an_ordinary_release() -> None:
    """No IO fault stranded the release (the arm rose; the limit switch has not said so yet):
    the journal failing and working again must not write a ``release_retry`` — a signed record
    saying the barrier was raised again when it never failed to rise."""
    r = b.Run(b.lane())
    r.drive_on(b.GROSS)
    r.feed(WeightIn(kg=b.GROSS), after_ms=100)
    r.feed(JournalFault(active=True, reason="disk full"), after_ms=10)
    out = r.feed(JournalFault(active=False, reason="disk replaced"), after_ms=10)
    assert not b.events(out, "release_retry")
    assert b.barrier_ups(out) == 0
