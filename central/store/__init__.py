"""Central's storage: one interface (:mod:`central.store.base`), two backends.

:func:`open_store` picks the backend from a URL (``COALGATE_DATABASE_URL``):

- ``postgresql://…`` (or ``postgres://…``): :class:`~central.store.postgres.PostgresStore`;
- ``sqlite:///abs/path.db``, or a plain file path: :class:`~central.store.sqlite.SqliteStore`
  (the embedded default; one ingest worker only).

The store is opened, not migrated: call ``migrate()`` at start (or ``coalgate central migrate``).
"""

from __future__ import annotations

from pathlib import Path

from central.errors import ConfigError
from central.store.base import Store


def open_store(url: str) -> Store:
    """Open the store ``url`` names; ``ConfigError`` for a URL no backend takes."""
    if url.startswith(("postgresql://", "postgres://")):
        from central.store.postgres import PostgresStore  # noqa: PLC0415 - psycopg only if used

        return PostgresStore(url)
    from central.store.sqlite import SqliteStore  # noqa: PLC0415 - keep the package import light

    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if not path.startswith("/"):
            raise ConfigError(f"SQLite URL {url!r}: write sqlite:///absolute/path.db")
        return SqliteStore(Path(path))
    if "://" in url or not url.strip():
        raise ConfigError(
            f"database URL {url!r}: expected postgresql://…, sqlite:///path or a file path"
        )
    return SqliteStore(Path(url))
