"""The journal (adapter): signed, chained records in SQLite, durable before ``append`` returns.

One database per device, in WAL mode with ``synchronous=FULL``: a record is committed — with its
seq, its id and its bytes — in one transaction, so after a crash (kill -9, power loss) it is
either wholly there or not at all, and ``open`` recovers the last seq and record id from the
records themselves. A seq is never reused: the highest record is never pruned, even once acked.

The journal is also the outbox: ``pending`` reads what central has not acked, ``acked`` moves
the (monotonic, persisted) ack, and only ``prune`` — an explicit retention step — deletes
records, never one above the ack. Disk is bounded: ``usage()`` reports the alarm condition
(``alarm_fraction`` of the budget, 80 % by default) long before ``append`` refuses with
``JournalFullError`` at the budget. The latest verified site bundle is cached here too.

Thread-safe: one lock around the connection, so a lane may append from a worker thread while
the uplink reads on the event loop. Listeners hear of each committed entry (after the commit,
outside the lock) — the uplink uses that to publish at once.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Self

from edge.errors import JournalError, JournalFullError
from wire.bodies import Body
from wire.errors import WireError
from wire.keys import KeySet, SigningKey
from wire.records import ZERO_HASH, record_id, sign_record, verify_record

SCHEMA_VERSION: Final = 1
#: Default disk budget for the database (records, bundle, indexes): 2 GiB.
DEFAULT_BUDGET_BYTES: Final = 2 * 1024**3
DEFAULT_ALARM_FRACTION: Final = 0.8

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value ANY) STRICT",
    """CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY,
        id BLOB NOT NULL,
        type TEXT NOT NULL,
        ts INTEGER NOT NULL,
        data BLOB NOT NULL
    ) STRICT""",
    """CREATE TABLE IF NOT EXISTS bundle (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        version INTEGER NOT NULL,
        data BLOB NOT NULL,
        received_ms INTEGER NOT NULL
    ) STRICT""",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One committed record: its seq, its id (SHA-256 of ``data``) and its COSE bytes."""

    seq: int
    record_id: bytes
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalUsage:
    """How full the journal is. ``alarm`` is the ``backlog_high`` condition."""

    used_bytes: int
    budget_bytes: int
    alarm_fraction: float
    highest_seq: int
    acked_seq: int

    @property
    def backlog(self) -> int:
        """Records written but not acked by central."""
        return self.highest_seq - self.acked_seq

    @property
    def fraction(self) -> float:
        return self.used_bytes / self.budget_bytes

    @property
    def alarm(self) -> bool:
        return self.fraction >= self.alarm_fraction


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedBundle:
    """The latest verified site bundle's bytes (verify again on use: the disk is not trusted
    more than the wire)."""

    version: int
    data: bytes
    received_ms: int


class AckOutcome(StrEnum):
    ADVANCED = "advanced"
    """The ack moved forward."""
    STALE = "stale"
    """At or below the ack already held (out of order, or repeated): kept the maximum."""
    BEYOND = "beyond"
    """Above the highest seq ever written: ignored (raise ``ack_rejected``)."""


Listener = Callable[[JournalEntry], None]


