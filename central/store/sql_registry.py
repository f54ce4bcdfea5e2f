"""The registry half of the portable store: enterprises, sites, checkpoints, vehicles, devices
and the audit trail (every change is audited in the same transaction)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from central.errors import ConflictError, NotFoundError
from central.store import rules
from central.store.model import AuditEntry, Checkpoint, Device, Enterprise, Site, Vehicle
from central.store.sql_base import Row, SqlBase, TxT, json_value

_ENTERPRISE = "SELECT id, name, credit_code, land_mu, capacity_t FROM enterprises"
_SITE = "SELECT id, enterprise, kind, name, lat, lon FROM sites"
_CHECKPOINT = "SELECT id, name, lat, lon FROM checkpoints"
_VEHICLE = "SELECT plate, axles, kind, single_drive, tare_kg, trailer FROM vehicles"
_DEVICE = (
    "SELECT id, site, public_key, certificate, state, enrolled_at, revoked_at, revoked_above_seq"
    " FROM devices"
)


def _enterprise(row: Row) -> Enterprise:
    return Enterprise(
        id=row[0], name=row[1], credit_code=row[2], land_mu=float(row[3]), capacity_t=int(row[4])
    )


def _site(row: Row) -> Site:
    return Site(id=row[0], enterprise=row[1], kind=row[2], name=row[3], lat=row[4], lon=row[5])


def _checkpoint(row: Row) -> Checkpoint:
    return Checkpoint(id=row[0], name=row[1], lat=row[2], lon=row[3])


def _vehicle(row: Row) -> Vehicle:
    return Vehicle(
        plate=row[0],
        axles=row[1],
        kind=row[2],
        single_drive=bool(row[3]),
        tare_kg=row[4],
        trailer=row[5],
    )


def _device(row: Row) -> Device:
    return Device(
        id=row[0],
        site=row[1],
        public_key=bytes(row[2]),
        certificate=bytes(row[3]),
        state=row[4],
        enrolled_at=row[5],
        revoked_at=row[6],
        revoked_above_seq=row[7],
    )


class RegistrySql(SqlBase[TxT]):
    """Registry methods of :class:`~central.store.base.Store`."""

    def add_enterprise(self, value: Enterprise, *, actor: str, at: int) -> None:
        def work(tx: TxT) -> None:
            if tx.one("SELECT 1 FROM enterprises WHERE id = ?", (value.id,)) is not None:
                raise ConflictError(
                    f"enterprise {value.id!r} exists already", kind="enterprise", key=value.id
                )
            owner = tx.one("SELECT id FROM enterprises WHERE credit_code = ?", (value.credit_code,))
            if owner is not None:
                raise ConflictError(
                    f"credit code {value.credit_code} is registered to enterprise {owner[0]!r}",
                    kind="enterprise",
                    key=value.credit_code,
                )
            self._insert_or_conflict(
                tx,
                "INSERT INTO enterprises (id, name, credit_code, land_mu, capacity_t)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                (value.id, value.name, value.credit_code, value.land_mu, value.capacity_t),
                kind="enterprise",
                key=value.id,
            )
            detail = rules.enterprise_detail(value)
            self._audit(tx, at=at, actor=actor, action="enterprise.add", detail=detail)

        self._write(work)

    def _insert_or_conflict(
        self, tx: TxT, sql: str, params: Sequence[Any], *, kind: str, key: str
    ) -> None:
        # The checks before it name the conflict; this catches one that commits in between.
        if tx.one(sql, params) is None:
            raise ConflictError(f"{kind} {key!r} was added concurrently", kind=kind, key=key)

    def get_enterprise(self, enterprise_id: str) -> Enterprise:
        row = self._read(lambda tx: tx.one(f"{_ENTERPRISE} WHERE id = ?", (enterprise_id,)))
        if row is None:
            raise NotFoundError(
                f"no enterprise {enterprise_id!r}", kind="enterprise", key=enterprise_id
            )
        return _enterprise(row)

    def list_enterprises(self) -> list[Enterprise]:
        return [
            _enterprise(r) for r in self._read(lambda tx: tx.rows(f"{_ENTERPRISE} ORDER BY id"))
        ]

    def add_site(self, value: Site, *, actor: str, at: int) -> None:
        def work(tx: TxT) -> None:
            if tx.one("SELECT 1 FROM sites WHERE id = ?", (value.id,)) is not None:
                raise ConflictError(f"site {value.id!r} exists already", kind="site", key=value.id)
            if tx.one("SELECT 1 FROM enterprises WHERE id = ?", (value.enterprise,)) is None:
                raise NotFoundError(
                    f"site {value.id!r}: no enterprise {value.enterprise!r}",
                    kind="enterprise",
                    key=value.enterprise,
                )
            self._insert_or_conflict(
                tx,
                "INSERT INTO sites (id, enterprise, kind, name, lat, lon)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                (value.id, value.enterprise, value.kind, value.name, value.lat, value.lon),
                kind="site",
                key=value.id,
            )
            self._audit(tx, at=at, actor=actor, action="site.add", detail=rules.site_detail(value))

        self._write(work)

    def get_site(self, site_id: str) -> Site:
        row = self._read(lambda tx: tx.one(f"{_SITE} WHERE id = ?", (site_id,)))
        if row is None:
            raise NotFoundError(f"no site {site_id!r}", kind="site", key=site_id)
        return _site(row)

    def list_sites(self, *, enterprise: str | None = None) -> list[Site]:
        if enterprise is None:
            rows = self._read(lambda tx: tx.rows(f"{_SITE} ORDER BY id"))
        else:
            rows = self._read(
                lambda tx: tx.rows(f"{_SITE} WHERE enterprise = ? ORDER BY id", (enterprise,))
            )
        return [_site(r) for r in rows]

    def add_checkpoint(self, value: Checkpoint, *, actor: str, at: int) -> None:
        def work(tx: TxT) -> None:
            if tx.one("SELECT 1 FROM checkpoints WHERE id = ?", (value.id,)) is not None:
                raise ConflictError(
                    f"checkpoint {value.id!r} exists already", kind="checkpoint", key=value.id
                )
            self._insert_or_conflict(
                tx,
                "INSERT INTO checkpoints (id, name, lat, lon) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                (value.id, value.name, value.lat, value.lon),
                kind="checkpoint",
                key=value.id,
            )
            detail = rules.checkpoint_detail(value)
            self._audit(tx, at=at, actor=actor, action="checkpoint.add", detail=detail)

        self._write(work)

    def list_checkpoints(self) -> list[Checkpoint]:
        return [
            _checkpoint(r) for r in self._read(lambda tx: tx.rows(f"{_CHECKPOINT} ORDER BY id"))
        ]

    def upsert_vehicles(self, values: Sequence[Vehicle], *, actor: str, at: int) -> int:
        """Insert or replace by plate; a plate given twice is a ``ConflictError``. Rows equal
        to what is stored are not written (nor audited) and not counted."""
        twice = rules.duplicate_plates(values)
        if twice:
            raise ConflictError(
                f"plate {twice[0]} appears more than once in one import",
                kind="vehicle",
                key=twice[0],
            )

        def work(tx: TxT) -> int:
            written = 0
            for value in values:
                row = tx.one(f"{_VEHICLE} WHERE plate = ?", (value.plate,))
                if row is not None and _vehicle(row) == value:
                    continue
                params = (
                    value.plate,
                    value.axles,
                    value.kind,
                    value.single_drive,
                    value.tare_kg,
                    value.trailer,
                )
                tx.run(
                    "INSERT INTO vehicles (plate, axles, kind, single_drive, tare_kg, trailer)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plate) DO UPDATE SET"
                    " axles = excluded.axles, kind = excluded.kind,"
                    " single_drive = excluded.single_drive, tare_kg = excluded.tare_kg,"
                    " trailer = excluded.trailer",
                    params,
                )
                detail = rules.vehicle_detail(value, replaced=row is not None)
                self._audit(tx, at=at, actor=actor, action="vehicle.upsert", detail=detail)
                written += 1
            return written

        return self._write(work)

    def get_vehicle(self, plate: str) -> Vehicle:
        row = self._read(lambda tx: tx.one(f"{_VEHICLE} WHERE plate = ?", (plate,)))
        if row is None:
            raise NotFoundError(f"no vehicle {plate}", kind="vehicle", key=plate)
        return _vehicle(row)

    def list_vehicles(self) -> list[Vehicle]:
        return [_vehicle(r) for r in self._read(lambda tx: tx.rows(f"{_VEHICLE} ORDER BY plate"))]

    def enroll_device(self, value: Device, *, actor: str, at: int) -> Device:
        """Enroll, or renew (same id, same key, same site: the certificate is replaced and
        ``enrolled_at`` kept). Another key, another site, or a revoked device: ``ConflictError``."""

        def work(tx: TxT) -> Device:
            self._lock_devices(tx, [value.id])
            row = tx.one(f"{_DEVICE} WHERE id = ?", (value.id,))
            if row is not None:
                return self._renew(tx, _device(row), value, actor=actor, at=at)
            if tx.one("SELECT 1 FROM sites WHERE id = ?", (value.site,)) is None:
                raise NotFoundError(
                    f"device {value.id!r}: no site {value.site!r}", kind="site", key=value.site
                )
            device = dataclasses.replace(
                value, state="active", revoked_at=None, revoked_above_seq=None
            )
            self._insert_or_conflict(
                tx,
                "INSERT INTO devices (id, site, public_key, certificate, state, enrolled_at)"
                " VALUES (?, ?, ?, ?, 'active', ?) ON CONFLICT DO NOTHING RETURNING 1",
                (device.id, device.site, device.public_key, device.certificate, device.enrolled_at),
                kind="device",
                key=device.id,
            )
            detail = rules.device_detail(device)
            self._audit(tx, at=at, actor=actor, action="device.enroll", detail=detail)
            return device

        return self._write(work)

    def _renew(self, tx: TxT, stored: Device, value: Device, *, actor: str, at: int) -> Device:
        if stored.state == "revoked":
            raise ConflictError(
                f"device {value.id!r} is revoked; device ids are never reused: enroll the "
                "replacement under a new id",
                kind="device",
                key=value.id,
            )
        if stored.public_key != value.public_key:
            raise ConflictError(
                f"device {value.id!r} is enrolled with another key; device ids are never reused",
                kind="device",
                key=value.id,
            )
        if stored.site != value.site:
            raise ConflictError(
                f"device {value.id!r} is enrolled at site {stored.site!r}, not {value.site!r}",
                kind="device",
                key=value.id,
            )
        tx.run("UPDATE devices SET certificate = ? WHERE id = ?", (value.certificate, value.id))
        renewed = dataclasses.replace(stored, certificate=value.certificate)
        detail = rules.device_detail(renewed)
        self._audit(tx, at=at, actor=actor, action="device.renew", detail=detail)
        return renewed

    def get_device(self, device_id: str) -> Device:
        row = self._read(lambda tx: tx.one(f"{_DEVICE} WHERE id = ?", (device_id,)))
        if row is None:
            raise NotFoundError(f"no device {device_id!r}", kind="device", key=device_id)
        return _device(row)

    def list_devices(self, *, site: str | None = None) -> list[Device]:
        if site is None:
            rows = self._read(lambda tx: tx.rows(f"{_DEVICE} ORDER BY id"))
        else:
            rows = self._read(lambda tx: tx.rows(f"{_DEVICE} WHERE site = ? ORDER BY id", (site,)))
        return [_device(r) for r in rows]

    def revoke_device(self, device_id: str, *, actor: str, at: int) -> Device:
        """Revoke now. Revoking a revoked device changes nothing and returns it as it is."""

        def work(tx: TxT) -> Device:
            # Under the device's lock, no ingest batch of it is half-way: the highest seq read
            # here is final for everything that committed before the revocation.
            self._lock_devices(tx, [device_id])
            row = tx.one(f"{_DEVICE} WHERE id = ?", (device_id,))
            if row is None:
                raise NotFoundError(f"no device {device_id!r}", kind="device", key=device_id)
            device = _device(row)
            if device.state == "revoked":
                return device
            top = tx.one("SELECT max(seq) FROM records WHERE device = ?", (device_id,))
            above = int(top[0]) if top is not None and top[0] is not None else 0
            tx.run(
                "UPDATE devices SET state = 'revoked', revoked_at = ?, revoked_above_seq = ?"
                " WHERE id = ?",
                (at, above, device_id),
            )
            self._audit(
                tx,
                at=at,
                actor=actor,
                action="device.revoke",
                detail={"id": device_id, "site": device.site, "revoked_above_seq": above},
            )
            return dataclasses.replace(
                device, state="revoked", revoked_at=at, revoked_above_seq=above
            )

        return self._write(work)

    def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT at, actor, action, detail FROM audit ORDER BY at DESC, id DESC LIMIT ?",
                (limit,),
            )
        )
        return [AuditEntry(at=r[0], actor=r[1], action=r[2], detail=json_value(r[3])) for r in rows]
