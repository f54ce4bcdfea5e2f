from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.store import open_store
from central.store.base import Store
from tests.central.transparency.support import BACKENDS


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``sqlite:///…`` in the test's directory, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()
