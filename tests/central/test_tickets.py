"""Tickets through the store, on SQLite and PostgreSQL: issuing within quota, and the whole
lifecycle driven by real signed weighing records through ``Store.ingest`` (WIRE.md "E-ticket";
the table in central/ticketing/lifecycle.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.errors import (
    QuotaExceededError,
    RevokedDuringBatchError,
    TicketError,
    TicketStateError,
)
from central.store.base import Store
from central.store.model import StoredTicket
from central.store.sqlite import SqliteStore
from central.ticketing import service
from central.ticketing.policy import QuotaPolicy, Tolerance
from tests.central import builders as b
from tests.central.builders import HOUR, T0, Region

DAY = 24 * HOUR
KEYRING = b.central_keyring()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SqliteStore(tmp_path / "central.db")
    else:
        from central.store.postgres import PostgresStore  # noqa: PLC0415

        opened = PostgresStore(request.getfixturevalue("postgres_dsn"), max_size=2)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


@pytest.fixture
def region(store: Store) -> Region:
    return Region().register(store)


def issue(store: Store, now_ms: int = T0, **changes: object) -> StoredTicket:
    issued = service.issue(
        store, KEYRING, b.ticket_request(**changes), issuer="yulin-energy-bureau",
        now_ms=now_ms, actor="test",
    )  # fmt: skip
    return issued.stored


def kinds(store: Store) -> list[str]:
    return [a.kind for a in store.alarms()]


# --- issuing -------------------------------------------------------------------------------


def test_issuing_signs_stores_and_reserves(store: Store, region: Region) -> None:
    issued = service.issue(
        store, KEYRING, b.ticket_request(valid_s=6 * 3600, transit_s=12 * 3600),
        issuer="yulin-energy-bureau", now_ms=T0 + 1234, actor="test",
    )  # fmt: skip
    ticket, stored = issued.ticket, issued.stored
    assert stored == store.get_ticket(ticket.cti)
    assert stored.raw == ticket.raw  # the COSE bytes verbatim
    iat = (T0 + 1234) // 1000
    assert (ticket.plate, ticket.iat, ticket.exp) == (b.PLATE, iat, iat + 6 * 3600)
    assert ticket.transit_s == 12 * 3600
    assert ticket.no == f"20261201-{ticket.cti[:4].hex().upper()}"
    assert (stored.state, stored.flags, stored.quota_period) == ("issued", frozenset(), "2026")
    assert store.quota_used(b.ENTERPRISE, "2026") == 40_000
    assert [t.cti for t in store.list_tickets(state="issued", site=b.DEST_SITE)] == [ticket.cti]
    assert store.list_tickets(enterprise=b.BUYER) == [stored]
    assert store.list_tickets(state="closed") == []
    assert store.audit_log(limit=1)[0].action == "ticket.issue"
    defaults = service.issue(
        store, KEYRING, b.ticket_request(), issuer="x", now_ms=T0, actor="test"
    ).ticket
    assert (defaults.exp - defaults.iat, defaults.transit_s) == (48 * 3600, 48 * 3600)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"enterprise": "nobody"}, "no enterprise"),
        ({"seller_site": "nowhere"}, "no seller site"),
        ({"seller_site": b.DEST_SITE}, "belongs to"),
        ({"dest_site": "nowhere"}, "no destination"),
        ({"dest_site": b.SITE}, "another site"),
        ({"plate": "陕K1234挂"}, "trailer"),
        ({"plate": "陕KO2345"}, "I and O"),
        ({"max_net_kg": 0}, "max_net_kg"),
        ({"coal": " "}, "coal"),
        ({"valid_s": 0}, "validity"),
        ({"transit_s": 15 * 24 * 3600}, "transit"),
        ({"buyer": "Not An Id"}, "buyer"),
    ],
)
def test_issuing_rules(
    store: Store, region: Region, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(TicketError, match=message):
        issue(store, **changes)
    assert store.list_tickets() == []


def test_the_destination_must_be_enrolled(store: Store, region: Region) -> None:
    store.revoke_device(region.dest.device, actor="test", at=T0)
    with pytest.raises(TicketError, match="not enrolled"):
        issue(store)


def test_quota_is_reserved_settled_and_released(store: Store) -> None:
    Region().register(store, capacity_t=100)  # 100 000 kg a year
    first = issue(store)
    second = issue(store)
    with pytest.raises(QuotaExceededError) as refused:
        issue(store, max_net_kg=20_001)
    assert (refused.value.limit_kg, refused.value.used_kg, refused.value.period) == (
        100_000, 80_000, "2026"
    )  # fmt: skip
    third = issue(store, max_net_kg=20_000)  # exactly the rest
    assert store.quota_used(b.ENTERPRISE, "2026") == 100_000
    with pytest.raises(QuotaExceededError):
        issue(store, max_net_kg=1)
    service.revoke(store, third.cti, actor="test", now_ms=T0)  # released
    region = Region()
    store.ingest([region.seller.record(1, b.loading(first.cti, 30_000))], [], now_ms=T0 + HOUR)
    assert store.quota_used(b.ENTERPRISE, "2026") == 30_000 + 40_000  # settled + reserved
    store.sweep_tickets(now_ms=T0 + 49 * HOUR)  # the second expires unloaded: released
    assert store.get_ticket(second.cti).state == "expired"
    assert store.quota_used(b.ENTERPRISE, "2026") == 30_000
    issue(store, max_net_kg=70_000, now_ms=T0 + 50 * HOUR)
    # A new year (China Standard Time) starts a new period.
    new_year = b.utc_ms("2026-12-31T16:00:00")
    assert issue(store, max_net_kg=100_000, now_ms=new_year).quota_period == "2027"
    assert store.quota_used(b.ENTERPRISE, "2027") == 100_000


def test_a_monthly_quota_policy() -> None:
    policy = QuotaPolicy(period="month")
    assert policy.period_of(b.utc_ms("2026-11-30T16:00:00")) == "2026-12"
    assert policy.period_of(b.utc_ms("2026-11-30T15:59:59.999")) == "2026-11"
    assert policy.limit_kg(b.enterprise()) == 3_000_000_000 // 12


# --- lifecycle -----------------------------------------------------------------------------


def test_issue_load_arrive_close(store: Store, region: Region) -> None:
    ticket = issue(store)
    loaded_at = T0 + HOUR
    out = region.seller.record(1, b.loading(ticket.cti, 34_000), ts=loaded_at)
    result = store.ingest([out], [], now_ms=loaded_at + 500)
    assert result.ticket_sites == {b.SITE, b.DEST_SITE}
    loaded = store.get_ticket(ticket.cti)
    assert (loaded.state, loaded.source_net_kg, loaded.loaded_at, loaded.loaded_record) == (
        "loaded", 34_000, loaded_at, out.record_id
    )  # fmt: skip
    assert loaded.quota_kg == 34_000
    # The same record again (a resend) changes nothing and is no second loading.
    assert store.ingest([out], [], now_ms=loaded_at + 900).ticket_sites == frozenset()
    assert store.get_ticket(ticket.cti) == loaded

    inbound = region.dest.record(1, b.arrival(ticket.cti, 33_900), ts=loaded_at + 5 * HOUR)
    result = store.ingest([inbound], [], now_ms=loaded_at + 5 * HOUR + 500)
    closed = store.get_ticket(ticket.cti)
    assert (closed.state, closed.dest_net_kg, closed.arrived_record, closed.flags) == (
        "closed", 33_900, inbound.record_id, frozenset()
    )  # fmt: skip
    assert closed.closed_at == loaded_at + 5 * HOUR + 500
    assert result.alarms == ()
    assert kinds(store) == []


def test_discrepancy_beyond_tolerance(store: Store, region: Region) -> None:
    # 0.5 % of 34 000 kg = 170 kg: 33 830 reconciles, 33 829 does not.
    within, beyond = issue(store), issue(store)
    store.ingest(
        [
            region.seller.record(1, b.loading(within.cti, 34_000)),
            region.seller.record(2, b.loading(beyond.cti, 34_000)),
            region.dest.record(1, b.arrival(within.cti, 33_830)),
            region.dest.record(2, b.arrival(beyond.cti, 33_829)),
        ],
        [],
        now_ms=T0 + DAY,
    )
    assert store.get_ticket(within.cti).flags == frozenset()
    flagged = store.get_ticket(beyond.cti)
    assert (flagged.state, flagged.flags) == ("closed", {"discrepancy"})
    (alarm,) = store.alarms()
    assert (alarm.kind, alarm.site, alarm.severity) == ("discrepancy", b.SITE, "warning")
    assert alarm.detail["allowed_kg"] == 170
    assert (alarm.detail["source_net_kg"], alarm.detail["dest_net_kg"]) == (34_000, 33_829)
    # The floor: 100 kg, for small loads; a stricter tolerance is an argument of ingest.
    assert Tolerance().allowed_kg(10_000) == 100
    strict = issue(store)
    store.ingest(
        [region.seller.record(3, b.loading(strict.cti, 34_000)),
         region.dest.record(3, b.arrival(strict.cti, 33_900))],
        [], now_ms=T0 + DAY, tolerance=Tolerance(basis_points=0, floor_kg=50),
    )  # fmt: skip
    assert store.get_ticket(strict.cti).flags == {"discrepancy"}


def test_arrival_recorded_before_loading_closes_when_the_loading_comes(
    store: Store, region: Region
) -> None:
    ticket = issue(store)
    store.ingest(
        [region.dest.record(1, b.arrival(ticket.cti, 34_000), ts=T0 + 3 * HOUR)],
        [],
        now_ms=T0 + 4 * HOUR,
    )
    assert store.get_ticket(ticket.cti).state == "arrived"
    store.ingest(
        [region.seller.record(1, b.loading(ticket.cti, 34_050), ts=T0 + HOUR)],
        [],
        now_ms=T0 + 5 * HOUR,
    )
    closed = store.get_ticket(ticket.cti)
    assert (closed.state, closed.source_net_kg, closed.dest_net_kg, closed.flags) == (
        "closed", 34_050, 34_000, frozenset()
    )  # fmt: skip


def test_overdue_is_flagged_once_by_the_sweep(store: Store, region: Region) -> None:
    ticket = issue(store, transit_s=6 * 3600)
    loaded_at = T0 + HOUR
    store.ingest(
        [region.seller.record(1, b.loading(ticket.cti, 34_000), ts=loaded_at)], [], now_ms=loaded_at
    )
    assert store.sweep_tickets(now_ms=loaded_at + 6 * HOUR).changed == ()  # not yet
    swept = store.sweep_tickets(now_ms=loaded_at + 6 * HOUR + 1)
    assert [t.flags for t in swept.changed] == [{"overdue"}]
    assert [(a.kind, a.detail["cti"]) for a in swept.alarms] == [("ticket_overdue", ticket.id)]
    assert store.sweep_tickets(now_ms=loaded_at + 9 * HOUR).alarms == ()  # once
    # It still arrives, late; it closes, keeping the flag and raising nothing new.
    store.ingest(
        [region.dest.record(1, b.arrival(ticket.cti, 34_000), ts=loaded_at + 10 * HOUR)],
        [], now_ms=loaded_at + 10 * HOUR,
    )  # fmt: skip
    closed = store.get_ticket(ticket.cti)
    assert (closed.state, closed.flags) == ("closed", {"overdue"})
    assert kinds(store) == ["ticket_overdue"]


def test_a_late_arrival_no_sweep_saw_is_flagged_overdue_at_arrival(
    store: Store, region: Region
) -> None:
    ticket = issue(store, transit_s=3600)
    store.ingest(
        [region.seller.record(1, b.loading(ticket.cti, 34_000), ts=T0),
         region.dest.record(1, b.arrival(ticket.cti, 34_000), ts=T0 + 2 * HOUR)],
        [], now_ms=T0 + 3 * HOUR,
    )  # fmt: skip
    assert store.get_ticket(ticket.cti).flags == {"overdue"}
    assert kinds(store) == ["ticket_overdue"]


def test_revocation(store: Store, region: Region) -> None:
    ticket = issue(store)
    revoked = service.revoke(store, ticket.cti, actor="test", now_ms=T0 + HOUR)
    assert (revoked.state, revoked.revoked_at, revoked.quota_kg) == ("revoked", T0 + HOUR, 0)
    assert store.get_ticket(ticket.cti) == revoked
    assert store.audit_log(limit=1)[0].action == "ticket.revoke"
    with pytest.raises(TicketStateError, match="revoked"):
        service.revoke(store, ticket.cti, actor="test", now_ms=T0 + HOUR)
    # A gate must refuse it; a record naming it anyway is kept but moves nothing.
    store.ingest([region.seller.record(1, b.loading(ticket.cti, 34_000))], [], now_ms=T0 + 2 * HOUR)
    assert store.get_ticket(ticket.cti) == revoked
    # A loaded ticket may be revoked too; its settled quota stays (the coal has left).
    loaded = issue(store)
    store.ingest([region.seller.record(2, b.loading(loaded.cti, 30_000))], [], now_ms=T0 + 2 * HOUR)
    assert service.revoke(store, loaded.cti, actor="test", now_ms=T0 + 3 * HOUR).quota_kg == 30_000
    with pytest.raises(TicketError, match="32 hex"):
        service.parse_cti("abc")


def test_expiry_by_the_sweep_and_a_late_upload_of_a_timely_loading(
    store: Store, region: Region
) -> None:
    ticket = issue(store, valid_s=3600)
    assert store.sweep_tickets(now_ms=T0 + HOUR - 1).changed == ()
    (expired,) = store.sweep_tickets(now_ms=T0 + HOUR).changed
    assert (expired.state, expired.expired_at, expired.quota_kg) == ("expired", T0 + HOUR, 0)
    with pytest.raises(TicketStateError):
        service.revoke(store, ticket.cti, actor="test", now_ms=T0 + HOUR)
    # A gate that loaded in time while offline uploads later: the coal did leave.
    store.ingest(
        [region.seller.record(1, b.loading(ticket.cti, 34_000), ts=T0 + HOUR - 60_000)],
        [], now_ms=T0 + 5 * HOUR,
    )  # fmt: skip
    assert store.get_ticket(ticket.cti).state == "loaded"
    assert store.quota_used(b.ENTERPRISE, "2026") == 34_000


def test_double_loading_is_flagged_once(store: Store, region: Region) -> None:
    ticket = issue(store)
    first = region.seller.record(1, b.loading(ticket.cti, 34_000))
    store.ingest([first], [], now_ms=T0 + HOUR)
    second = region.seller.record(2, b.loading(ticket.cti, 33_000))
    result = store.ingest([second], [], now_ms=T0 + 2 * HOUR)
    (alarm,) = result.alarms
    assert (alarm.kind, alarm.severity, alarm.device, alarm.ref) == (
        "double_load", "alarm", region.seller.device, second.record_id
    )  # fmt: skip
    assert alarm.detail["first"] == first.record_id.hex()
    after = store.get_ticket(ticket.cti)
    assert (after.state, after.source_net_kg, after.flags) == ("loaded", 34_000, {"double_load"})
    store.ingest([region.seller.record(3, b.loading(ticket.cti, 32_000))], [], now_ms=T0 + 3 * HOUR)
    assert kinds(store) == ["double_load"]
    # A held weighing or a first pass (no net) is no loading at all.
    other = issue(store)
    held = b.loading(other.cti, 34_000, decision="hold", reasons=("overload_gross",))
    tare = b.weighing(ticket=other.cti, pass_="first", net_kg=None, tare_kg=None)
    store.ingest(
        [region.seller.record(4, held), region.seller.record(5, tare)], [], now_ms=T0 + 3 * HOUR
    )
    assert store.get_ticket(other.cti).state == "issued"


def test_a_weighing_at_a_third_site_is_flagged_wrong_site(store: Store, region: Region) -> None:
    ticket = issue(store)
    stray = region.other.record(1, b.loading(ticket.cti, 34_000))
    result = store.ingest([stray], [], now_ms=T0 + HOUR)
    (alarm,) = result.alarms
    assert (alarm.kind, alarm.site, alarm.device, alarm.ref) == (
        "wrong_site", b.OTHER_SITE, region.other.device, stray.record_id
    )  # fmt: skip
    after = store.get_ticket(ticket.cti)
    assert (after.state, after.flags) == ("issued", {"wrong_site"})
    store.ingest([region.other.record(2, b.arrival(ticket.cti, 34_000))], [], now_ms=T0 + HOUR)
    assert kinds(store) == ["wrong_site"]


def test_a_weighing_naming_an_unknown_ticket_moves_nothing(store: Store, region: Region) -> None:
    result = store.ingest([region.seller.record(1, b.loading(b"\x42" * 16, 34_000))], [], now_ms=T0)
    assert (result.outcomes, result.ticket_sites, result.alarms) == (("inserted",), frozenset(), ())


def test_a_failed_batch_moves_no_ticket(store: Store, region: Region) -> None:
    ticket = issue(store)
    store.ingest([region.seller.record(1)], [], now_ms=T0)
    store.revoke_device(region.seller.device, actor="test", at=T0)
    with pytest.raises(RevokedDuringBatchError):
        store.ingest([region.seller.record(2, b.loading(ticket.cti, 34_000))], [], now_ms=T0 + 1)
    assert store.get_ticket(ticket.cti).state == "issued"
    assert store.records(region.seller.device, after_seq=1) == []
