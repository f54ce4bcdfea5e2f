"""Versioned SQL migrations: the files, their sections, and which of them a database needs.

The files are package data, one folder per backend::

    central/store/migrations/sqlite/NNNN_name.sql
    central/store/migrations/postgres/NNNN_name.sql

``NNNN`` is the version (1, 2, 3 … with no gaps, never renumbered once released) and ``name`` is
lower-case ``[a-z0-9_]``. Each database records what it has applied in ``schema_migrations``
(version, name, variant, applied_at). A database that has applied a version this code does not
know, or a version under another name, is refused with ``MigrationError``: it was migrated by
newer (or different) code, and older code must not write to it.

**Sections.** One migration serves PostgreSQL with and without TimescaleDB. A line that is
exactly one of these markers (leading and trailing blanks ignored) decides who runs the lines
after it, up to the next marker:

``-- @timescaledb``
    only the ``timescaledb`` variant;
``-- @plain``
    only the ``plain`` variant (it may follow a ``@timescaledb`` section directly, as an
    "else");
``-- @end``
    both again.

For example::

    CREATE TABLE shared (...);        -- both
    -- @timescaledb
    SELECT create_hypertable(...);    -- with TimescaleDB only
    -- @plain
    CREATE TABLE part (...) PARTITION BY RANGE (day);   -- without it only
    -- @end
    CREATE INDEX ...;                 -- both

Any other comment starting with ``-- @`` is an error (a typo must not silently drop SQL), and so
is a file that ends inside a section. Left-out lines become empty lines, so the line numbers
in the server's error messages still match the file. SQLite is always ``plain``.

The variant of a database is chosen once, by its first migration, and recorded with every
migration applied; later migrations follow the recorded variant (installing TimescaleDB later
does not convert existing tables).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from central.errors import MigrationError

Variant = Literal["timescaledb", "plain"]
Backend = Literal["sqlite", "postgres"]

VARIANTS: tuple[Variant, ...] = ("timescaledb", "plain")
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_MARKER = re.compile(r"^--\s*@(\S*)\s*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    version: int
    name: str  # the file name without ``.sql``, e.g. ``0001_registry``
    text: str

    def sql(self, variant: Variant) -> str:
        """The statements of this migration for ``variant``."""
        return select_sections(self.text, variant, where=self.name)


def select_sections(text: str, variant: Variant, *, where: str) -> str:
    """Keep the lines shared by both variants and those of ``variant`` (module docstring)."""
    section: Variant | None = None
    opened_at = 0
    kept: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        marker = _MARKER.match(line.strip())
        if marker is None:
            kept.append(line if section in (None, variant) else "")
            continue
        word = marker.group(1)
        if word == "end":
            if section is None:
                raise MigrationError(f"{where}:{number}: '-- @end' without an open section")
            section = None
        elif word in VARIANTS:
            section = "timescaledb" if word == "timescaledb" else "plain"
            opened_at = number
        else:
            raise MigrationError(
                f"{where}:{number}: unknown marker '-- @{word}' (known: @timescaledb, @plain, @end)"
            )
        kept.append("")
    if section is not None:
        raise MigrationError(f"{where}: the section opened on line {opened_at} is never closed")
    return "\n".join(kept) + "\n"


def load(backend: Backend) -> list[Migration]:
    """Every migration shipped for ``backend``, in version order (checked: 1, 2, 3 …)."""
    folder = resources.files("central.store").joinpath("migrations", backend)
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {backend}/{entry.name}: not NNNN_name.sql")
        found.append(
            Migration(
                version=int(match.group(1)),
                name=entry.name.removesuffix(".sql"),
                text=entry.read_text(encoding="utf-8"),
            )
        )
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations for {backend} must be numbered 1, 2, 3 … without gaps; "
                f"found {migration.name} where version {expected} belongs"
            )
    for migration in found:  # a broken marker fails here, before anything is applied
        for variant in VARIANTS:
            migration.sql(variant)
    return found


def pending(migrations: Sequence[Migration], applied: Mapping[int, str]) -> list[Migration]:
    """The migrations still to apply; ``MigrationError`` if the database is ahead or differs."""
    known = {m.version: m for m in migrations}
    newest = max(known, default=0)
    ahead = sorted(v for v in applied if v > newest)
    if ahead:
        raise MigrationError(
            f"the database schema is at version {max(applied)} ({applied[max(applied)]}), "
            f"newer than this code knows ({newest}); upgrade coalgate before using this database"
        )
    for version, name in applied.items():
        if known[version].name != name:
            raise MigrationError(
                f"the database applied migration {version} as {name!r}, but this code "
                f"calls it {known[version].name!r}: it was migrated by different code"
            )
    return [m for m in migrations if m.version not in applied]


def split_statements(script: str, *, complete: Callable[[str], bool]) -> list[str]:
    """Cut ``script`` into statements, using ``complete`` (``sqlite3.complete_statement``)
    to tell where one ends, so that a trigger's ``BEGIN … END`` stays whole."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines(keepends=True):
        current.append(line)
        text = "".join(current)
        if complete(text):
            if text.strip():
                statements.append(text)
            current = []
    rest = "".join(current)
    if rest.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in rest.splitlines()
    ):
        raise MigrationError(f"unterminated SQL statement at the end of a migration: {rest!r}")
    return statements
