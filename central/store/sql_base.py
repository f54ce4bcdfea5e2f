"""The part of the store written once, in SQL that SQLite and PostgreSQL both run.

A backend supplies transactions (:meth:`SqlBase._read`, :meth:`SqlBase._write`: run a
function in one transaction, translate driver errors), the step of ingest that differs most
(:meth:`SqlBase._store_records`: find what is stored and insert what is new), its locks, and how
it passes JSON. Everything else is written once: the registry in
:mod:`central.store.sql_registry`, ingest and the rest in :mod:`central.store.sql_ingest`, so
the two backends cannot drift apart. A backend class inherits both.

The SQL uses ``?`` placeholders; the PostgreSQL adapter rewrites them to ``%s``, so no portable
statement may contain a literal ``?`` or ``%``.

Lock order (PostgreSQL; SQLite has one writer and needs none): per-device locks, sorted → rows
of ``quarantine`` and ``quarantine_alarms``, sorted by key → the devices' own rows → rows of
``tonnage_daily``, sorted → rows of ``tickets``, by cti → the alarm lock → the one row of
``transparency_state`` (the log), last of all. Issuing a ticket locks its enterprise's row
first (nothing else locks it), then inserts. Every transaction takes what it needs in that
order, so two ingest workers cannot deadlock on each other (and a deadlock would be retried).
"""

from __future__ import annotations

import abc
import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from central.errors import StoreError
from central.store.model import Alarm, IncomingRecord, StoreOutcome

T = TypeVar("T")
Row = tuple[Any, ...]


class Tx(Protocol):
    """One open transaction, as the portable code sees it."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement that returns no rows; return the row count."""

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None: ...


TxT = TypeVar("TxT", bound=Tx)


def json_value(value: Any) -> dict[str, Any]:
    """A JSON column: text from SQLite, already decoded from PostgreSQL's jsonb."""
    decoded = json.loads(value) if isinstance(value, str) else value
    return dict(decoded)


class SqlBase(abc.ABC, Generic[TxT]):
    """The hooks a backend implements, and the two writes both halves share."""

    backend: str

    # --- backend hooks -------------------------------------------------------------------
    @abc.abstractmethod
    def _read(self, work: Callable[[TxT], T]) -> T:
        """Run ``work`` in one read transaction."""

    @abc.abstractmethod
    def _write(self, work: Callable[[TxT], T]) -> T:
        """Run ``work`` in one write transaction; on any error nothing of it stays."""

    @abc.abstractmethod
    def _json_param(self, detail: dict[str, Any]) -> Any:
        """A detail map as the driver takes it for a JSON column."""

    @abc.abstractmethod
    def _store_records(
        self, tx: TxT, records: Sequence[IncomingRecord]
    ) -> tuple[list[StoreOutcome], dict[int, bytes]]:
        """Insert the records that are new; return every outcome and, per equivocation (by
        index), the record id that stays stored for its (device, seq)."""

    def _lock_devices(self, tx: TxT, devices: Sequence[str]) -> None:
        """Serialise transactions that touch the same devices (sorted; see module docstring)."""

    def _lock_alarms(self, tx: TxT) -> None:
        """Serialise alarm inserts so that alarm ids commit in order."""

    def _prepare_ingest(self, records: Sequence[IncomingRecord]) -> None:
        """Work before the ingest transaction (PostgreSQL creates partitions here)."""

    def _rollup_in_ingest(self) -> bool:
        """Whether ingest upserts ``tonnage_daily`` itself (not when it is an aggregate)."""
        return True

    # --- shared writes -------------------------------------------------------------------
    def _audit(self, tx: TxT, *, at: int, actor: str, action: str, detail: dict[str, Any]) -> None:
        tx.run(
            "INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)",
            (at, actor, action, self._json_param(detail)),
        )

    def _insert_alarms(self, tx: TxT, alarms: Sequence[Alarm]) -> list[Alarm]:
        if not alarms:
            return []
        self._lock_alarms(tx)
        stored: list[Alarm] = []
        for alarm in alarms:
            row = tx.one(
                "INSERT INTO alarms (kind, severity, raised_at, device, site, detail, ref)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    alarm.kind,
                    alarm.severity,
                    alarm.raised_at,
                    alarm.device,
                    alarm.site,
                    self._json_param(alarm.detail),
                    alarm.ref,
                ),
            )
            if row is None:
                raise StoreError("INSERT INTO alarms … RETURNING id returned no row")
            stored.append(dataclasses.replace(alarm, id=int(row[0])))
        return stored
