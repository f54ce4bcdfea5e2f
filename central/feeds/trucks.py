"""The truck monitoring feed: per plate, trips (loading → checkpoint sightings → arrival) and
anomalies. Pure: tickets, sightings, weighings, places and ``now_ms`` in; feed items out.

Items (each derived once, by its key):

- ``trip`` (``trip:<cti>``), when the ticket has arrived: the points with their times and
  evidence;
- ``overdue`` (``overdue:<cti>``): loaded, and not arrived within ``transit_s`` (or arrived
  later than that);
- ``impossible_travel`` (``impossible_travel:<cti>:<n>``): leg n of a trip (loading site →
  checkpoints → destination, in time order) covered faster than ``max_speed_kmh`` in a straight
  line (great-circle distance: any road is longer, so the truck cannot have done it); legs
  without coordinates at both ends are not judged;
- ``two_in_transit`` (``two_in_transit:<cti a>:<cti b>``): one plate loaded on a second ticket
  while the first was in transit (loaded, not yet arrived, within its transit time);
- ``two_sites_at_once`` (``two_sites:<record a>:<record b>``): one plate weighed at two
  different sites less than ``simultaneous_ms`` apart;
- ``tare_drift`` (``tare_drift:<record a>:<record b>``): two weighed tares (``tare_source``
  ``weighed``) of one plate at different sites, one after the other, differing by more than
  ``tare_drift_kg``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from central.feeds.credit import record_link, ticket_link
from central.feeds.model import FeedItem
from central.store.model import Sighting, StoredTicket

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    id: str
    lat: float | None
    lon: float | None
    owner: str | None = None  # the enterprise of a site; None for a checkpoint


@dataclass(frozen=True, slots=True, kw_only=True)
class Tare:
    """A weighing's tare, decoded from its record."""

    record_id: bytes
    site: str
    plate: str
    ts: int
    tare_kg: int | None
    tare_source: str | None


def distance_km(a: Place, b: Place) -> float | None:
    """Great-circle distance (haversine), or None without coordinates at both ends."""
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return None
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _parties(ticket: StoredTicket) -> tuple[str, ...]:
    return tuple(sorted({ticket.seller, ticket.buyer}))


def _trip_sightings(ticket: StoredTicket, sightings: Sequence[Sighting]) -> list[Sighting]:
    """Sightings of this ticket, or of its plate, between loading and arrival."""
    assert ticket.loaded_at is not None
    end = ticket.arrived_at if ticket.arrived_at is not None else math.inf
    return sorted(
        (
            s
            for s in sightings
            if (s.cti == ticket.cti or (s.cti is None and s.plate == ticket.plate))
            and ticket.loaded_at <= s.seen_at <= end
        ),
        key=lambda s: (s.seen_at, s.id or 0),
    )


def points(
    ticket: StoredTicket, sightings: Sequence[Sighting], places: Mapping[str, Place]
) -> list[dict[str, Any]]:
    """The trip's points in time order: loading, sightings, arrival (if arrived)."""
    assert ticket.loaded_at is not None
    out: list[dict[str, Any]] = []

    def add(kind: str, place: str, at: int, evidence: dict[str, str] | None) -> None:
        where = places.get(place)
        out.append(
            {
                "kind": kind,
                "place": place,
                "at": at,
                "lat": where.lat if where else None,
                "lon": where.lon if where else None,
                "evidence": evidence,
            }
        )

    loaded = None if ticket.loaded_record is None else record_link(ticket.loaded_record)
    add("loading", ticket.seller_site, ticket.loaded_at, loaded)
    for s in _trip_sightings(ticket, sightings):
        link = {"type": "sighting", "id": str(s.id), "url": f"/api/v1/sightings?cti={ticket.id}"}
        add("sighting", s.checkpoint, s.seen_at, link)
    if ticket.arrived_at is not None:
        arrived = None if ticket.arrived_record is None else record_link(ticket.arrived_record)
        add("arrival", ticket.dest_site, ticket.arrived_at, arrived)
    return out


def trip(
    ticket: StoredTicket, sightings: Sequence[Sighting], places: Mapping[str, Place]
) -> FeedItem | None:
    """The ``trip`` item of an arrived ticket (None before arrival)."""
    if ticket.loaded_at is None or ticket.arrived_at is None:
        return None
    body = {
        "plate": ticket.plate,
        "ticket": ticket.id,
        "no": ticket.no,
        "seller": ticket.seller,
        "buyer": ticket.buyer,
        "seller_site": ticket.seller_site,
        "dest_site": ticket.dest_site,
        "coal": ticket.coal,
        "state": ticket.state,
        "flags": sorted(ticket.flags),
        "loaded_at": ticket.loaded_at,
        "arrived_at": ticket.arrived_at,
        "duration_ms": ticket.arrived_at - ticket.loaded_at,
        "source_net_kg": ticket.source_net_kg,
        "dest_net_kg": ticket.dest_net_kg,
        "points": points(ticket, sightings, places),
        "evidence": [ticket_link(ticket.id)],
    }
    return FeedItem(
        feed="trucks",
        key=f"trip:{ticket.id}",
        kind="trip",
        subject=ticket.plate,
        at=ticket.arrived_at,
        body=body,
        parties=_parties(ticket),
    )


def _anomaly(
    kind: str, key: str, *, plate: str, at: int, parties: Sequence[str], **body: Any
) -> FeedItem:
    return FeedItem(
        feed="trucks",
        key=key,
        kind=kind,
        subject=plate,
        at=at,
        body={"kind": kind, "plate": plate, **body},
        parties=tuple(sorted(set(parties))),
    )


