"""The one storage interface central uses; SQLite and PostgreSQL implement it.

Every method is synchronous and each is one transaction: a backend that raises leaves nothing
half-written. Callers on an event loop use ``asyncio.to_thread``. Times are UTC milliseconds
passed in by the caller (the store reads no clock), ids follow WIRE.md.

Contract for :meth:`Store.ingest` (WIRE.md "Delivery guarantee", "Order", "Quarantine"):

- a record is keyed by (device, seq). New → stored verbatim (``inserted``). The same bytes
  again → nothing changes (``duplicate``). Different bytes → the first stays, the second goes
  to the equivocation table, an ``equivocation`` alarm is raised once per distinct record
  (``equivocation``);
- a weighing adds its facts to the tonnage rollups only when it is newly inserted;
- an ``IncomingRecord.alarm`` (an edge event of severity alarm) is raised only when inserted;
- a quarantine item is kept verbatim once per (bytes, reason); repeats only count. A
  ``quarantine`` alarm is raised at most once per (device, reason) per ``alarm_interval_ms``;
- ``contiguous`` in the result is, for every device in the batch, the highest n such that
  1..n are stored: what the ack may cover;
- a record above its device's ``revoked_above_seq`` (a revocation that committed after the
  caller checked the batch) makes the whole batch fail with ``RevokedDuringBatchError`` and
  writes nothing: the caller checks it again with fresh device views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from central.store.model import (
    Alarm,
    AuditEntry,
    BatchResult,
    Checkpoint,
    DailyTonnage,
    Device,
    DeviceStatus,
    Enterprise,
    IncomingRecord,
    QuarantineEntry,
    QuarantineItem,
    Site,
    StoredRecord,
    Vehicle,
)

QUARANTINE_ALARM_INTERVAL_MS = 3_600_000


class Store(Protocol):
    backend: str
    """``sqlite`` or ``postgresql``."""

    # --- life cycle ----------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied (empty when up to date)."""

    def close(self) -> None: ...

    # --- registry (every change is audited with actor and time) ---------------------------
    def add_enterprise(self, value: Enterprise, *, actor: str, at: int) -> None:
        """Insert; ``ConflictError`` if the id exists."""

    def get_enterprise(self, enterprise_id: str) -> Enterprise:
        """``NotFoundError`` if absent."""

    def list_enterprises(self) -> list[Enterprise]: ...

    def add_site(self, value: Site, *, actor: str, at: int) -> None:
        """Insert; ``ConflictError`` if the id exists, ``NotFoundError`` without the enterprise."""

    def get_site(self, site_id: str) -> Site: ...

    def list_sites(self, *, enterprise: str | None = None) -> list[Site]: ...

    def add_checkpoint(self, value: Checkpoint, *, actor: str, at: int) -> None: ...

    def list_checkpoints(self) -> list[Checkpoint]: ...

    def upsert_vehicles(self, values: Sequence[Vehicle], *, actor: str, at: int) -> int:
        """Insert or replace by plate, all or nothing; return how many were written."""

    def get_vehicle(self, plate: str) -> Vehicle: ...

    def list_vehicles(self) -> list[Vehicle]: ...

    def enroll_device(self, value: Device, *, actor: str, at: int) -> Device:
        """Insert an active device. The same id again with the same key replaces the
        certificate (renewal); with another key, or when revoked, it is a ``ConflictError``:
        device ids are never reused (WIRE.md). ``NotFoundError`` if the site does not exist."""

    def get_device(self, device_id: str) -> Device: ...

    def list_devices(self, *, site: str | None = None) -> list[Device]: ...

    def revoke_device(self, device_id: str, *, actor: str, at: int) -> Device:
        """Mark revoked now; ``revoked_above_seq`` = the highest seq stored for it (0 if none)."""

    def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""

    # --- ingest ---------------------------------------------------------------------------
    def ingest(
        self,
        records: Sequence[IncomingRecord],
        quarantine: Sequence[QuarantineItem],
        *,
        now_ms: int,
        alarm_interval_ms: int = QUARANTINE_ALARM_INTERVAL_MS,
    ) -> BatchResult:
        """One batch in one transaction (see the module docstring)."""

    def contiguous(self, device: str) -> int: ...

    def get_record(self, device: str, seq: int) -> StoredRecord | None: ...

    def records(self, device: str, *, after_seq: int = 0, limit: int = 1000) -> list[StoredRecord]:
        """Stored records of ``device`` with seq > ``after_seq``, ascending."""

    def equivocations(self, device: str) -> list[StoredRecord]:
        """Second (and later) versions kept for seqs of ``device``."""

    def quarantined(self, *, limit: int = 100) -> list[QuarantineEntry]:
        """Newest first by last_seen."""

    def sweep_gaps(self, *, now_ms: int, grace_ms: int) -> list[Alarm]:
        """Raise a ``gap`` alarm (once per device and first missing seq) for every device
        whose first missing seq has been missing for longer than ``grace_ms``: measured from
        the arrival of the earliest stored record above it. Return the alarms raised."""

    def raise_alarms(self, alarms: Sequence[Alarm]) -> list[Alarm]:
        """Store alarms raised outside ingest (device offline, backlog…); return them with ids."""

    def alarms(self, *, after_id: int = 0, limit: int = 100) -> list[Alarm]:
        """Alarms with id > ``after_id``, ascending by id."""

    def set_device_status(self, status: DeviceStatus) -> None: ...

    def device_statuses(self) -> list[DeviceStatus]: ...

    def tonnage_daily(
        self, *, first_day: str, last_day: str, site: str | None = None
    ) -> list[DailyTonnage]:
        """Released net per site, direction and China Standard Time day, both days included."""