class Journal:
    """The device's journal; build it with ``Journal.open``. See the module docstring."""

    def __init__(
        self,
        *,
        db: sqlite3.Connection,
        path: Path,
        key: SigningKey,
        site: str,
        device: str,
        budget_bytes: int,
        alarm_fraction: float,
        highest_seq: int,
        last_id: bytes,
        acked_seq: int,
        logger: logging.Logger,
    ) -> None:
        self._db = db
        self.path = path
        self._key = key
        self.site = site
        self.device = device
        self.budget_bytes = budget_bytes
        self.alarm_fraction = alarm_fraction
        self._highest = highest_seq
        self._last_id = last_id
        self._acked = acked_seq
        self._log = logger
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._page_size = self._scalar("PRAGMA page_size")
        self._used = self._measure()

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        key: SigningKey,
        site: str,
        device: str,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        alarm_fraction: float = DEFAULT_ALARM_FRACTION,
        logger: logging.Logger | None = None,
    ) -> Journal:
        """Open (or create) the journal of ``device`` at ``site``.

        Refuses a journal written for another site or device, and one whose last record does
        not verify under ``key`` (a journal is a device's identity, WIRE.md: a device that lost
        its journal is enrolled anew).
        """
        if key.kid != device:
            raise ValueError(f"device {device!r} must sign with its own key, not {key.kid!r}")
        if not 0 < alarm_fraction <= 1:
            raise ValueError("alarm_fraction must be in (0, 1]")
        log = logger or logging.getLogger(__name__)
        where = str(path)
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal {where}: {exc}", path=where) from exc
        try:
            highest, last_id, acked = _prepare(db, path=path, site=site, device=device, key=key)
        except BaseException:
            db.close()
            raise
        journal = cls(
            db=db,
            path=path,
            key=key,
            site=site,
            device=device,
            budget_bytes=budget_bytes,
            alarm_fraction=alarm_fraction,
            highest_seq=highest,
            last_id=last_id,
            acked_seq=acked,
            logger=log,
        )
        log.info(
            "journal %s: %s at seq %d, acked %d, %d of %d bytes used",
            path, device, highest, acked, journal._used, budget_bytes,
        )  # fmt: skip
        return journal

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------

    def append(self, *, record_type: str, body: Body, ts_ms: int) -> JournalEntry:
        """Sign, chain and durably commit one record; return only once it is on disk.

        Raises ``JournalFullError`` when the record would pass the disk budget (nothing is
        deleted to make room) and ``JournalError`` for any disk or database fault; in both
        cases no seq is consumed.
        """
        if record_type != body.TYPE:
            raise ValueError(f"record type {record_type!r} does not match a {body.TYPE} body")
        with self._lock:
            seq = self._highest + 1
            record = sign_record(
                self._key,
                site=self.site,
                device=self.device,
                seq=seq,
                prev=self._last_id,
                ts=ts_ms,
                body=body,
            )
            needed = self._used + len(record.raw)
            if needed > self.budget_bytes:
                raise JournalFullError(
                    f"journal {self.path} is full: {self._used} of {self.budget_bytes} bytes "
                    f"used and {self._highest - self._acked} records not acked by central",
                    path=str(self.path),
                    used_bytes=self._used,
                    budget_bytes=self.budget_bytes,
                )
            with self._transaction("append"):
                self._db.execute(
                    "INSERT INTO records (seq, id, type, ts, data) VALUES (?, ?, ?, ?, ?)",
                    (seq, record.id, record_type, ts_ms, record.raw),
                )
            self._highest = seq
            self._last_id = record.id
            # The record is committed: nothing after this point may fail the append (the
            # caller would take a durable record for a lost one).
            try:
                self._used = self._measure()
            except JournalError as exc:
                self._log.warning("journal %s: cannot measure its size: %s", self.path, exc)
                self._used += len(record.raw)
            listeners = list(self._listeners)
        entry = JournalEntry(seq=seq, record_id=record.id, data=record.raw)
        for listener in listeners:
            try:
                listener(entry)
            # A listener's bug must not turn a durable record into a "lost" one for the caller.
            except Exception:  # noqa: BLE001  # logged with its traceback, then carry on
                self._log.exception("journal %s: a listener failed on seq %d", self.path, seq)
        return entry

    def acked(self, seq: int) -> AckOutcome:
        """Record central's (verified) ack of ``seq``: keep the maximum, persist it; an ack
        above the highest seq written is ignored and reported as ``BEYOND``."""
        with self._lock:
            if seq > self._highest:
                self._log.warning(
                    "journal %s: ack %d is above the highest seq written (%d); ignored",
                    self.path, seq, self._highest,
                )  # fmt: skip
                return AckOutcome.BEYOND
            if seq <= self._acked:
                return AckOutcome.STALE
            # Committed without its own fsync: an ack lost to a power cut only means records
            # are sent again (central keeps duplicates harmlessly), and the next FULL commit
            # (an append, a prune) syncs the WAL up to and including it — so retention never
            # acts on an ack that is not on disk. Acks come many times a second while draining.
            self._set_synchronous("NORMAL")
            try:
                with self._transaction("ack"):
                    self._db.execute("UPDATE meta SET value = ? WHERE key = 'acked'", (seq,))
            finally:
                self._set_synchronous("FULL")
            self._acked = seq
            return AckOutcome.ADVANCED

    def prune(self, *, keep: int = 0) -> int:
        """Retention: delete acked records except the ``keep`` most recent acked ones and the
        highest record (it carries the chain across restarts). Never touches an un-acked one.
        Returns how many were deleted."""
        if keep < 0:
            raise ValueError("keep must be 0 or more")
        with self._lock:
            below = min(self._acked - keep, self._highest - 1)
            if below < 1:
                return 0
            with self._transaction("prune"):
                cursor = self._db.execute("DELETE FROM records WHERE seq <= ?", (below,))
            self._used = self._measure()
            return cursor.rowcount

    def store_bundle(self, *, version: int, data: bytes, received_ms: int) -> bool:
        """Cache a bundle the caller has verified; refused (False) unless ``version`` is above
        the cached one. Not counted against a full budget: a lane needs it to work at all."""
        with self._lock:
            held = self._db.execute("SELECT version FROM bundle WHERE one = 1").fetchone()
            if held is not None and version <= held[0]:
                return False
            with self._transaction("bundle"):
                self._db.execute(
                    "INSERT INTO bundle (one, version, data, received_ms) VALUES (1, ?, ?, ?) "
                    "ON CONFLICT (one) DO UPDATE SET version = excluded.version, "
                    "data = excluded.data, received_ms = excluded.received_ms",
                    (version, data, received_ms),
                )
            self._used = self._measure()
            return True

    def set_rejected(self, reason: str | None) -> None:
        """Persist central's ``reject`` (the uplink stops sending until re-enrollment clears
        it with ``None``)."""
        with self._lock, self._transaction("reject"):
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('rejected', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (reason,),
            )

    # --- reading -------------------------------------------------------------------------

    def pending(self, *, after_seq: int = 0, limit: int = 200) -> list[JournalEntry]:
        """Un-acked records above ``after_seq``, in seq order, at most ``limit`` of them."""
        with self._lock:
            start = max(after_seq, self._acked)
            rows = self._read(
                "SELECT seq, id, data FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                (start, limit),
            )
        return [JournalEntry(seq=seq, record_id=rid, data=data) for seq, rid, data in rows]

    def entries(self, *, from_seq: int = 1, to_seq: int | None = None) -> Iterator[JournalEntry]:
        """Stored records from ``from_seq`` to ``to_seq`` (inclusive), acked or not."""
        last = self.highest_seq if to_seq is None else to_seq
        seq = from_seq
        while seq <= last:
            with self._lock:
                rows = self._read(
                    "SELECT seq, id, data FROM records WHERE seq >= ? AND seq <= ? "
                    "ORDER BY seq LIMIT 500",
                    (seq, last),
                )
            if not rows:
                return
            for row_seq, rid, data in rows:
                yield JournalEntry(seq=row_seq, record_id=rid, data=data)
            seq = rows[-1][0] + 1

    def bundle(self) -> CachedBundle | None:
        with self._lock:
            rows = self._read("SELECT version, data, received_ms FROM bundle WHERE one = 1", ())
        if not rows:
            return None
        version, data, received_ms = rows[0]
        return CachedBundle(version=version, data=data, received_ms=received_ms)

    def rejected(self) -> str | None:
        with self._lock:
            rows = self._read("SELECT value FROM meta WHERE key = 'rejected'", ())
        return rows[0][0] if rows else None

    def usage(self) -> JournalUsage:
        with self._lock:
            return JournalUsage(
                used_bytes=self._used,
                budget_bytes=self.budget_bytes,
                alarm_fraction=self.alarm_fraction,
                highest_seq=self._highest,
                acked_seq=self._acked,
            )

    @property
    def highest_seq(self) -> int:
        return self._highest

    @property
    def last_record_id(self) -> bytes:
        return self._last_id

    @property
    def acked_seq(self) -> int:
        return self._acked

    @property
    def backlog(self) -> int:
        return self._highest - self._acked

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(entry)`` after each commit, on the appending thread."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # --- helpers (caller holds the lock) -------------------------------------------------

    def _set_synchronous(self, level: str) -> None:
        try:
            self._db.execute(f"PRAGMA synchronous={level}")
        except sqlite3.Error as exc:
            raise JournalError(
                f"journal {self.path}: cannot set synchronous={level}: {exc}", path=str(self.path)
            ) from exc

    @contextlib.contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            raise JournalError(
                f"journal {self.path}: {what} failed: {exc}", path=str(self.path)
            ) from exc

    def _read(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(
                f"journal {self.path}: read failed: {exc}", path=str(self.path)
            ) from exc

    def _scalar(self, sql: str) -> int:
        value = self._read(sql, ())[0][0]
        if not isinstance(value, int):
            raise JournalError(f"journal {self.path}: {sql} gave {value!r}", path=str(self.path))
        return value

    def _measure(self) -> int:
        """Bytes the database occupies, free pages excluded (the WAL is kept small by
        SQLite's auto-checkpoint and is not counted)."""
        pages = self._scalar("PRAGMA page_count")
        free = self._scalar("PRAGMA freelist_count")
        return (pages - free) * self._page_size


def _prepare(
    db: sqlite3.Connection, *, path: Path, site: str, device: str, key: SigningKey
) -> tuple[int, bytes, int]:
    """Set the pragmas, create or check the schema; return (highest seq, last id, acked)."""
    where = str(path)
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise JournalError(f"journal {where}: cannot use WAL mode (got {mode})", path=where)
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            db.execute(statement)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema", SCHEMA_VERSION), ("site", site), ("device", device), ("acked", 0)],
            )
            meta = {"schema": SCHEMA_VERSION, "site": site, "device": device, "acked": 0}
        db.execute("COMMIT")
        last = db.execute("SELECT seq, id, data FROM records ORDER BY seq DESC LIMIT 1").fetchone()
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open the journal {where}: {exc}", path=where) from exc
    if meta.get("schema") != SCHEMA_VERSION:
        raise JournalError(
            f"journal {where} has schema {meta.get('schema')!r}; this agent reads {SCHEMA_VERSION}",
            path=where,
        )
    if (meta.get("site"), meta.get("device")) != (site, device):
        raise JournalError(
            f"journal {where} belongs to {meta.get('device')!r} at {meta.get('site')!r}, "
            f"not {device!r} at {site!r}",
            path=where,
        )
    if last is None:
        return 0, ZERO_HASH, 0
    seq, rid, data = last
    try:
        record = verify_record(data, KeySet([key.public]))
    except WireError as exc:
        raise JournalError(
            f"journal {where}: the last record (seq {seq}) does not verify under this "
            f"device's key: {exc.message}",
            path=where,
        ) from exc
    if record.seq != seq or record_id(data) != rid or record.site != site:
        raise JournalError(f"journal {where}: the last record (seq {seq}) is corrupt", path=where)
    acked = int(meta["acked"])
    return seq, rid, min(acked, seq)
