"""What both backends decide alike: outcomes, the regulators' day, ingest's alarms, audit details.

Pure: no I/O and no clock; the backends only move these values in and out of their database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from central.store.model import (
    Alarm,
    Checkpoint,
    Device,
    Enterprise,
    IncomingRecord,
    QuarantineItem,
    Severity,
    Site,
    StoreOutcome,
    Vehicle,
    WeighingFacts,
)

CST = timezone(timedelta(hours=8), "CST")
"""China Standard Time, the regulators' day (no daylight saving)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

QUARANTINE_SEVERITY: Mapping[str, Severity] = {
    # Damaged or malformed bytes: worth a look, not proof of an attack.
    "undecodable": "warning",
    "non_canonical": "warning",
    "bad_header": "warning",
    "schema": "warning",
    # Someone signs, or claims to be, what it may not: forgery, a stolen key, a misrouted edge.
    "unknown_device": "alarm",
    "bad_signature": "alarm",
    "site_mismatch": "alarm",
    "topic_mismatch": "alarm",
    "revoked": "alarm",
}
"""Severity of a ``quarantine`` alarm by WIRE.md reason; a reason not listed is ``alarm``."""


# --- time ---------------------------------------------------------------------------------


def cst_day(ts_ms: int) -> date:
    """The China Standard Time date of a UTC millisecond time (exact, no float rounding)."""
    return (_EPOCH + timedelta(milliseconds=ts_ms)).astimezone(CST).date()


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


# --- records ------------------------------------------------------------------------------


def tonnage_facts(record: IncomingRecord) -> WeighingFacts | None:
    """The facts a record adds to tonnage if it is newly stored: a released weighing with a net."""
    facts = record.weighing
    if facts is None or facts.decision != "release" or facts.net_kg is None:
        return None
    return facts


def plan_outcomes(
    records: Sequence[IncomingRecord], stored: Mapping[tuple[str, int], bytes]
) -> tuple[list[StoreOutcome], dict[int, bytes]]:
    """Outcomes for a batch, given the record ids stored before it for its (device, seq) keys.

    Returns the outcomes in order and, for every equivocation, the id of the version that
    stays. The first occurrence of a new key in the batch is the one inserted.
    """
    current = dict(stored)
    outcomes: list[StoreOutcome] = []
    kept: dict[int, bytes] = {}
    for index, record in enumerate(records):
        key = (record.device, record.seq)
        first = current.get(key)
        if first is None:
            current[key] = record.record_id
            outcomes.append("inserted")
        elif first == record.record_id:
            outcomes.append("duplicate")
        else:
            outcomes.append("equivocation")
            kept[index] = first
    return outcomes, kept


def first_in_batch(records: Sequence[IncomingRecord]) -> list[bool]:
    """True where a record's (device, seq) appears for the first time in the batch."""
    seen: set[tuple[str, int]] = set()
    flags: list[bool] = []
    for record in records:
        key = (record.device, record.seq)
        flags.append(key not in seen)
        seen.add(key)
    return flags


def equivocation_alarm(record: IncomingRecord, kept_id: bytes, *, now_ms: int) -> Alarm:
    return Alarm(
        kind="equivocation",
        severity="alarm",
        raised_at=now_ms,
        device=record.device,
        site=record.site,
        detail={"seq": record.seq, "kept": kept_id.hex(), "other": record.record_id.hex()},
        ref=record.record_id,
    )


def gap_alarm(
    *, device: str, site: str, first_missing: int, next_stored: int, since: int, now_ms: int
) -> Alarm:
    return Alarm(
        kind="gap",
        severity="warning",
        raised_at=now_ms,
        device=device,
        site=site,
        detail={"first_missing": first_missing, "next_stored": next_stored, "since": since},
    )


# --- quarantine ---------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class QuarantineGroup:
    """The items of one batch that share bytes and reason: one row, counted ``len(indexes)``."""

    digest: bytes
    item: QuarantineItem  # the first of them, kept verbatim
    indexes: list[int] = field(default_factory=list)
    first_seen: int = 0
    last_seen: int = 0


def group_quarantine(items: Sequence[QuarantineItem]) -> list[QuarantineGroup]:
    groups: dict[tuple[bytes, str], QuarantineGroup] = {}
    for index, item in enumerate(items):
        digest = hashlib.sha256(item.raw).digest()
        group = groups.get((digest, item.reason))
        if group is None:
            group = QuarantineGroup(
                digest=digest,
                item=item,
                first_seen=item.received_at,
                last_seen=item.received_at,
            )
            groups[(digest, item.reason)] = group
        group.indexes.append(index)
        group.first_seen = min(group.first_seen, item.received_at)
        group.last_seen = max(group.last_seen, item.received_at)
    return list(groups.values())


def alarm_candidates(
    new: Sequence[QuarantineGroup],
) -> dict[tuple[str, str], list[QuarantineGroup]]:
    """Newly quarantined groups by (device or ``''``, reason): one alarm at most for each."""
    by_key: dict[tuple[str, str], list[QuarantineGroup]] = {}
    for group in new:
        by_key.setdefault((group.item.device or "", group.item.reason), []).append(group)
    return by_key


def quarantine_alarm(groups: Sequence[QuarantineGroup], *, now_ms: int) -> Alarm:
    first = groups[0].item
    return Alarm(
        kind="quarantine",
        severity=QUARANTINE_SEVERITY.get(first.reason, "alarm"),
        raised_at=now_ms,
        device=first.device,
        detail={
            "reason": first.reason,
            "detail": first.detail,
            "topic": first.topic,
            "new_items": len(groups),
        },
        ref=groups[0].digest,
    )


# --- audit --------------------------------------------------------------------------------


def enterprise_detail(value: Enterprise) -> dict[str, Any]:
    return {
        "id": value.id,
        "name": value.name,
        "credit_code": value.credit_code,
        "land_mu": value.land_mu,
        "capacity_t": value.capacity_t,
    }


def site_detail(value: Site) -> dict[str, Any]:
    return {
        "id": value.id,
        "enterprise": value.enterprise,
        "kind": value.kind,
        "name": value.name,
        "lat": value.lat,
        "lon": value.lon,
    }


def checkpoint_detail(value: Checkpoint) -> dict[str, Any]:
    return {"id": value.id, "name": value.name, "lat": value.lat, "lon": value.lon}


def vehicle_detail(value: Vehicle, *, replaced: bool) -> dict[str, Any]:
    return {
        "plate": value.plate,
        "axles": value.axles,
        "kind": value.kind,
        "single_drive": value.single_drive,
        "tare_kg": value.tare_kg,
        "trailer": value.trailer,
        "replaced": replaced,
    }


def device_detail(value: Device) -> dict[str, Any]:
    return {
        "id": value.id,
        "site": value.site,
        "public_key": value.public_key.hex(),
        "certificate_sha256": hashlib.sha256(value.certificate).hexdigest(),
    }


def duplicate_plates(values: Sequence[Vehicle]) -> list[str]:
    seen: set[str] = set()
    twice: list[str] = []
    for value in values:
        if value.plate in seen:
            twice.append(value.plate)
        seen.add(value.plate)
    return twice


# --- JSON ---------------------------------------------------------------------------------


def _json_default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON detail")


def dumps(detail: Mapping[str, Any]) -> str:
    """A detail map as JSON; bytes (an edge event's detail may hold some) become hex."""
    return json.dumps(
        detail, default=_json_default, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
