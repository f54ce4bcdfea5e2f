"""SQLite backend: the embedded default, one file, so one command runs everything on a laptop.

WAL journal, ``synchronous=FULL`` (a committed batch survives power loss: acks depend on it),
foreign keys on, and a busy timeout. One connection, shared by every thread of the process and
guarded by a lock, so calls through ``asyncio.to_thread`` are safe. Each public method is one
transaction; writes begin with ``BEGIN IMMEDIATE`` so that they take the write lock up front
instead of failing half-way.

**One ingest worker only.** SQLite allows one writer at a time: a second process writing the
same file waits up to the busy timeout and then fails with ``StoreUnavailableError``. Run
several ingest workers on PostgreSQL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from central.errors import ConfigError, MigrationError, StoreError, StoreUnavailableError
from central.store import rules, schema
from central.store.model import IncomingRecord, StoreOutcome
from central.store.sql_api import ApiSql
from central.store.sql_base import Row
from central.store.sql_feeds import FeedSql
from central.store.sql_ingest import IngestSql
from central.store.sql_registry import RegistrySql

T = TypeVar("T")

_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, variant TEXT NOT NULL,"
    " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP) STRICT"
)


class SqliteTx:
    """A transaction on the store's one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(r) for r in self.conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        # fetchall, not fetchone: an INSERT … RETURNING must run to completion.
        rows = self.conn.execute(sql, params).fetchall()
        return tuple(rows[0]) if rows else None

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, params)


def _translate(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StoreUnavailableError(f"SQLite database {path} is busy: {text}")
    return StoreError(f"SQLite database {path}: {text}")


class SqliteStore(RegistrySql[SqliteTx], IngestSql[SqliteTx], ApiSql[SqliteTx], FeedSql[SqliteTx]):
    """The :class:`~central.store.base.Store` on one SQLite file (one writer: one ingest worker)."""

    backend = "sqlite"

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000) -> None:
        if not path.parent.is_dir():
            raise ConfigError(f"the directory of the database {path} does not exist")
        self.path = path
        self._lock = threading.Lock()
        try:
            conn = sqlite3.connect(
                path,
                isolation_level=None,  # no implicit transactions: each method opens its own
                check_same_thread=False,  # shared by threads, serialised by self._lock
                timeout=busy_timeout_ms / 1000,
            )
        except sqlite3.Error as exc:
            raise _translate(exc, path) from exc
        try:
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        except sqlite3.Error as exc:
            conn.close()
            raise _translate(exc, path) from exc
        if str(mode).lower() != "wal":
            conn.close()
            raise ConfigError(f"SQLite database {path} cannot use WAL (journal mode {mode})")
        self._conn: sqlite3.Connection | None = conn

    # --- life cycle ----------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def migrate(self) -> list[str]:
        migrations = schema.load("sqlite")
        applied: list[str] = []
        with self._lock:
            conn = self._connection()
            try:
                conn.execute(_SCHEMA_MIGRATIONS)
                applied.extend(m.name for m in migrations if self._apply(conn, m, migrations))
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
        return applied

    def _apply(
        self,
        conn: sqlite3.Connection,
        migration: schema.Migration,
        migrations: Sequence[schema.Migration],
    ) -> bool:
        """Apply ``migration`` in its own transaction unless the database has it already."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = dict(conn.execute("SELECT version, name FROM schema_migrations").fetchall())
            todo = schema.pending(migrations, done)
            if migration not in todo:
                conn.execute("COMMIT")
                return False
            for statement in schema.split_statements(
                migration.sql("plain"), complete=sqlite3.complete_statement
            ):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, variant) VALUES (?, ?, 'plain')",
                (migration.version, migration.name),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
        except BaseException:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return True

    # --- hooks ---------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"SQLite store {self.path} is closed")
        return self._conn

    def _run(self, work: Callable[[SqliteTx], T], *, begin: str) -> T:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute(begin)
                try:
                    result = work(SqliteTx(conn))
                    conn.execute("COMMIT")
                except BaseException:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            return result

    def _read(self, work: Callable[[SqliteTx], T]) -> T:
        return self._run(work, begin="BEGIN")

    def _write(self, work: Callable[[SqliteTx], T]) -> T:
        return self._run(work, begin="BEGIN IMMEDIATE")

    def _json_param(self, detail: dict[str, Any]) -> Any:
        return rules.dumps(detail)

    def _store_records(
        self, tx: SqliteTx, records: Sequence[IncomingRecord]
    ) -> tuple[list[StoreOutcome], dict[int, bytes]]:
        # The write lock is ours for the whole transaction, so what is read here stays true.
        seqs: dict[str, list[int]] = {}
        for record in records:
            seqs.setdefault(record.device, []).append(record.seq)
        stored: dict[tuple[str, int], bytes] = {}
        for device, wanted in seqs.items():
            for seq, record_id in tx.rows(
                "SELECT seq, record_id FROM records"
                " WHERE device = ? AND seq IN (SELECT value FROM json_each(?))",
                (device, json.dumps(wanted)),
            ):
                stored[(device, seq)] = bytes(record_id)
        outcomes, kept = rules.plan_outcomes(records, stored)
        tx.many(
            "INSERT INTO records (device, seq, record_id, site, ts, type, received_at, raw)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.device, r.seq, r.record_id, r.site, r.ts, r.type, r.received_at, r.raw)
                for r, outcome in zip(records, outcomes, strict=True)
                if outcome == "inserted"
            ],
        )
        return outcomes, kept
