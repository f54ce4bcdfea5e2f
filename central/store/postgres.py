"""PostgreSQL backend (psycopg 3, a connection pool): production, and several ingest workers.

Ingest: a batch is copied (binary COPY) into a per-connection temporary table, then
``INSERT … SELECT … ON CONFLICT (device, seq) DO NOTHING`` stores the new ones; a record that was
not inserted is a duplicate when its record id equals the stored one and an equivocation when
not.

Several processes may ingest at once, with overlapping devices. Each batch first takes a
transaction-level advisory lock per device it contains, ``pg_advisory_xact_lock(ns,
hashtext(device))``, in ascending key order: batches of one device run one after the other, so
the outcome of every record, the device head and the alarms are decided on a settled state,
while batches of other devices run in parallel. The unique keys remain the last line of
defence (no row can be doubled whatever happens), the other shared rows (quarantine, rate
limits, tonnage) are taken in sorted order, and a deadlock or serialisation failure, should one
happen anyway, is retried. Alarm inserts take one more advisory lock, so alarm ids commit in
ascending order and a reader paging by id skips none.

Tonnage: with TimescaleDB (see :mod:`central.store.schema` and the 0003 migration) ``weighings``
is a hypertable and ``tonnage_daily`` a continuous aggregate that ingest does not touch; without
it ``weighings`` has monthly range partitions, created here on demand (in a short transaction
of their own before the batch, serialised by an advisory lock), and ingest upserts
``tonnage_daily`` in the batch's transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any, Final, TypeVar

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from central.errors import ConfigError, MigrationError, StoreError, StoreUnavailableError
from central.store import rules, schema
from central.store.model import IncomingRecord, StoreOutcome
from central.store.sql_api import ApiSql
from central.store.sql_base import Row
from central.store.sql_feeds import FeedSql
from central.store.sql_ingest import IngestSql
from central.store.sql_registry import RegistrySql

T = TypeVar("T")

# Advisory lock keys: (namespace, key) pairs of int4, so they cannot collide with other users'.
_NS_GLOBAL: Final = 0x63670000  # "cg" 0
_NS_DEVICE: Final = 0x63670001  # "cg" 1, keyed by hashtext(device)
_LOCK_ALARMS: Final = 1
_LOCK_PARTITIONS: Final = 2
_LOCK_MIGRATIONS: Final = 3

_ATTEMPTS: Final = 5  # a transaction that deadlocks or fails to serialise is retried this often

_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS ingest_stage ("
    " idx int4 NOT NULL, first bool NOT NULL, device text NOT NULL, seq int8 NOT NULL,"
    " record_id bytea NOT NULL, site text NOT NULL, ts int8 NOT NULL, type text NOT NULL,"
    " received_at int8 NOT NULL, raw bytea NOT NULL"
    ") ON COMMIT DELETE ROWS"
)
_STAGE_TYPES: Final = [
    "int4", "bool", "text", "int8", "bytea", "text", "int8", "text", "int8", "bytea"
]  # fmt: skip
_COPY_STAGE = (
    "COPY ingest_stage (idx, first, device, seq, record_id, site, ts, type, received_at, raw)"
    " FROM STDIN (FORMAT BINARY)"
)
_INSERT_FROM_STAGE = (
    "WITH inserted AS ("
    " INSERT INTO records (device, seq, record_id, site, ts, type, received_at, raw)"
    " SELECT device, seq, record_id, site, ts, type, received_at, raw"
    " FROM ingest_stage WHERE first ORDER BY idx"
    " ON CONFLICT (device, seq) DO NOTHING"
    " RETURNING device, seq"
    ") SELECT s.idx FROM ingest_stage AS s"
    " JOIN inserted AS i ON i.device = s.device AND i.seq = s.seq WHERE s.first"
)
# Every staged record whose (device, seq) holds other bytes: an equivocation, and what stays.
_DIFFERENT = (
    "SELECT s.idx, r.record_id FROM ingest_stage AS s"
    " JOIN records AS r ON r.device = s.device AND r.seq = s.seq"
    " WHERE r.record_id <> s.record_id"
)
_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, variant text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())"
)


@functools.lru_cache(maxsize=512)
def _pg(statement: str) -> str:
    """The portable statement with psycopg's placeholders (see central.store.sql_base)."""
    return statement.replace("?", "%s")


