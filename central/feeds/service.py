"""Feeds over the store: the builders that append new journal items (credit, trucks), and the
period feeds (mu-efficiency, tax) computed on request. Time is an argument (``now_ms``).

**Builders.** :func:`refresh` reads what is new since the marks it keeps, derives the items
with the pure modules and appends them; an item derived again is not added twice (its key is
unique), so two builders may run at once and a rescan is harmless. Sources that commit in id
order (alarms) are read from their mark; records and sightings, whose order of arrival need not
be the order their transactions commit on PostgreSQL, are read again from ``RESCAN_MS`` before
their mark. The trucks builder looks at what happened from ``lookback_ms`` before its previous
run on (trips finish and tickets fall overdue up to the transit time after loading); its first
run looks at everything.

**Period feeds.** A period is served once it has ended and ``settle_ms`` has passed (edges
upload late when offline), in ascending order after the cursor (a period key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from central.errors import NotFoundError
from central.feeds import credit, efficiency, periods, tax, trucks
from central.feeds.efficiency import EfficiencyRow
from central.feeds.model import FeedItem
from central.feeds.periods import PeriodKind
from central.feeds.settings import FeedSettings
from central.feeds.tax import TaxRow
from central.store.base import Store
from central.store.model import RecordCursor, RecordQuery, StoredTicket
from wire.bodies import WeighingBody
from wire.errors import WireError
from wire.records import decode_record

RESCAN_MS = 10 * 60_000
_PAGE = 500
MARK_ALARM = "credit.alarm_id"
MARK_RECORDS = "credit.received_at"
MARK_SIGHTINGS = "credit.recorded_at"
MARK_TRUCKS = "trucks.run_at"


def _owners(store: Store) -> dict[str, str]:
    return {s.id: s.enterprise for s in store.list_sites()}


def refresh_credit(store: Store, *, now_ms: int) -> list[FeedItem]:
    """Append the credit events derived since the marks; return those added."""
    marks = store.feed_marks()
    owners = _owners(store)
    items: list[FeedItem] = []
    alarm_mark = marks.get(MARK_ALARM, 0)
    tickets: dict[str, str | None] = {}

    def seller(cti_hex: str) -> str | None:
        if cti_hex not in tickets:
            try:
                tickets[cti_hex] = store.get_ticket(bytes.fromhex(cti_hex)).seller
            except (NotFoundError, ValueError):
                tickets[cti_hex] = None
        return tickets[cti_hex]

    while page := store.alarms(after_id=alarm_mark, limit=_PAGE):
        for alarm in page:
            cti = alarm.detail.get("cti")
            owner = seller(cti) if isinstance(cti, str) else owners.get(alarm.site or "")
            if owner is not None and (item := credit.from_alarm(alarm, enterprise=owner)):
                items.append(item)
        alarm_mark = max(alarm_mark, *(a.id or 0 for a in page))
    record_mark = marks.get(MARK_RECORDS, 0)
    rescan_from = max(0, record_mark - RESCAN_MS)
    for record_type in ("event", "weighing"):
        after = RecordCursor(received_at=rescan_from, record_id=b"")
        while found := store.find_records(RecordQuery(type=record_type, after=after, limit=_PAGE)):
            for stored in found:
                owner = owners.get(stored.site)
                try:
                    record = decode_record(stored.raw)
                except WireError:
                    continue
                if owner is not None and (item := credit.from_record(record, enterprise=owner)):
                    items.append(item)
            last = found[-1]
            after = RecordCursor(received_at=last.received_at, record_id=last.record_id)
            record_mark = max(record_mark, last.received_at)
    sighting_mark = marks.get(MARK_SIGHTINGS, 0)
    for sighting in store.recent_sightings(since_ms=max(0, sighting_mark - RESCAN_MS)):
        sighting_mark = max(sighting_mark, sighting.recorded_at)
        owner = None if sighting.cti is None else seller(sighting.cti.hex())
        if owner is not None and (item := credit.from_sighting(sighting, enterprise=owner)):
            items.append(item)
    items.sort(key=lambda i: (i.at, i.key))
    return store.append_feed_items(
        items,
        now_ms=now_ms,
        marks={MARK_ALARM: alarm_mark, MARK_RECORDS: record_mark, MARK_SIGHTINGS: sighting_mark},
    )


def _tares(store: Store, *, since_ts: int) -> list[trucks.Tare]:
    tares: list[trucks.Tare] = []
    for row in store.weighing_rows(since_ts=since_ts):
        try:
            body = decode_record(row.raw).body
        except WireError:
            continue
        if not isinstance(body, WeighingBody):
            continue
        tares.append(
            trucks.Tare(
                record_id=row.record_id,
                site=row.site,
                plate=row.plate,
                ts=row.ts,
                tare_kg=body.tare_kg,
                tare_source=body.tare_source,
            )
        )
    return tares


def refresh_trucks(store: Store, settings: FeedSettings, *, now_ms: int) -> list[FeedItem]:
    """Append the trips and anomalies found in the ``lookback_ms`` before the previous run
    (everything on the first run); return those added. Within ``trucks_refresh_ms`` of the
    previous run it does nothing."""
    previous = store.feed_marks().get(MARK_TRUCKS)
    if previous is not None and now_ms - previous < settings.trucks_refresh_ms:
        return []  # ran moments ago: reading 30 days of weighings again would find nothing new
    since = min(now_ms, previous or 0) - settings.lookback_ms
    places = {
        s.id: trucks.Place(id=s.id, lat=s.lat, lon=s.lon, owner=s.enterprise)
        for s in store.list_sites()
    }
    places |= {c.id: trucks.Place(id=c.id, lat=c.lat, lon=c.lon) for c in store.list_checkpoints()}
    owners = {p.id: p.owner for p in places.values() if p.owner is not None}
    loaded: list[StoredTicket] = store.loaded_tickets(since_ms=since)
    sightings = store.recent_sightings(since_ms=since)
    items: list[FeedItem] = []
    for ticket in loaded:
        if (found := trucks.trip(ticket, sightings, places)) is not None:
            items.append(found)
        if (late := trucks.overdue(ticket, now_ms=now_ms)) is not None:
            items.append(late)
        items += trucks.impossible_travel(
            ticket, sightings, places, max_speed_kmh=settings.max_speed_kmh
        )
    items += trucks.two_in_transit(loaded)
    tares = _tares(store, since_ts=since)
    items += trucks.two_sites_at_once(tares, owners, simultaneous_ms=settings.simultaneous_ms)
    items += trucks.tare_drift(tares, owners, limit_kg=settings.tare_drift_kg)
    items = [i for i in items if i.at <= now_ms]  # an overdue item once it is due
    items.sort(key=lambda i: (i.at, i.key))
    return store.append_feed_items(items, now_ms=now_ms, marks={MARK_TRUCKS: now_ms})


def refresh(store: Store, settings: FeedSettings, *, now_ms: int) -> list[FeedItem]:
    """Both builders; the items added."""
    return [*refresh_credit(store, now_ms=now_ms), *refresh_trucks(store, settings, now_ms=now_ms)]


def scores(
    store: Store, settings: FeedSettings, *, now_ms: int, enterprises: Sequence[str]
) -> list[credit.CreditScore]:
    since = now_ms - settings.credit_window_ms
    out: list[credit.CreditScore] = []
    for enterprise in enterprises:
        events: list[FeedItem] = []
        after = 0
        while page := store.feed_items(
            "credit", after=after, limit=1000, party=enterprise, since_at=since
        ):
            events += page
            after = page[-1].id or after
        out.append(
            credit.score(
                enterprise,
                events,
                now_ms=now_ms,
                window_ms=settings.credit_window_ms,
                weights=settings.credit_weights,
            )
        )
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodPage:
    """Periods served, and where the next poll starts."""

    keys: tuple[str, ...]
    cursor: str | None  # the last period served (or the one given, if none was)
    more: bool


def period_page(
    store: Store,
    *,
    kind: PeriodKind,
    after: str | None,
    limit: int,
    now_ms: int,
    settle_ms: int,
) -> PeriodPage:
    """Up to ``limit`` ended and settled periods after ``after`` (from the first weighing's
    period when ``after`` is None)."""
    newest = periods.containing(now_ms - settle_ms, kind)  # not yet settled: this and later
    if after is None:
        first_day = store.first_weighing_day()
        if first_day is None:
            return PeriodPage(keys=(), cursor=None, more=False)
        start = periods.key_of(periods.parse(first_day, "day"), kind)
    else:
        start = periods.next_key(after, kind)
    # The period holding now - settle has not settled; every one before it has.
    settled = [k for k in periods.span(start, newest, kind) if k != newest]
    keys = tuple(settled[:limit])
    return PeriodPage(
        keys=keys,
        cursor=keys[-1] if keys else after,
        more=len(settled) > limit,
    )


def _measured(
    store: Store, settings: FeedSettings, *, kind: PeriodKind, keys: Sequence[str]
) -> dict[tuple[str, str], efficiency.Measured]:
    if not keys:
        return {}
    facts = store.tonnage_facts(
        first_day=periods.parse(keys[0], kind).isoformat(),
        last_day=periods.last_day(keys[-1], kind).isoformat(),
    )
    return efficiency.measure(facts, owners=_owners(store), kind=kind, prices=settings.prices)


def efficiency_rows(
    store: Store, settings: FeedSettings, *, kind: PeriodKind, keys: Sequence[str]
) -> list[EfficiencyRow]:
    return efficiency.rows(
        _measured(store, settings, kind=kind, keys=keys),
        enterprises=store.list_enterprises(),
        keys=keys,
        kind=kind,
        quantiles=settings.grade_quantiles,
    )


def tax_rows(store: Store, settings: FeedSettings, *, keys: Sequence[str]) -> list[TaxRow]:
    if not keys:
        return []
    declared = store.tax_declarations(first_period=keys[0], last_period=keys[-1])
    return tax.compare(
        _measured(store, settings, kind="month", keys=keys),
        declared,
        enterprises=[e.id for e in store.list_enterprises()],
        keys=keys,
    )
