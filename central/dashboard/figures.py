"""What the dashboard pages show, computed from store values: pure (time is an argument).

Days are China Standard Time days, the regulators' day (as the store's tonnage rollup).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from central.store.model import DailyTonnage, DeviceStatus, StoredRecord, StoredTicket
from central.ticketing.policy import QuotaPolicy, Tolerance

SILENT_MS = 10 * 60_000
"""A device online by its MQTT status but with nothing received for this long is ``silent``
(edges send a signed heartbeat every minute or so)."""
_CST = timedelta(hours=8)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cst_day(ts_ms: int) -> date:
    return (_EPOCH + timedelta(milliseconds=ts_ms) + _CST).date()


def cst_days(now_ms: int, count: int) -> list[str]:
    """The ``count`` China Standard Time days ending today, oldest first (``YYYY-MM-DD``)."""
    today = cst_day(now_ms)
    return [(today - timedelta(days=back)).isoformat() for back in range(count - 1, -1, -1)]


def daily_series(
    rows: Iterable[DailyTonnage], days: Sequence[str], *, direction: str
) -> dict[str, list[int]]:
    """Net kg per site and day (zero where nothing was weighed) for one direction."""
    index = {day: i for i, day in enumerate(days)}
    series: dict[str, list[int]] = {}
    for row in rows:
        if row.direction != direction or row.day not in index:
            continue
        series.setdefault(row.site, [0] * len(days))[index[row.day]] += row.net_kg
    return series


def period_days(policy: QuotaPolicy, now_ms: int) -> int:
    """How many days the quota period holding ``now_ms`` has (365/366, or the month's)."""
    day = cst_day(now_ms)
    if policy.period == "year":
        return (date(day.year + 1, 1, 1) - date(day.year, 1, 1)).days
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return (following - date(day.year, day.month, 1)).days


def device_health(
    status: DeviceStatus | None, last_seen: int | None, *, state: str, now_ms: int
) -> str:
    """``revoked``, ``offline`` (its MQTT status or Last Will), ``silent`` (online but nothing
    received for ``SILENT_MS``), ``online``, or ``unknown`` (never connected)."""
    if state == "revoked":
        return "revoked"
    if status is None and last_seen is None:
        return "unknown"
    if status is not None and status.state == "offline":
        return "offline"
    if last_seen is None or now_ms - last_seen > SILENT_MS:
        return "silent"
    return "online"


def ticket_history(ticket: StoredTicket) -> list[dict[str, Any]]:
    """The ticket's states with their times, in time order (WIRE.md's lifecycle)."""
    steps = [
        ("issued", ticket.issued_at),
        ("loaded", ticket.loaded_at),
        ("arrived", ticket.arrived_at),
        ("closed", ticket.closed_at),
        ("revoked", ticket.revoked_at),
        ("expired", ticket.expired_at),
    ]
    happened = sorted(((s, at) for s, at in steps if at is not None), key=lambda step: step[1])
    return [{"state": state, "at": at} for state, at in happened]


def discrepancy(ticket: StoredTicket, tolerance: Tolerance) -> dict[str, Any] | None:
    """Source against destination net, once both are known."""
    if ticket.source_net_kg is None or ticket.dest_net_kg is None:
        return None
    return {
        "source_net_kg": ticket.source_net_kg,
        "dest_net_kg": ticket.dest_net_kg,
        "diff_kg": ticket.dest_net_kg - ticket.source_net_kg,
        "allowed_kg": tolerance.allowed_kg(ticket.source_net_kg),
        "exceeded": tolerance.exceeded(ticket.source_net_kg, ticket.dest_net_kg),
    }


def chain_status(
    record: StoredRecord,
    prev_hash: bytes,
    before: StoredRecord | None,
    after_prev: bytes | None,
    *,
    equivocated: bool,
) -> dict[str, Any]:
    """How ``record`` sits in its device's hash chain: ``prev_hash`` is the prev it signed,
    ``before`` the stored record at seq - 1, ``after_prev`` the prev the stored seq + 1
    signed. ``ok`` is false only for a broken link or equivocation; a missing neighbour is
    a gap (not yet received), not a break."""
    if record.seq == 1:
        backward = "genesis" if prev_hash == bytes(32) else "broken"
    elif before is None:
        backward = "missing"
    else:
        backward = "linked" if before.record_id == prev_hash else "broken"
    if after_prev is None:
        forward = "missing"
    else:
        forward = "linked" if after_prev == record.record_id else "broken"
    return {
        "backward": backward,
        "forward": forward,
        "equivocation": equivocated,
        "ok": "broken" not in (backward, forward) and not equivocated,
    }