class PgTx:
    """A transaction on one pooled connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.cursor = conn.cursor()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.cursor.execute(_pg(sql), params or None)
        return self.cursor.fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self.cursor.execute(_pg(sql), params or None)
        rows = self.cursor.fetchall()
        return rows[0] if rows else None

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.cursor.execute(_pg(sql), params or None)
        return self.cursor.rowcount

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self.cursor.executemany(_pg(sql), params)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Each pooled connection gets its staging table once (rows vanish at every commit)."""
    conn.execute(_STAGE)


def _why(dsn: str) -> str:
    """The server's own reason for refusing a connection (the pool only says it timed out)."""
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.Error as exc:
        return str(exc).strip()
    return "the pool could not fill in time"


def _partition_name(month: date) -> str:
    return f"weighings_p{month.year:04d}_{month.month:02d}"


class PostgresStore(RegistrySql[PgTx], IngestSql[PgTx], ApiSql[PgTx], FeedSql[PgTx]):
    """The :class:`~central.store.base.Store` on PostgreSQL; safe for several ingest processes.

    ``timescaledb``: ``None`` uses TimescaleDB when the server offers it (the first migration
    decides for the life of the database), ``True`` requires it, ``False`` never uses it.
    """

    backend = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        connect_timeout_s: float = 10.0,
        timescaledb: bool | None = None,
    ) -> None:
        try:
            conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"bad PostgreSQL URL: {exc}") from exc
        self._want_timescaledb = timescaledb
        self._variant: schema.Variant | None = None
        self._partitions: set[date] = set()  # months known to have a partition
        self._pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(connect_timeout_s))},
            configure=_configure,
            name="coalgate-store",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailableError(
                f"PostgreSQL not reachable within {connect_timeout_s:g} s: {_why(dsn)}"
            ) from exc

    # --- life cycle ----------------------------------------------------------------------
    def close(self) -> None:
        self._pool.close()

    def migrate(self) -> list[str]:
        migrations = schema.load("postgres")
        applied: list[str] = []
        try:
            with self._pool.connection() as conn:
                while (name := self._apply_next(conn, migrations)) is not None:
                    applied.append(name)
        except MigrationError:
            raise
        except PoolTimeout as exc:
            raise StoreUnavailableError(f"no PostgreSQL connection: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"PostgreSQL: {exc}") from exc
        except psycopg.Error as exc:
            raise MigrationError(f"migration failed: {exc}") from exc
        self._variant = None  # read again: the first migration may just have chosen it
        return applied

    def _apply_next(
        self, conn: psycopg.Connection[Any], migrations: Sequence[schema.Migration]
    ) -> str | None:
        """Apply the next pending migration in its own transaction; None when up to date."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_NS_GLOBAL, _LOCK_MIGRATIONS))
            conn.execute(_SCHEMA_MIGRATIONS)
            rows = conn.execute("SELECT version, name, variant FROM schema_migrations").fetchall()
            todo = schema.pending(migrations, {version: name for version, name, _ in rows})
            variant = self._choose_variant(conn, {v for _, _, v in rows})
            if not todo:
                return None
            migration = todo[0]
            try:
                conn.execute(migration.sql(variant))
            except psycopg.Error as exc:
                raise MigrationError(
                    f"migration {migration.name} ({variant}) failed: {exc}"
                ) from exc
            conn.execute(
                "INSERT INTO schema_migrations (version, name, variant) VALUES (%s, %s, %s)",
                (migration.version, migration.name, variant),
            )
            return migration.name

    def _choose_variant(self, conn: psycopg.Connection[Any], recorded: set[str]) -> schema.Variant:
        if len(recorded) > 1:
            raise MigrationError(f"schema_migrations mixes variants {sorted(recorded)}")
        if recorded:
            variant: schema.Variant = "timescaledb" if recorded == {"timescaledb"} else "plain"
        else:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
            ).fetchone()
            available = bool(row and row[0])
            if self._want_timescaledb and not available:
                raise MigrationError("TimescaleDB was required but the server does not offer it")
            use = available if self._want_timescaledb is None else self._want_timescaledb
            variant = "timescaledb" if use else "plain"
        wanted = self._want_timescaledb
        if wanted is not None and wanted != (variant == "timescaledb"):
            raise MigrationError(
                f"this database was created {'with' if variant == 'timescaledb' else 'without'}"
                f" TimescaleDB; it cannot be migrated {'with' if wanted else 'without'} it"
            )
        return variant

    @property
    def variant(self) -> schema.Variant:
        """``timescaledb`` or ``plain``: how this database was created (read once)."""
        if self._variant is None:
            row = self._read(
                lambda tx: tx.one(
                    "SELECT variant FROM schema_migrations ORDER BY version DESC LIMIT 1"
                )
            )
            if row is None:
                raise MigrationError("the database has no schema yet: run migrate first")
            self._variant = "timescaledb" if row[0] == "timescaledb" else "plain"
        return self._variant

    # --- transactions --------------------------------------------------------------------
    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except PoolTimeout as exc:
            raise StoreUnavailableError(f"no PostgreSQL connection: {exc}") from exc
        except PoolClosed as exc:
            raise StoreError("the PostgreSQL store is closed") from exc
        except errors.UndefinedTable as exc:
            raise MigrationError(f"the database schema is missing ({exc}): run migrate") from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"PostgreSQL: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc

    def _run(self, work: Callable[[PgTx], T]) -> T:
        attempt = 1
        with self._translated():
            while True:
                try:
                    with self._pool.connection() as conn, conn.transaction():
                        return work(PgTx(conn))
                except errors.TransactionRollback:  # deadlock, serialisation failure
                    if attempt >= _ATTEMPTS:
                        raise
                    attempt += 1

    def _read(self, work: Callable[[PgTx], T]) -> T:
        return self._run(work)

    def _write(self, work: Callable[[PgTx], T]) -> T:
        return self._run(work)

    def _json_param(self, detail: dict[str, Any]) -> Any:
        return Jsonb(detail, dumps=rules.dumps)

    def _lock_devices(self, tx: PgTx, devices: Sequence[str]) -> None:
        if devices:
            tx.cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, key) FROM ("
                " SELECT DISTINCT hashtext(d) AS key FROM unnest(%s::text[]) AS d ORDER BY key"
                ") AS keys ORDER BY key",
                (_NS_DEVICE, list(devices)),
            )

    def _for_update(self) -> str:
        return " FOR UPDATE"

    def _lock_alarms(self, tx: PgTx) -> None:
        tx.cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_NS_GLOBAL, _LOCK_ALARMS))

    def _rollup_in_ingest(self) -> bool:
        return self.variant == "plain"

    # --- ingest --------------------------------------------------------------------------
    def _prepare_ingest(self, records: Sequence[IncomingRecord]) -> None:
        if self.variant != "plain":
            return  # TimescaleDB makes its chunks itself
        months = {
            rules.month_of(rules.cst_day(r.ts)) for r in records if rules.tonnage_facts(r)
        } - self._partitions
        if months:
            self._write(lambda tx: self._create_partitions(tx, sorted(months)))
            self._partitions |= months

    def _create_partitions(self, tx: PgTx, months: Sequence[date]) -> None:
        tx.cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_NS_GLOBAL, _LOCK_PARTITIONS))
        for month in months:
            name = _partition_name(month)
            tx.cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
            row = tx.cursor.fetchone()
            if row is not None and row[0]:
                continue
            tx.cursor.execute(
                sql.SQL(
                    "CREATE TABLE {} PARTITION OF weighings FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(name),
                    sql.Literal(month),
                    sql.Literal(rules.next_month(month)),
                )
            )

    def partitions(self) -> list[str]:
        """Names of the partitions of ``weighings`` (plain variant), in order."""
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT c.relname FROM pg_inherits AS i"
                " JOIN pg_class AS c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = to_regclass('weighings') ORDER BY c.relname"
            )
        )
        return [str(r[0]) for r in rows]

    def _store_records(
        self, tx: PgTx, records: Sequence[IncomingRecord]
    ) -> tuple[list[StoreOutcome], dict[int, bytes]]:
        cursor = tx.conn.cursor(binary=True)
        firsts = rules.first_in_batch(records)
        with cursor.copy(_COPY_STAGE) as copy:
            copy.set_types(_STAGE_TYPES)
            for index, (r, first) in enumerate(zip(records, firsts, strict=True)):
                copy.write_row(
                    (index, first, r.device, r.seq, r.record_id, r.site, r.ts, r.type,
                     r.received_at, r.raw)
                )  # fmt: skip
        cursor.execute(_INSERT_FROM_STAGE)
        inserted = {int(row[0]) for row in cursor.fetchall()}
        cursor.execute(_DIFFERENT)
        kept = {int(index): bytes(record_id) for index, record_id in cursor.fetchall()}
        outcomes: list[StoreOutcome] = [
            "inserted" if i in inserted else "equivocation" if i in kept else "duplicate"
            for i in range(len(records))
        ]
        return outcomes, kept