def overdue(ticket: StoredTicket, *, now_ms: int) -> FeedItem | None:
    if ticket.loaded_at is None:
        return None
    due = ticket.loaded_at + ticket.transit_s * 1000
    late = (ticket.arrived_at is None and now_ms > due and ticket.state == "loaded") or (
        ticket.arrived_at is not None and ticket.arrived_at > due
    )
    if not late and "overdue" not in ticket.flags:
        return None
    return _anomaly(
        "overdue",
        f"overdue:{ticket.id}",
        plate=ticket.plate,
        at=due,
        parties=_parties(ticket),
        ticket=ticket.id,
        loaded_at=ticket.loaded_at,
        due_at=due,
        arrived_at=ticket.arrived_at,
        evidence=[ticket_link(ticket.id)],
    )


def impossible_travel(
    ticket: StoredTicket,
    sightings: Sequence[Sighting],
    places: Mapping[str, Place],
    *,
    max_speed_kmh: int,
) -> list[FeedItem]:
    if ticket.loaded_at is None:
        return []
    found: list[FeedItem] = []
    route = points(ticket, sightings, places)
    for number, (a, b) in enumerate(pairwise(route), start=1):
        km = distance_km(places.get(a["place"]) or _NOWHERE, places.get(b["place"]) or _NOWHERE)
        if km is None or a["place"] == b["place"]:
            continue
        hours = (b["at"] - a["at"]) / 3_600_000
        if km > max_speed_kmh * max(hours, 0.0):
            speed = None if hours <= 0 else round(km / hours, 1)
            found.append(
                _anomaly(
                    "impossible_travel",
                    f"impossible_travel:{ticket.id}:{number}",
                    plate=ticket.plate,
                    at=b["at"],
                    parties=_parties(ticket),
                    ticket=ticket.id,
                    leg=number,
                    start=a,
                    end=b,
                    distance_km=round(km, 1),
                    minutes=round(hours * 60, 1),
                    speed_kmh=speed,
                    max_speed_kmh=max_speed_kmh,
                    evidence=[e for e in (a["evidence"], b["evidence"]) if e],
                )
            )
    return found


_NOWHERE = Place(id="", lat=None, lon=None)


def _transit_end(ticket: StoredTicket) -> float:
    assert ticket.loaded_at is not None
    if ticket.arrived_at is not None:
        return ticket.arrived_at
    if ticket.state == "loaded":
        return ticket.loaded_at + ticket.transit_s * 1000
    return ticket.loaded_at  # revoked or otherwise ended: no longer in transit


def two_in_transit(tickets: Sequence[StoredTicket]) -> list[FeedItem]:
    """Pairs of one plate's tickets whose transit times overlap (the later loaded while the
    earlier was in transit)."""
    loaded = sorted(
        (t for t in tickets if t.loaded_at is not None),
        key=lambda t: (t.plate, t.loaded_at or 0, t.cti),
    )
    found: list[FeedItem] = []
    for i, first in enumerate(loaded):
        for second in loaded[i + 1 :]:
            if second.plate != first.plate:
                break
            assert first.loaded_at is not None
            assert second.loaded_at is not None
            if second.loaded_at < _transit_end(first):
                found.append(
                    _anomaly(
                        "two_in_transit",
                        f"two_in_transit:{first.id}:{second.id}",
                        plate=first.plate,
                        at=second.loaded_at,
                        parties=[*_parties(first), *_parties(second)],
                        tickets=[first.id, second.id],
                        loaded_at=[first.loaded_at, second.loaded_at],
                        evidence=[ticket_link(first.id), ticket_link(second.id)],
                    )
                )
    return found


def two_sites_at_once(
    tares: Sequence[Tare], owners: Mapping[str, str], *, simultaneous_ms: int
) -> list[FeedItem]:
    """Consecutive weighings of one plate at different sites less than ``simultaneous_ms``
    apart."""
    found: list[FeedItem] = []
    ordered = sorted(tares, key=lambda t: (t.plate, t.ts, t.record_id))
    for a, b in pairwise(ordered):
        if a.plate != b.plate or a.site == b.site or b.ts - a.ts >= simultaneous_ms:
            continue
        found.append(
            _anomaly(
                "two_sites_at_once",
                f"two_sites:{a.record_id.hex()}:{b.record_id.hex()}",
                plate=a.plate,
                at=b.ts,
                parties=[p for p in (owners.get(a.site), owners.get(b.site)) if p],
                sites=[a.site, b.site],
                at_ms=[a.ts, b.ts],
                minutes=round((b.ts - a.ts) / 60_000, 1),
                evidence=[record_link(a.record_id), record_link(b.record_id)],
            )
        )
    return found


def tare_drift(
    tares: Sequence[Tare], owners: Mapping[str, str], *, limit_kg: int
) -> list[FeedItem]:
    """Consecutive weighed tares of one plate at different sites differing by more than
    ``limit_kg``."""
    found: list[FeedItem] = []
    weighed = sorted(
        (t for t in tares if t.tare_source == "weighed" and t.tare_kg is not None),
        key=lambda t: (t.plate, t.ts, t.record_id),
    )
    for a, b in pairwise(weighed):
        assert a.tare_kg is not None
        assert b.tare_kg is not None
        if a.plate != b.plate or a.site == b.site or abs(b.tare_kg - a.tare_kg) <= limit_kg:
            continue
        found.append(
            _anomaly(
                "tare_drift",
                f"tare_drift:{a.record_id.hex()}:{b.record_id.hex()}",
                plate=a.plate,
                at=b.ts,
                parties=[p for p in (owners.get(a.site), owners.get(b.site)) if p],
                sites=[a.site, b.site],
                tare_kg=[a.tare_kg, b.tare_kg],
                drift_kg=b.tare_kg - a.tare_kg,
                limit_kg=limit_kg,
                evidence=[record_link(a.record_id), record_link(b.record_id)],
            )
        )
    return found
