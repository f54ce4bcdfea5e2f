"""The feeds over a real store (SQLite and PostgreSQL): the journal's cursor, the builders on
records really signed and ingested, CST days, tax declarations, the webhook outbox. Expected
answers are written out by hand."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from central.feeds import service
from central.feeds.model import FeedItem, FeedName, TaxDeclaration
from central.feeds.settings import FeedSettings, PriceTable
from central.store.base import Store
from central.store.model import Alarm, Sighting
from central.store.sqlite import SqliteStore
from central.ticketing import service as ticketing
from tests.central import builders as b
from tests.central.builders import BUYER, DEST_SITE, ENTERPRISE, HOUR, OTHER_SITE, SITE, T0, Region
from tests.wire import factories
from wire.bodies import EventBody

KEYRING = b.central_keyring()
ISSUER = "yulin-energy-bureau"
SETTINGS = FeedSettings(prices=PriceTable(yuan_per_t={"5500kcal-lump": 820}, default=600))


def _item(n: int, feed: FeedName = "credit", party: str = "a") -> FeedItem:
    return FeedItem(
        feed=feed,
        key=f"test:{n}",
        kind="escape",
        subject=party,
        at=T0 + n,
        body={"n": n},
        enterprise=party,
        parties=(party,),
    )


def _poll(
    store: Store, after: int, *, limit: int = 3, party: str | None = None
) -> tuple[list[int], int]:
    """Every page from ``after`` on, as a platform polls; the numbers seen and the new cursor."""
    seen: list[int] = []
    while page := store.feed_items("credit", after=after, limit=limit, party=party):
        seen += [i.body["n"] for i in page]
        after = page[-1].id or after
    return seen, after


def test_polling_with_the_cursor_misses_and_repeats_nothing(store: Store) -> None:
    added = store.append_feed_items([_item(n) for n in range(1, 8)], now_ms=T0)
    assert [i.body["n"] for i in added] == list(range(1, 8))
    first, cursor = _poll(store, 0)
    assert first == [1, 2, 3, 4, 5, 6, 7]
    # Items derived again add nothing; new ones come after the cursor, whatever their time.
    again = store.append_feed_items([_item(n) for n in (3, 8, 9, 0)], now_ms=T0 + 1)
    assert [i.body["n"] for i in again] == [8, 9, 0]
    second, cursor = _poll(store, cursor)
    assert second == [8, 9, 0]
    assert _poll(store, cursor) == ([], cursor)
    store.append_feed_items([_item(10, party="b"), _item(11)], now_ms=T0 + 2)
    assert _poll(store, cursor, party="b")[0] == [10]
    assert _poll(store, cursor, party="a")[0] == [11]
    assert store.feed_items("trucks") == []


def _ingest(store: Store, *records: object, now: int) -> None:
    store.ingest([b.incoming(r) for r in records], [], now_ms=now)  # type: ignore[arg-type]


def test_cst_days_split_at_1600_utc_and_prices_come_from_the_ticket(store: Store) -> None:
    region = Region().register(store)
    issued = ticketing.issue(
        store, KEYRING, b.ticket_request(), issuer=ISSUER, now_ms=T0 - 20 * HOUR, actor="test"
    )
    seller = region.seller
    before = b.utc_ms("2026-11-30T15:59:59")  # 23:59:59 CST, 30 Nov
    after = b.utc_ms("2026-11-30T16:00:00")  # 00:00:00 CST, 1 Dec
    _ingest(
        store,
        seller.sign(1, b.loading(issued.ticket.cti, 34_000), ts=before),
        seller.sign(2, b.weighing(ticket=None, net_kg=10_000), ts=after),
        now=after + HOUR,
    )
    days = [
        (f.day, f.coal, f.net_kg)
        for f in store.tonnage_facts(first_day="2026-11-01", last_day="2026-12-31")
    ]
    assert days == [("2026-11-30", "5500kcal-lump", 34_000), ("2026-12-01", None, 10_000)]
    assert store.first_weighing_day() == "2026-11-30"
    rows = service.efficiency_rows(store, SETTINGS, kind="day", keys=["2026-11-30", "2026-12-01"])
    seller_rows = [
        (r.period, r.sold_kg, r.value_yuan, r.rank) for r in rows if r.enterprise == ENTERPRISE
    ]
    # 34 t x 820 = 27,880 yuan; 10 t x 600 (no ticket: default price) = 6,000 yuan
    assert seller_rows == [("2026-11-30", 34_000, 27_880, 1), ("2026-12-01", 10_000, 6_000, 1)]
    months = service.period_page(
        store,
        kind="month",
        after=None,
        limit=5,
        now_ms=b.utc_ms("2027-01-02T00:00:00"),
        settle_ms=86_400_000,
    )
    # December ends 2026-12-31T16:00Z; settled one day later: 2027-01-01T16:00Z < now
    assert (months.keys, months.cursor, months.more) == (("2026-11", "2026-12"), "2026-12", False)
    early = service.period_page(
        store,
        kind="month",
        after="2026-11",
        limit=5,
        now_ms=b.utc_ms("2027-01-01T15:59:59"),
        settle_ms=86_400_000,
    )
    assert (early.keys, early.cursor) == ((), "2026-11")


def test_tax_declarations_are_idempotent_and_audited(store: Store) -> None:
    Region().register(store)
    first = TaxDeclaration(
        enterprise=ENTERPRISE, period="2026-11", sold_kg=30_000, value_yuan=24_600
    )
    other = TaxDeclaration(enterprise=BUYER, period="2026-11", sold_kg=0, value_yuan=0)
    assert store.put_tax_declarations([first, other], actor="t", at=T0) == ["added", "added"]
    assert store.put_tax_declarations([first, other], actor="t", at=T0 + 1) == ["unchanged"] * 2
    changed = dataclasses.replace(first, sold_kg=34_000)
    assert store.put_tax_declarations([changed], actor="t2", at=T0 + 2) == ["replaced"]
    stored = store.tax_declarations(
        first_period="2026-11", last_period="2026-11", enterprise=ENTERPRISE
    )
    assert stored == [dataclasses.replace(changed, submitted_at=T0 + 2, submitted_by="t2")]
    declared = [e for e in store.audit_log() if e.action == "tax.declare"]
    assert [e.detail["outcome"] for e in declared] == ["replaced", "added", "added"]


def test_credit_events_come_from_records_alarms_and_sightings(store: Store) -> None:
    region = Region().register(store)
    store.add_checkpoint(b.checkpoint(), actor="test", at=T0)
    checkpoint_token = store.add_token(
        digest=b"\x05" * 32, role="checkpoint", checkpoint="cp-yulin-north", actor="t", at=T0
    )
    issued = ticketing.issue(
        store, KEYRING, b.ticket_request(), issuer=ISSUER, now_ms=T0, actor="t"
    )
    cti = issued.ticket.cti
    seller = region.seller
    override = EventBody(lane="lane-1", kind="override", severity="warning", detail={}, ref=None)
    records = [
        seller.sign(1, b.escape_event(), ts=T0 + HOUR),
        seller.sign(
            2,
            b.weighing(decision="hold", reasons=("overload_gross",), net_kg=None),
            ts=T0 + 2 * HOUR,
        ),
        seller.sign(3, override, ts=T0 + 3 * HOUR),
        seller.sign(4, factories.status(), ts=T0 + 4 * HOUR),  # nothing
        seller.sign(5, b.loading(cti, 34_000), ts=T0 + 5 * HOUR),  # released: nothing
    ]
    _ingest(store, *records, now=T0 + 6 * HOUR)
    store.raise_alarms(
        [
            Alarm(
                kind="device_offline",
                severity="warning",
                raised_at=T0 + 7 * HOUR,
                device=seller.device,
                site=SITE,
            )
        ]
    )
    added = service.refresh_credit(store, now_ms=T0 + 8 * HOUR)
    got = [(i.kind, i.enterprise, i.key) for i in added]
    assert got == [
        ("escape", ENTERPRISE, f"record:{records[0].id.hex()}"),
        ("overload_attempt", ENTERPRISE, f"record:{records[1].id.hex()}"),
        ("manual_override", ENTERPRISE, f"record:{records[2].id.hex()}"),
        ("device_offline", ENTERPRISE, got[3][2]),
    ]
    assert added[0].body["evidence"][0]["url"] == f"/api/v1/records/{records[0].id.hex()}"
    assert service.refresh_credit(store, now_ms=T0 + 9 * HOUR) == []  # nothing new
    # Later: the ticket is shown again at a checkpoint after it arrived; the destination's
    # inbound net differs from the source's (discrepancy, the seller's event).
    _ingest(
        store, region.dest.sign(1, b.arrival(cti, 30_000), ts=T0 + 10 * HOUR), now=T0 + 10 * HOUR
    )
    store.add_sighting(
        Sighting(
            checkpoint="cp-yulin-north",
            token=checkpoint_token.id,
            kind="ticket",
            cti=cti,
            plate=b.PLATE,
            seen_at=T0 + 11 * HOUR,
            recorded_at=T0 + 11 * HOUR,
            valid=True,
            ticket_state="closed",
        )
    )
    later = service.refresh_credit(store, now_ms=T0 + 12 * HOUR)
    assert [(i.kind, i.enterprise) for i in later] == [
        ("discrepancy", ENTERPRISE),
        ("reused_ticket", ENTERPRISE),
    ]
    (score,) = service.scores(store, SETTINGS, now_ms=T0 + 12 * HOUR, enterprises=[ENTERPRISE])
    # escape 10 + overload 5 + override 1 + offline 2 + discrepancy 5 + reused 10 = 33
    assert score.score == 67
    assert {line.kind: line.count for line in score.lines if line.count} == {
        "escape": 1,
        "overload_attempt": 1,
        "manual_override": 1,
        "device_offline": 1,
        "discrepancy": 1,
        "reused_ticket": 1,
    }
    assert service.scores(store, SETTINGS, now_ms=T0, enterprises=[BUYER])[0].score == 100


def test_trucks_feed_trips_and_anomalies(store: Store) -> None:
    region = Region().register(store)
    store.add_checkpoint(b.checkpoint(), actor="test", at=T0)
    token = store.add_token(
        digest=b"\x06" * 32, role="checkpoint", checkpoint="cp-yulin-north", actor="t", at=T0
    )
    first = ticketing.issue(store, KEYRING, b.ticket_request(), issuer=ISSUER, now_ms=T0, actor="t")
    second = ticketing.issue(
        store, KEYRING, b.ticket_request(), issuer=ISSUER, now_ms=T0 + 1, actor="t"
    )
    one, two = first.ticket.cti, second.ticket.cti
    seller, dest, other = region.seller, region.dest, region.other
    weighed = {"tare_source": "weighed", "pass_": "second"}
    loading_one = seller.sign(1, b.loading(one, 34_000, tare_kg=15_020, **weighed), ts=T0 + HOUR)
    loading_two = seller.sign(
        2, b.loading(two, 33_000, tare_kg=15_020, **weighed), ts=T0 + 2 * HOUR
    )
    arrival_one = dest.sign(1, b.arrival(one, 34_000, tare_kg=15_500, **weighed), ts=T0 + 4 * HOUR)
    # the same plate at a third site 5 minutes after its arrival at the destination
    elsewhere = other.sign(1, b.weighing(ticket=None, net_kg=1_000), ts=T0 + 4 * HOUR + 300_000)
    _ingest(store, loading_one, loading_two, arrival_one, elsewhere, now=T0 + 5 * HOUR)
    store.add_sighting(
        Sighting(
            checkpoint="cp-yulin-north",
            token=token.id,
            kind="ticket",
            cti=one,
            plate=b.PLATE,
            seen_at=T0 + 3 * HOUR,
            recorded_at=T0 + 3 * HOUR,
            valid=True,
            ticket_state="loaded",
        )
    )
    settings = dataclasses.replace(SETTINGS, max_speed_kmh=100)
    added = service.refresh_trucks(store, settings, now_ms=T0 + 6 * HOUR)
    got = sorted((i.kind, i.key) for i in added)
    assert got == sorted(
        [
            ("trip", f"trip:{one.hex()}"),
            ("two_in_transit", f"two_in_transit:{one.hex()}:{two.hex()}"),
            ("two_sites_at_once", f"two_sites:{arrival_one.id.hex()}:{elsewhere.id.hex()}"),
            ("tare_drift", f"tare_drift:{loading_two.id.hex()}:{arrival_one.id.hex()}"),
        ]
    )
    (trip,) = [i for i in added if i.kind == "trip"]
    assert [(p["kind"], p["place"], p["at"]) for p in trip.body["points"]] == [
        ("loading", SITE, T0 + HOUR),
        ("sighting", "cp-yulin-north", T0 + 3 * HOUR),
        ("arrival", DEST_SITE, T0 + 4 * HOUR),
    ]
    assert trip.parties == (BUYER, ENTERPRISE)
    assert service.refresh_trucks(store, settings, now_ms=T0 + 7 * HOUR) == []
    # The second ticket's transit time (48 h) runs out: overdue, once.
    due = T0 + 2 * HOUR + 48 * HOUR
    late = service.refresh_trucks(store, settings, now_ms=due + 1)
    assert [(i.kind, i.key, i.at) for i in late] == [("overdue", f"overdue:{two.hex()}", due)]
    assert store.feed_items("trucks", party=OTHER_SITE) == []


def test_webhook_outbox_queues_retries_and_counts(store: Store) -> None:
    Region().register(store)
    token = store.add_token(digest=b"\x07" * 32, role="platform", actor="t", at=T0)
    mine = store.add_token(
        digest=b"\x08" * 32, role="enterprise", enterprise="mg-metal-b", actor="t", at=T0
    )
    everything = store.add_webhook(
        token=token.id,
        enterprise=None,
        feed="credit",
        url="http://x/1",
        secret="s" * 20,
        actor="t",
        at=T0,
    )
    own = store.add_webhook(
        token=mine.id,
        enterprise="mg-metal-b",
        feed="credit",
        url="http://x/2",
        secret="t" * 20,
        actor="t",
        at=T0,
    )
    trucks_only = store.add_webhook(
        token=token.id,
        enterprise=None,
        feed="trucks",
        url="http://x/3",
        secret="u" * 20,
        actor="t",
        at=T0,
    )
    assert store.webhook_backlog() == 0
    store.append_feed_items([_item(1, party=ENTERPRISE), _item(2, party="mg-metal-b")], now_ms=T0)
    due = store.due_deliveries(now_ms=T0)
    assert [(d.webhook.id, d.item.body["n"]) for d in due] == [
        (everything.id, 1),
        (everything.id, 2),
        (own.id, 2),
    ]
    assert store.webhook_backlog() == 3
    store.retry_delivery(due[0].id, next_at=T0 + 1_000, error="HTTP 500")
    store.finish_delivery(due[1].id, at=T0)
    store.finish_delivery(due[1].id, at=T0 + 5)  # once only
    assert [d.id for d in store.due_deliveries(now_ms=T0 + 999)] == [due[2].id]
    retried = store.due_deliveries(now_ms=T0 + 1_000)
    assert [(d.id, d.attempts, d.last_error) for d in retried] == [
        (due[0].id, 1, "HTTP 500"),
        (due[2].id, 0, None),
    ]
    assert store.webhook_backlog() == 2
    store.delete_webhook(own.id, token=mine.id, actor="t", at=T0)
    assert store.webhook_backlog() == 1
    assert [h.id for h in store.list_webhooks(token=token.id)] == [everything.id, trucks_only.id]


@settings(max_examples=25, deadline=None)
@given(
    plan=st.lists(
        st.tuples(st.lists(st.integers(0, 40), max_size=6), st.integers(1, 4)),
        min_size=1,
        max_size=8,
    )
)
def test_any_interleaving_of_appends_and_polls_delivers_each_item_once(
    plan: list[tuple[list[int], int]],
) -> None:
    """Items (some derived again) appended between polls of any page size: the platform sees
    every distinct item exactly once, in the order they were first appended."""
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "central.db")
        try:
            store.migrate()
            cursor, seen, expected = 0, [], []
            for numbers, limit in plan:
                store.append_feed_items([_item(n) for n in numbers], now_ms=T0)
                expected += [n for n in dict.fromkeys(numbers) if n not in expected]
                page_seen, cursor = _poll(store, cursor, limit=limit)
                seen += page_seen
            assert seen == expected
        finally:
            store.close()
