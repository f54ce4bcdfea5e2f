"""Outbound and inbound lanes, one and two passes (WIRE.md weighing ``direction``/``pass``),
what a release remembers, and what a journal failure takes back."""

from __future__ import annotations

from edge.gate.inputs import JournalFault, WeightIn
from edge.gate.outputs import Barrier, Output
from edge.gate.rules import FirstPass
from tests.edge.gate import builders as b
from tests.edge.gate.executor import Executor
from wire.bundles import Bundle

HOUR_MS = 3600 * 1000
LOADED_AT = b.T0 - 5 * HOUR_MS
INBOUND_BUNDLE = b.bundle([b.loaded(b.OUT_TICKET, at_ms=LOADED_AT)], site=b.DEST)


def inbound_lane(passes: str = "single", bundle: Bundle = INBOUND_BUNDLE) -> b.Run:
    cfg = b.config(direction="in", passes=passes, lane="in-1")
    return b.Run(b.lane(cfg, site=b.DEST, bundle=bundle))


def drive(r: b.Run, kg: int, plate: str = b.PLATE) -> list[Output]:
    camera = f"{r.lane.config.lane}-entry"
    out = r.empty_deck()
    out += r.plate(plate, 95, camera=camera)
    out += r.set_beams(entry=True)
    out += r.set_beams(entry=False, rear=True)
    out += r.hold_weight(kg // 2, ms=300)
    out += r.set_beams(rear=False)
    return out + r.hold_weight(kg, ms=1500)


def test_outbound_two_passes_tare_then_gross() -> None:
    r = b.Run(b.lane(b.config(passes="two")))
    first = b.weighings(r.drive_on(15_100))
    assert len(first) == 1
    assert (first[0].pass_, first[0].decision) == ("first", "release")
    assert (first[0].gross_kg, first[0].tare_kg, first[0].net_kg) == (15_100, 15_100, None)
    assert (first[0].tare_source, first[0].ticket) == ("weighed", b.OUT_TICKET.cti)
    assert r.lane.first_passes[b.PLATE].kg == 15_100
    assert r.lane.used_tickets == frozenset()
    r.drive_off_exit()

    second = b.weighings(r.drive_on(49_000))
    assert (second[0].pass_, second[0].decision, second[0].reasons) == (
        "second",
        "release",
        ("ok",),
    )
    assert (second[0].gross_kg, second[0].tare_kg, second[0].net_kg) == (49_000, 15_100, 33_900)
    assert second[0].ticket == b.OUT_TICKET.cti
    assert r.lane.first_passes == {}
    assert r.lane.used_tickets == {b.OUT_TICKET.cti}
    assert r.lane.tare_history[b.PLATE] == 15_100


def test_outbound_first_pass_with_a_strange_tare_is_held() -> None:
    r = b.Run(b.lane(b.config(passes="two")))
    weighing = b.weighings(r.drive_on(16_000))[0]
    assert (weighing.decision, weighing.reasons) == ("hold", ("tare_deviation",))
    assert r.lane.first_passes == {}


def test_second_pass_checks_loadability_at_the_first_pass() -> None:
    """A truck that started loading before the deadline is not failed for finishing after it."""
    exp_s = b.T0 // 1000 + 600
    ticket = b.ticket(exp=exp_s)
    r = b.Run(b.lane(b.config(passes="two"), bundle=b.bundle([b.issued(ticket)])))
    assert b.weighings(r.drive_on(15_020))[0].decision == "release"
    r.drive_off_exit()
    r.tick(HOUR_MS)  # loading took an hour; the deadline passed meanwhile
    weighing = b.weighings(r.drive_on(49_000))[-1]
    assert (weighing.pass_, weighing.decision) == ("second", "release")


def test_restart_keeps_first_passes_and_used_tickets() -> None:
    first = {b.PLATE: FirstPass(kg=15_100, cti=b.OUT_TICKET.cti, at_ms=b.T0 - HOUR_MS)}
    r = b.Run(b.lane(b.config(passes="two"), first_passes=first))
    weighing = b.weighings(r.drive_on(49_000))[0]
    assert (weighing.pass_, weighing.net_kg, weighing.decision) == ("second", 33_900, "release")

    again = b.Run(b.lane(used_tickets=[b.OUT_TICKET.cti]))
    assert "ticket_used" in b.weighings(again.drive_on(b.GROSS))[0].reasons


def test_inbound_single_pass_marks_arrival() -> None:
    r = inbound_lane()
    weighing = b.weighings(drive(r, b.GROSS))[0]
    assert (weighing.direction, weighing.pass_, weighing.decision) == ("in", "single", "release")
    assert (weighing.net_kg, weighing.tare_source) == (b.NET, "stored")
    assert r.lane.used_tickets == {b.OUT_TICKET.cti}


def test_inbound_after_the_transit_time_is_expired() -> None:
    late = b.bundle([b.loaded(b.OUT_TICKET, at_ms=b.T0 - 37 * HOUR_MS)], site=b.DEST)
    weighing = b.weighings(drive(inbound_lane(bundle=late), b.GROSS))[0]
    assert "ticket_expired" in weighing.reasons


def test_inbound_needs_a_loaded_ticket() -> None:
    not_loaded = b.bundle([b.issued(b.OUT_TICKET)], site=b.DEST)
    weighing = b.weighings(drive(inbound_lane(bundle=not_loaded), b.GROSS))[0]
    assert "no_ticket" in weighing.reasons


def test_inbound_lane_refuses_a_ticket_for_another_destination() -> None:
    elsewhere = b.ticket(dest_site=b.SITE, seller_site=b.DEST)  # sold *by* this site
    bundle = b.bundle([b.loaded(elsewhere, at_ms=LOADED_AT)], site=b.DEST)
    weighing = b.weighings(drive(inbound_lane(bundle=bundle), b.GROSS))[0]
    assert "ticket_wrong_site" in weighing.reasons


def test_inbound_two_passes_gross_then_tare() -> None:
    r = inbound_lane("two")
    first = b.weighings(drive(r, 49_000))[0]
    assert (first.pass_, first.gross_kg, first.tare_kg, first.net_kg) == (
        "first",
        49_000,
        None,
        None,
    )
    assert first.decision == "release"
    r.drive_off_exit()
    second = b.weighings(drive(r, 15_000))[0]
    assert (second.pass_, second.gross_kg, second.tare_kg, second.net_kg) == (
        "second",
        49_000,
        15_000,
        34_000,
    )
    assert (second.decision, second.tare_source) == ("release", "weighed")
    assert r.lane.used_tickets == {b.OUT_TICKET.cti}


def test_a_failed_release_write_is_rolled_back_and_retried() -> None:
    r = b.Run(b.lane())
    executor = Executor(fail_next_write=True)
    r.empty_deck()
    r.plate()
    r.set_beams(rear=True)
    r.hold_weight(b.GROSS, ms=300)
    r.set_beams(rear=False)
    while not r.lane.barrier_up:
        out = r.feed(WeightIn(kg=b.GROSS), after_ms=100)
    done, failed = executor.run(out, now_ms=r.now)
    assert failed
    assert not any(isinstance(o, Barrier) for o in done)
    out = r.feed(JournalFault(active=True, reason="disk full"))
    assert Barrier(up=False) in out
    assert (r.lane.state, r.lane.barrier_up, r.lane.used_tickets) == ("fault", False, frozenset())

    out = r.feed(JournalFault(active=False, reason="disk replaced"))
    assert b.events(out, "journal_fault")[0].severity == "info"
    out += r.hold_weight(b.GROSS, ms=1500)
    assert [w.decision for w in b.weighings(out)] == ["release"]
    assert r.lane.used_tickets == {b.OUT_TICKET.cti}
