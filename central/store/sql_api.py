"""The part of the portable store that serves the HTTP API: bearer tokens, alarm
acknowledgements, record queries across devices and checkpoint sightings (see
:mod:`central.store.base`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from central.errors import ConflictError, NotFoundError, RegistryError, StoreError
from central.store.model import (
    AlarmAck,
    ApiToken,
    RecordQuery,
    Sighting,
    SightingQuery,
    StoredRecord,
    TokenRole,
)
from central.store.sql_base import Row, SqlBase, TxT

_ACCESS_ROW = (
    "SELECT id, digest, role, enterprise, device, created_at, revoked_at, checkpoint"
    " FROM api_tokens"
)
_ACK_ROW = "SELECT alarm_id, at, actor, note FROM alarm_acks"
_RECORD = "SELECT raw, record_id, device, site, seq, ts, type, received_at FROM records AS r"
_SIGHTING = (
    "SELECT id, checkpoint, token, kind, cti, plate, seen_at, recorded_at, valid, reason,"
    " ticket_state, record_id FROM sightings"
)
_WEIGHING = "EXISTS (SELECT 1 FROM weighings AS w WHERE w.device = r.device AND w.seq = r.seq"


def _token(row: Row) -> ApiToken:
    return ApiToken(
        id=int(row[0]),
        digest=bytes(row[1]),
        role=row[2],
        enterprise=row[3],
        device=row[4],
        created_at=row[5],
        revoked_at=row[6],
        checkpoint=row[7],
    )


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _sighting(row: Row) -> Sighting:
    return Sighting(
        id=int(row[0]),
        checkpoint=row[1],
        token=int(row[2]),
        kind=row[3],
        cti=_bytes(row[4]),
        plate=row[5],
        seen_at=row[6],
        recorded_at=row[7],
        valid=None if row[8] is None else bool(row[8]),
        reason=row[9],
        ticket_state=row[10],
        record_id=_bytes(row[11]),
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


def _in(column: str, values: Sequence[object]) -> str:
    """``column IN (?, ?, …)``: placeholders only, the values go as parameters."""
    return f"{column} IN ({', '.join('?' for _ in values)})"


class ApiSql(SqlBase[TxT]):
    """Tokens, alarm acknowledgements and record queries of
    :class:`~central.store.base.Store`."""

    # --- tokens ---------------------------------------------------------------------------
    def add_token(
        self,
        *,
        digest: bytes,
        role: TokenRole,
        enterprise: str | None = None,
        device: str | None = None,
        checkpoint: str | None = None,
        actor: str,
        at: int,
    ) -> ApiToken:
        if (role == "enterprise") != (enterprise is not None):
            raise RegistryError("an enterprise token, and only one, names its enterprise")
        if (role == "device") != (device is not None):
            raise RegistryError("a device token, and only one, names its device")
        if (role == "checkpoint") != (checkpoint is not None):
            raise RegistryError("a checkpoint token, and only one, names its checkpoint")

        def work(tx: TxT) -> ApiToken:
            if enterprise is not None and (
                tx.one("SELECT 1 FROM enterprises WHERE id = ?", (enterprise,)) is None
            ):
                raise NotFoundError(
                    f"no enterprise {enterprise!r}", kind="enterprise", key=enterprise
                )
            if checkpoint is not None and (
                tx.one("SELECT 1 FROM checkpoints WHERE id = ?", (checkpoint,)) is None
            ):
                raise NotFoundError(
                    f"no checkpoint {checkpoint!r}", kind="checkpoint", key=checkpoint
                )
            row = tx.one(
                "INSERT INTO api_tokens (digest, role, enterprise, device, checkpoint, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (digest, role, enterprise, device, checkpoint, at),
            )
            if row is None:
                raise ConflictError("this token exists already", kind="token", key=role)
            token = ApiToken(
                id=int(row[0]),
                digest=digest,
                role=role,
                enterprise=enterprise,
                device=device,
                checkpoint=checkpoint,
                created_at=at,
            )
            detail: dict[str, Any] = {"id": token.id, "role": role}
            scope = (("enterprise", enterprise), ("device", device), ("checkpoint", checkpoint))
            detail |= {k: v for k, v in scope if v}
            self._audit(tx, at=at, actor=actor, action="token.create", detail=detail)
            return token

        return self._write(work)

    def token_by_digest(self, digest: bytes) -> ApiToken | None:
        row = self._read(lambda tx: tx.one(f"{_ACCESS_ROW} WHERE digest = ?", (digest,)))
        return None if row is None else _token(row)

    def list_tokens(self) -> list[ApiToken]:
        return [_token(r) for r in self._read(lambda tx: tx.rows(f"{_ACCESS_ROW} ORDER BY id"))]

    def revoke_token(self, token_id: int, *, actor: str, at: int) -> ApiToken:
        def work(tx: TxT) -> ApiToken:
            row = tx.one(f"{_ACCESS_ROW} WHERE id = ?", (token_id,))
            if row is None:
                raise NotFoundError(f"no token {token_id}", kind="token", key=str(token_id))
            if row[6] is not None:
                return _token(row)
            tx.run("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (at, token_id))
            self._audit(tx, at=at, actor=actor, action="token.revoke", detail={"id": token_id})
            return _token((*row[:6], at, *row[7:]))

        return self._write(work)

    # --- alarm acknowledgements -------------------------------------------------------------
    def ack_alarm(self, alarm_id: int, *, note: str, actor: str, at: int) -> AlarmAck:
        def work(tx: TxT) -> AlarmAck:
            if tx.one("SELECT 1 FROM alarms WHERE id = ?", (alarm_id,)) is None:
                raise NotFoundError(f"no alarm {alarm_id}", kind="alarm", key=str(alarm_id))
            row = tx.one(
                "INSERT INTO alarm_acks (alarm_id, at, actor, note) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING alarm_id",
                (alarm_id, at, actor, note),
            )
            if row is None:
                raise ConflictError(
                    f"alarm {alarm_id} is acknowledged already", kind="alarm", key=str(alarm_id)
                )
            self._audit(
                tx, at=at, actor=actor, action="alarm.ack", detail={"id": alarm_id, "note": note}
            )
            return AlarmAck(alarm_id=alarm_id, at=at, actor=actor, note=note)

        return self._write(work)

    def alarm_acks(self, alarm_ids: Sequence[int]) -> dict[int, AlarmAck]:
        if not alarm_ids:
            return {}
        ids = sorted(set(alarm_ids))
        sql = f"{_ACK_ROW} WHERE {_in('alarm_id', ids)}"
        rows = self._read(lambda tx: tx.rows(sql, ids))
        return {
            int(r[0]): AlarmAck(alarm_id=int(r[0]), at=r[1], actor=r[2], note=r[3]) for r in rows
        }

    # --- records across devices ---------------------------------------------------------------
    def record_by_id(self, record_id: bytes) -> StoredRecord | None:
        row = self._read(lambda tx: tx.one(f"{_RECORD} WHERE record_id = ?", (record_id,)))
        return None if row is None else _record(row)

    def find_records(self, query: RecordQuery) -> list[StoredRecord]:
        if query.limit < 1:
            raise StoreError(f"limit must be at least 1, not {query.limit}")
        if query.sites is not None and not query.sites:
            return []
        where: list[str] = []
        params: list[Any] = []
        if query.sites is not None:
            where.append(_in("r.site", query.sites))
            params += query.sites
        for column, value in (("site", query.site), ("device", query.device)):
            if value is not None:
                where.append(f"r.{column} = ?")
                params.append(value)
        if query.type is not None:
            where.append("r.type = ?")
            params.append(query.type)
        if query.plate is not None:
            where.append(f"{_WEIGHING} AND w.plate = ?)")
            params.append(query.plate)
        if query.ticket is not None:
            where.append(f"{_WEIGHING} AND w.ticket = ?)")
            params.append(query.ticket)
        if query.since is not None:
            where.append("r.ts >= ?")
            params.append(query.since)
        if query.until is not None:
            where.append("r.ts < ?")
            params.append(query.until)
        if query.after is not None:
            where.append("(r.received_at > ? OR (r.received_at = ? AND r.record_id > ?))")
            params += [query.after.received_at, query.after.received_at, query.after.record_id]
        sql = _RECORD
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.received_at, r.record_id LIMIT ?"
        params.append(query.limit)
        return [_record(r) for r in self._read(lambda tx: tx.rows(sql, params))]

    # --- sightings --------------------------------------------------------------------------
    def add_sighting(self, value: Sighting) -> Sighting:
        if value.cti is not None and len(value.cti) != 16:
            raise StoreError(f"a cti has 16 bytes, not {len(value.cti)}")
        if value.record_id is not None and len(value.record_id) != 32:
            raise StoreError(f"a record id has 32 bytes, not {len(value.record_id)}")
        if (value.kind == "manual") != (value.valid is None):
            raise StoreError("a QR sighting has a verdict (valid), a manual one has none")

        def work(tx: TxT) -> Sighting:
            if tx.one("SELECT 1 FROM checkpoints WHERE id = ?", (value.checkpoint,)) is None:
                raise NotFoundError(
                    f"no checkpoint {value.checkpoint!r}", kind="checkpoint", key=value.checkpoint
                )
            if tx.one("SELECT 1 FROM api_tokens WHERE id = ?", (value.token,)) is None:
                raise NotFoundError(f"no token {value.token}", kind="token", key=str(value.token))
            row = tx.one(
                "INSERT INTO sightings (checkpoint, token, kind, cti, plate, seen_at,"
                " recorded_at, valid, reason, ticket_state, record_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    value.checkpoint,
                    value.token,
                    value.kind,
                    value.cti,
                    value.plate,
                    value.seen_at,
                    value.recorded_at,
                    value.valid,
                    value.reason,
                    value.ticket_state,
                    value.record_id,
                ),
            )
            if row is None:
                raise StoreError("INSERT INTO sightings … RETURNING id returned no row")
            return dataclasses.replace(value, id=int(row[0]))

        return self._write(work)

    def find_sightings(self, query: SightingQuery) -> list[Sighting]:
        if query.limit < 1:
            raise StoreError(f"limit must be at least 1, not {query.limit}")
        where = ["id > ?"]
        params: list[Any] = [query.after]
        for column, value in (
            ("checkpoint", query.checkpoint),
            ("cti", query.cti),
            ("plate", query.plate),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"{_SIGHTING} WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        params.append(query.limit)
        return [_sighting(r) for r in self._read(lambda tx: tx.rows(sql, params))]
