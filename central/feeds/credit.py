"""The credit feed: per-enterprise events with evidence links, and a transparent score.

Pure: the service resolves whose event it is (the enterprise owning the site, or a ticket's
seller) and passes it in. Each event is derived from exactly one stored thing, named by the
item's ``key``, so deriving it again adds nothing:

=====================  ==========================================  ==================
source                 what                                        kind
=====================  ==========================================  ==================
event record           ``escape``, ``exit_without_session``,       ``escape``
                       ``barrier_forced``
event record           ``tamper_*``, ``calibration_changed``       ``tamper``
event record           ``override``                                ``manual_override``
weighing ``hold``      ``overload_gross``, ``over_ticket_max``     ``overload_attempt``
weighing ``hold``      ``ticket_bad_signature``                    ``forged_ticket``
weighing ``hold``      ``ticket_used``, ``ticket_wrong_site``      ``reused_ticket``
weighing ``hold``      ``ticket_expired``, ``ticket_revoked``      ``expired_ticket``
alarm                  ``discrepancy``                             ``discrepancy``
alarm                  ``double_load``                             ``reused_ticket``
alarm                  ``equivocation``                            ``equivocation``
alarm                  ``device_offline``                          ``device_offline``
alarm                  ``gap``                                     ``record_gap``
checkpoint sighting    QR that did not verify                      ``forged_ticket``
checkpoint sighting    ticket already ``arrived``/``closed``       ``reused_ticket``
checkpoint sighting    ticket ``expired``/``revoked``              ``expired_ticket``
=====================  ==========================================  ==================

Score (docs/feeds.md): 100 minus, for every event of the enterprise whose ``at`` lies in the
rolling window ``[now - window, now]``, the weight of its kind; never below 0. The answer lists
every kind with its weight, count, points and the ids of the events counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from central.feeds.model import FeedItem
from central.store.model import Alarm, Sighting
from wire.bodies import EventBody, WeighingBody
from wire.records import Record

EDGE_EVENT_KINDS: Mapping[str, str] = {
    "escape": "escape",
    "exit_without_session": "escape",
    "barrier_forced": "escape",
    "tamper_step": "tamper",
    "tamper_zero_drift": "tamper",
    "tamper_beams": "tamper",
    "calibration_changed": "tamper",
    "override": "manual_override",
}
HOLD_REASONS: tuple[tuple[str, str], ...] = (
    # In this order: the first reason found names the event.
    ("ticket_bad_signature", "forged_ticket"),
    ("ticket_used", "reused_ticket"),
    ("ticket_wrong_site", "reused_ticket"),  # another mine's ticket: used where it is not valid
    ("overload_gross", "overload_attempt"),
    ("over_ticket_max", "overload_attempt"),
    ("ticket_expired", "expired_ticket"),
    ("ticket_revoked", "expired_ticket"),
)
ALARM_KINDS: Mapping[str, str] = {
    "discrepancy": "discrepancy",
    "double_load": "reused_ticket",
    "equivocation": "equivocation",
    "device_offline": "device_offline",
    "gap": "record_gap",
}
START = 100


def record_link(record_id: bytes) -> dict[str, str]:
    hexid = record_id.hex()
    return {"type": "record", "id": hexid, "url": f"/api/v1/records/{hexid}"}


def ticket_link(cti_hex: str) -> dict[str, str]:
    return {"type": "ticket", "id": cti_hex, "url": f"/api/v1/tickets/{cti_hex}"}


def _item(
    *,
    key: str,
    kind: str,
    enterprise: str,
    at: int,
    site: str | None,
    device: str | None,
    detail: dict[str, Any],
    evidence: list[dict[str, str]],
) -> FeedItem:
    body = {
        "kind": kind,
        "enterprise": enterprise,
        "at": at,
        "site": site,
        "device": device,
        "detail": detail,
        "evidence": evidence,
    }
    return FeedItem(
        feed="credit",
        key=key,
        kind=kind,
        subject=enterprise,
        at=at,
        body=body,
        enterprise=enterprise,
        parties=(enterprise,),
    )


def from_record(record: Record, *, enterprise: str) -> FeedItem | None:
    """The credit event an event or held weighing record makes, if any."""
    body = record.body
    kind: str | None = None
    detail: dict[str, Any] = {}
    evidence = [record_link(record.id)]
    if isinstance(body, EventBody):
        kind = EDGE_EVENT_KINDS.get(body.kind)
        detail = {"event": body.kind, "severity": body.severity, "lane": body.lane}
        if body.ref is not None:
            evidence.append(record_link(body.ref))
    elif isinstance(body, WeighingBody) and body.decision == "hold":
        kind = next((k for reason, k in HOLD_REASONS if reason in body.reasons), None)
        detail = {
            "reasons": list(body.reasons),
            "plate": body.plate,
            "gross_kg": body.gross_kg,
            "direction": body.direction,
            "lane": body.lane,
        }
        if body.ticket is not None:
            evidence.append(ticket_link(body.ticket.hex()))
        evidence.append(record_link(body.evidence))
    if kind is None:
        return None
    return _item(
        key=f"record:{record.id.hex()}",
        kind=kind,
        enterprise=enterprise,
        at=record.ts,
        site=record.site,
        device=record.device,
        detail=detail,
        evidence=evidence,
    )


def from_alarm(alarm: Alarm, *, enterprise: str) -> FeedItem | None:
    """The credit event a central alarm makes, if any."""
    kind = ALARM_KINDS.get(alarm.kind)
    if kind is None or alarm.id is None:
        return None
    evidence = [
        {
            "type": "alarm",
            "id": str(alarm.id),
            "url": f"/api/v1/alarms?after={alarm.id - 1}&limit=1",
        }
    ]
    if alarm.ref is not None and alarm.kind != "quarantine":
        evidence.append(record_link(alarm.ref))
    cti = alarm.detail.get("cti")
    if isinstance(cti, str):
        evidence.append(ticket_link(cti))
    return _item(
        key=f"alarm:{alarm.id}",
        kind=kind,
        enterprise=enterprise,
        at=alarm.raised_at,
        site=alarm.site,
        device=alarm.device,
        detail={"alarm": alarm.kind, **alarm.detail},
        evidence=evidence,
    )


def from_sighting(sighting: Sighting, *, enterprise: str) -> FeedItem | None:
    """The credit event a checkpoint sighting of a bad ticket makes (the ticket's seller's)."""
    if sighting.cti is None or sighting.valid is None or sighting.id is None:
        return None
    if not sighting.valid:
        kind = "forged_ticket"
    elif sighting.ticket_state in ("arrived", "closed"):
        kind = "reused_ticket"
    elif sighting.ticket_state in ("expired", "revoked"):
        kind = "expired_ticket"
    else:
        return None
    cti = sighting.cti.hex()
    evidence = [
        {"type": "sighting", "id": str(sighting.id), "url": f"/api/v1/sightings?cti={cti}"},
        ticket_link(cti),
    ]
    detail = {
        "checkpoint": sighting.checkpoint,
        "plate": sighting.plate,
        "valid": sighting.valid,
        "reason": sighting.reason,
        "ticket_state": sighting.ticket_state,
    }
    return _item(
        key=f"sighting:{sighting.id}",
        kind=kind,
        enterprise=enterprise,
        at=sighting.seen_at,
        site=None,
        device=None,
        detail=detail,
        evidence=evidence,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreLine:
    kind: str
    weight: int
    count: int
    points: int
    events: tuple[int, ...]  # feed item ids


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditScore:
    enterprise: str
    score: int
    start: int
    since: int
    until: int
    lines: tuple[ScoreLine, ...]


def score(
    enterprise: str,
    events: Sequence[FeedItem],
    *,
    now_ms: int,
    window_ms: int,
    weights: Mapping[str, int],
) -> CreditScore:
    """The score of ``enterprise`` at ``now_ms`` (module docstring); ``events`` may hold
    others' and older events, they are left out."""
    since = now_ms - window_ms
    counted: dict[str, list[int]] = {kind: [] for kind in weights}
    for event in events:
        if event.enterprise != enterprise or not since <= event.at <= now_ms:
            continue
        if event.kind in counted and event.id is not None:
            counted[event.kind].append(event.id)
    lines = tuple(
        ScoreLine(
            kind=kind,
            weight=weights[kind],
            count=len(ids),
            points=weights[kind] * len(ids),
            events=tuple(sorted(ids)),
        )
        for kind, ids in counted.items()
    )
    total = sum(line.points for line in lines)
    return CreditScore(
        enterprise=enterprise,
        score=max(0, START - total),
        start=START,
        since=since,
        until=now_ms,
        lines=lines,
    )
