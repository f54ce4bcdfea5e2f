"""Both stores for the feed tests: SQLite in a temporary file, and a fresh database on the
real PostgreSQL server (``postgres_dsn``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.store.base import Store
from central.store.sqlite import SqliteStore

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SqliteStore(tmp_path / "central.db")
    else:
        from central.store.postgres import PostgresStore  # noqa: PLC0415

        opened = PostgresStore(request.getfixturevalue("postgres_dsn"), max_size=2)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()
