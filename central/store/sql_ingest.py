"""The ingest half of the portable store: batches, heads, quarantine, equivocations, tonnage,
gaps, alarms and device status (see :mod:`central.store.base` for the contract)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from typing import Any

from central.errors import RevokedDuringBatchError
from central.store import rules
from central.store.base import QUARANTINE_ALARM_INTERVAL_MS
from central.store.model import (
    Alarm,
    BatchResult,
    DailyTonnage,
    DeviceStatus,
    IncomingRecord,
    QuarantineEntry,
    QuarantineItem,
    StoredRecord,
)
from central.store.sql_base import Row, TxT, json_value
from central.store.sql_tickets import TicketSql
from central.store.sql_transparency import MetricsSql, TransparencySql
from central.ticketing.policy import DEFAULT_TOLERANCE, Tolerance

_RECORD = "SELECT raw, record_id, device, site, seq, ts, type, received_at"
_QUARANTINE = (
    "SELECT raw, reason, detail, topic, device, count, first_seen, last_seen FROM quarantine"
)
_ALARM = "SELECT id, kind, severity, raised_at, device, site, detail, ref FROM alarms"

# The end of the run of consecutive seqs that starts right after ``contiguous``: in the rows
# above it, seq - row_number() equals ``contiguous`` exactly while there is no hole.
_RUN_END = (
    "SELECT max(seq) FROM ("
    " SELECT seq, seq - row_number() OVER (ORDER BY seq) AS run"
    " FROM records WHERE device = ? AND seq > ?"
    ") AS above WHERE run = ?"
)


def _record(row: Row) -> StoredRecord:
    return StoredRecord(
        raw=bytes(row[0]),
        record_id=bytes(row[1]),
        device=row[2],
        site=row[3],
        seq=row[4],
        ts=row[5],
        type=row[6],
        received_at=row[7],
    )


def _alarm(row: Row) -> Alarm:
    return Alarm(
        id=row[0],
        kind=row[1],
        severity=row[2],
        raised_at=row[3],
        device=row[4],
        site=row[5],
        detail=json_value(row[6]),
        ref=None if row[7] is None else bytes(row[7]),
    )


def _day_text(value: Any) -> str:
    return value if isinstance(value, str) else date.isoformat(value)


class IngestSql(TicketSql[TxT], TransparencySql[TxT], MetricsSql[TxT]):
    """Ingest and the rest of :class:`~central.store.base.Store` but the registry (tickets
    come with it: ingest moves them in its own transaction; so does the transparency log,
    and the metrics counts read what ingest writes)."""

    def ingest(
        self,
        records: Sequence[IncomingRecord],
        quarantine: Sequence[QuarantineItem],
        *,
        now_ms: int,
        alarm_interval_ms: int = QUARANTINE_ALARM_INTERVAL_MS,
        tolerance: Tolerance = DEFAULT_TOLERANCE,
    ) -> BatchResult:
        self._prepare_ingest(records)
        return self._write(
            lambda tx: self._ingest(
                tx,
                records,
                quarantine,
                now_ms=now_ms,
                alarm_interval_ms=alarm_interval_ms,
                tolerance=tolerance,
            )
        )

    def _ingest(
        self,
        tx: TxT,
        records: Sequence[IncomingRecord],
        quarantine: Sequence[QuarantineItem],
        *,
        now_ms: int,
        alarm_interval_ms: int,
        tolerance: Tolerance,
    ) -> BatchResult:
        self._lock_devices(tx, sorted({r.device for r in records}))
        self._refuse_revoked(tx, records)
        quarantined_new, quarantine_alarms = self._quarantine(
            tx, quarantine, now_ms=now_ms, alarm_interval_ms=alarm_interval_ms
        )
        outcomes, kept = self._store_records(tx, records) if records else ([], {})
        new_versions = self._keep_equivocations(
            tx, [r for r, o in zip(records, outcomes, strict=True) if o == "equivocation"]
        )
        alarms: list[Alarm] = []
        for index, (record, outcome) in enumerate(zip(records, outcomes, strict=True)):
            if outcome == "equivocation" and record.record_id in new_versions:
                new_versions.discard(record.record_id)  # once per distinct version
                alarms.append(rules.equivocation_alarm(record, kept[index], now_ms=now_ms))
            elif outcome == "inserted" and record.alarm is not None:
                alarm = record.alarm
                alarms.append(
                    dataclasses.replace(
                        alarm, device=alarm.device or record.device, site=alarm.site or record.site
                    )
                )
        inserted = [r for r, o in zip(records, outcomes, strict=True) if o == "inserted"]
        self._add_weighings(tx, inserted)
        # Only newly inserted weighings move tickets: a duplicate or a second version cannot
        # apply its effect twice, and the effect commits (or not) with the record itself.
        ticket_alarms, ticket_sites = self._apply_tickets(
            tx, inserted, now_ms=now_ms, tolerance=tolerance
        )
        contiguous = self._advance_heads(tx, records, inserted)
        raised = self._insert_alarms(tx, [*alarms, *ticket_alarms, *quarantine_alarms])
        # Last: the log's row lock serialises appends until the commit (sql_transparency).
        self._append_to_log(tx, inserted, now_ms=now_ms)
        return BatchResult(
            outcomes=tuple(outcomes),
            quarantined_new=tuple(quarantined_new),
            contiguous=contiguous,
            alarms=tuple(raised),
            ticket_sites=ticket_sites,
        )

    def _refuse_revoked(self, tx: TxT, records: Sequence[IncomingRecord]) -> None:
        """Under the device locks, so it cannot race a revocation: a record above its device's
        revocation seq rolls the whole batch back; the caller re-checks it with fresh views."""
        above: dict[str, int] = {}
        for device in sorted({r.device for r in records}):
            row = tx.one(
                "SELECT revoked_above_seq FROM devices WHERE id = ? AND state = 'revoked'",
                (device,),
            )
            if row is not None and row[0] is not None:
                above[device] = int(row[0])
        late = sorted({r.device for r in records if r.device in above and r.seq > above[r.device]})
        if late:
            raise RevokedDuringBatchError(
                f"devices revoked while the batch was checked: {', '.join(late)}", devices=late
            )

    def _quarantine(
        self, tx: TxT, items: Sequence[QuarantineItem], *, now_ms: int, alarm_interval_ms: int
    ) -> tuple[list[bool], list[Alarm]]:
        flags = [False] * len(items)
        groups = rules.group_quarantine(items)
        new: list[rules.QuarantineGroup] = []
        for group in sorted(groups, key=lambda g: (g.digest, g.item.reason)):
            item = group.item
            created = tx.one(
                "INSERT INTO quarantine (digest, reason, raw, detail, topic, device, count,"
                " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (digest, reason) DO NOTHING RETURNING 1",
                (
                    group.digest,
                    item.reason,
                    item.raw,
                    item.detail,
                    item.topic,
                    item.device,
                    len(group.indexes),
                    group.first_seen,
                    group.last_seen,
                ),
            )
            if created is not None:
                flags[group.indexes[0]] = True
                new.append(group)
                continue
            tx.run(
                "UPDATE quarantine SET count = count + ?,"
                " first_seen = CASE WHEN first_seen <= ? THEN first_seen ELSE ? END,"
                " last_seen = CASE WHEN last_seen >= ? THEN last_seen ELSE ? END"
                " WHERE digest = ? AND reason = ?",
                (
                    len(group.indexes),
                    group.first_seen,
                    group.first_seen,
                    group.last_seen,
                    group.last_seen,
                    group.digest,
                    item.reason,
                ),
            )
        new.sort(key=lambda g: g.indexes[0])
        alarms: list[Alarm] = []
        for (device, reason), alike in sorted(rules.alarm_candidates(new).items()):
            due = tx.one(
                "INSERT INTO quarantine_alarms (device, reason, last_raised) VALUES (?, ?, ?)"
                " ON CONFLICT (device, reason) DO UPDATE SET last_raised = excluded.last_raised"
                " WHERE quarantine_alarms.last_raised + ? <= excluded.last_raised"
                " RETURNING 1",
                (device, reason, now_ms, alarm_interval_ms),
            )
            if due is not None:
                alarms.append(rules.quarantine_alarm(alike, now_ms=now_ms))
        return flags, alarms

    def _keep_equivocations(self, tx: TxT, versions: Sequence[IncomingRecord]) -> set[bytes]:
        """Store second versions; return the ids of those not stored before."""
        new: set[bytes] = set()
        for record in versions:
            row = tx.one(
                "INSERT INTO equivocations (record_id, device, seq, site, ts, type, received_at,"
                " raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (record_id) DO NOTHING RETURNING 1",
                (
                    record.record_id,
                    record.device,
                    record.seq,
                    record.site,
                    record.ts,
                    record.type,
                    record.received_at,
                    record.raw,
                ),
            )
            if row is not None:
                new.add(record.record_id)
        return new

    def _add_weighings(self, tx: TxT, inserted: Sequence[IncomingRecord]) -> None:
        facts: list[tuple[str, str, int, str, str, int, int, str, bytes | None]] = []
        totals: dict[tuple[str, str, str], list[int]] = {}
        for record in inserted:
            weighing = rules.tonnage_facts(record)
            if weighing is None or weighing.net_kg is None:
                continue
            day = rules.cst_day(record.ts).isoformat()
            facts.append(
                (
                    day,
                    record.device,
                    record.seq,
                    record.site,
                    weighing.direction,
                    record.ts,
                    weighing.net_kg,
                    weighing.plate,
                    weighing.ticket,
                )
            )
            total = totals.setdefault((day, record.site, weighing.direction), [0, 0])
            total[0] += weighing.net_kg
            total[1] += 1
        if not facts:
            return
        tx.many(
            "INSERT INTO weighings (day, device, seq, site, direction, ts, net_kg, plate, ticket)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            facts,
        )
        if self._rollup_in_ingest():
            tx.many(
                "INSERT INTO tonnage_daily (day, site, direction, net_kg, weighings)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (day, site, direction) DO UPDATE SET"
                " net_kg = tonnage_daily.net_kg + excluded.net_kg,"
                " weighings = tonnage_daily.weighings + excluded.weighings",
                [(*key, net, count) for key, (net, count) in sorted(totals.items())],
            )

    def _advance_heads(
        self, tx: TxT, records: Sequence[IncomingRecord], inserted: Sequence[IncomingRecord]
    ) -> dict[str, int]:
        new_seqs: dict[str, set[int]] = {}
        sites: dict[str, str] = {}
        for record in inserted:
            new_seqs.setdefault(record.device, set()).add(record.seq)
            sites.setdefault(record.device, record.site)
        contiguous: dict[str, int] = {}
        for device in sorted({r.device for r in records}):
            head = tx.one(
                "SELECT contiguous, max_seq FROM device_heads WHERE device = ?", (device,)
            )
            done, top = (int(head[0]), int(head[1])) if head is not None else (0, 0)
            seqs = new_seqs.get(device)
            if seqs:
                # Only a batch that fills the first hole can move the head.
                if done + 1 in seqs:
                    end = tx.one(_RUN_END, (device, done, done))
                    done = int(end[0]) if end is not None and end[0] is not None else done
                tx.run(
                    "INSERT INTO device_heads (device, site, contiguous, max_seq)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET"
                    " contiguous = excluded.contiguous, max_seq = excluded.max_seq",
                    (device, sites[device], done, max(top, *seqs)),
                )
            contiguous[device] = done
        return contiguous

    def contiguous(self, device: str) -> int:
        row = self._read(
            lambda tx: tx.one("SELECT contiguous FROM device_heads WHERE device = ?", (device,))
        )
        return 0 if row is None else int(row[0])

    def get_record(self, device: str, seq: int) -> StoredRecord | None:
        row = self._read(
            lambda tx: tx.one(f"{_RECORD} FROM records WHERE device = ? AND seq = ?", (device, seq))
        )
        return None if row is None else _record(row)

    def records(self, device: str, *, after_seq: int = 0, limit: int = 1000) -> list[StoredRecord]:
        rows = self._read(
            lambda tx: tx.rows(
                f"{_RECORD} FROM records WHERE device = ? AND seq > ? ORDER BY seq LIMIT ?",
                (device, after_seq, limit),
            )
        )
        return [_record(r) for r in rows]

    def equivocations(self, device: str) -> list[StoredRecord]:
        rows = self._read(
            lambda tx: tx.rows(
                f"{_RECORD} FROM equivocations WHERE device = ?"
                " ORDER BY seq, received_at, record_id",
                (device,),
            )
        )
        return [_record(r) for r in rows]

    def quarantined(self, *, limit: int = 100) -> list[QuarantineEntry]:
        rows = self._read(
            lambda tx: tx.rows(
                f"{_QUARANTINE} ORDER BY last_seen DESC, digest, reason LIMIT ?", (limit,)
            )
        )
        return [
            QuarantineEntry(
                raw=bytes(r[0]),
                reason=r[1],
                detail=r[2],
                topic=r[3],
                device=r[4],
                count=int(r[5]),
                first_seen=r[6],
                last_seen=r[7],
            )
            for r in rows
        ]

    # --- alarms, gaps, status --------------------------------------------------------------
    def sweep_gaps(self, *, now_ms: int, grace_ms: int) -> list[Alarm]:
        return self._write(lambda tx: self._sweep_gaps(tx, now_ms=now_ms, grace_ms=grace_ms))

    def _sweep_gaps(self, tx: TxT, *, now_ms: int, grace_ms: int) -> list[Alarm]:
        due: list[Alarm] = []
        behind = tx.rows(
            "SELECT h.device, h.site, h.contiguous FROM device_heads AS h"
            " WHERE h.max_seq > h.contiguous AND NOT EXISTS (SELECT 1 FROM gaps AS g"
            " WHERE g.device = h.device AND g.first_missing = h.contiguous + 1)"
            " ORDER BY h.device"
        )
        for device, site, done in behind:
            above = tx.one(
                "SELECT min(received_at), min(seq) FROM records WHERE device = ? AND seq > ?",
                (device, done),
            )
            if above is None or above[0] is None or now_ms - int(above[0]) <= grace_ms:
                continue
            due.append(
                rules.gap_alarm(
                    device=device,
                    site=site,
                    first_missing=int(done) + 1,
                    next_stored=int(above[1]),
                    since=int(above[0]),
                    now_ms=now_ms,
                )
            )
        if not due:
            return []
        self._lock_alarms(tx)  # sweepers take it before they write gaps: the check below holds
        raised: list[Alarm] = []
        for alarm in due:
            first_missing = alarm.detail["first_missing"]
            if tx.one(
                "SELECT 1 FROM gaps WHERE device = ? AND first_missing = ?",
                (alarm.device, first_missing),
            ):
                continue
            (stored,) = self._insert_alarms(tx, [alarm])
            tx.run(
                "INSERT INTO gaps (device, first_missing, raised_at, alarm_id) VALUES (?, ?, ?, ?)",
                (alarm.device, first_missing, now_ms, stored.id),
            )
            raised.append(stored)
        return raised

    def raise_alarms(self, alarms: Sequence[Alarm]) -> list[Alarm]:
        return self._write(lambda tx: self._insert_alarms(tx, alarms))

    def alarms(self, *, after_id: int = 0, limit: int = 100) -> list[Alarm]:
        rows = self._read(
            lambda tx: tx.rows(f"{_ALARM} WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
        )
        return [_alarm(r) for r in rows]

    def set_device_status(
        self, status: DeviceStatus, *, on_change: Sequence[Alarm] = ()
    ) -> list[Alarm]:
        values = (status.state, status.since, status.version, status.updated_at, status.device)

        def work(tx: TxT) -> list[Alarm]:
            # Each statement is atomic: two workers racing on one row serialise on it, and the
            # loser's WHERE sees the winner's state (PostgreSQL re-checks it after the wait).
            changed = tx.run(
                "UPDATE device_status SET state = ?, since = ?, version = ?, updated_at = ?"
                " WHERE device = ? AND updated_at <= ? AND state <> ?",
                (*values, status.updated_at, status.state),
            )
            if not changed:
                refreshed = tx.run(
                    "UPDATE device_status SET state = ?, since = ?, version = ?, updated_at = ?"
                    " WHERE device = ? AND updated_at <= ?",
                    (*values, status.updated_at),
                )
                known = refreshed or tx.one(
                    "SELECT 1 FROM device_status WHERE device = ?", (status.device,)
                )
                if not known:
                    changed = tx.run(
                        "INSERT INTO device_status (device, state, since, version, updated_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (device) DO NOTHING",
                        (status.device, status.state, status.since, status.version,
                         status.updated_at),
                    )  # fmt: skip
            return self._insert_alarms(tx, on_change) if changed else []

        return self._write(work)

    def device_statuses(self) -> list[DeviceStatus]:
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT device, state, since, version, updated_at FROM device_status"
                " ORDER BY device"
            )
        )
        return [
            DeviceStatus(device=r[0], state=r[1], since=r[2], version=r[3], updated_at=r[4])
            for r in rows
        ]

    def tonnage_daily(
        self, *, first_day: str, last_day: str, site: str | None = None
    ) -> list[DailyTonnage]:
        first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
        sql = "SELECT day, site, direction, net_kg, weighings FROM tonnage_daily"
        params: list[Any] = [first.isoformat(), last.isoformat()]
        sql += " WHERE day >= ? AND day <= ?"
        if site is not None:
            sql += " AND site = ?"
            params.append(site)
        sql += " ORDER BY day, site, direction"
        rows = self._read(lambda tx: tx.rows(sql, params))
        return [
            DailyTonnage(
                day=_day_text(r[0]),
                site=r[1],
                direction=r[2],
                net_kg=int(r[3]),
                weighings=int(r[4]),
            )
            for r in rows
        ]
