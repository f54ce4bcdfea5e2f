"""SQLite-only behaviour: the file's settings, one writer, and threads sharing one store."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from central.errors import StoreUnavailableError
from central.store.model import IncomingRecord
from central.store.sqlite import SqliteStore
from tests.central.builders import T0, Edge


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "central.db", busy_timeout_ms=200)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


def test_the_file_is_in_wal_mode_with_foreign_keys(store: SqliteStore) -> None:
    with closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"records", "equivocations", "quarantine", "alarms", "weighings"} <= tables
    assert {"device_heads", "gaps", "tonnage_daily", "schema_migrations", "audit"} <= tables


def test_a_second_writer_waits_then_is_told_the_store_is_busy(store: SqliteStore) -> None:
    with closing(sqlite3.connect(store.path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        with pytest.raises(StoreUnavailableError, match=r"busy|locked"):
            store.ingest([Edge().record(1)], [], now_ms=T0)
        assert store.contiguous("yl-mine-a-gate-1") == 0  # reads still work under WAL
        other.execute("ROLLBACK")
    assert store.ingest([Edge().record(1)], [], now_ms=T0).outcomes == ("inserted",)


def test_threads_share_one_store(store: SqliteStore) -> None:
    edges = [Edge(device=f"yl-mine-a-gate-{n}", seed=30 + n) for n in range(4)]
    streams = [edge.stream(40) for edge in edges]
    errors: list[BaseException] = []

    def work(records: list[IncomingRecord]) -> None:
        try:
            for i in range(0, len(records), 5):
                store.ingest(records[i : i + 5], [], now_ms=T0)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(s,), name=f"t{n}") for n, s in enumerate(streams)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert [store.contiguous(edge.device) for edge in edges] == [40, 40, 40, 40]
