"""Migration files and their ``-- @timescaledb`` / ``-- @plain`` / ``-- @end`` sections.

The TimescaleDB path cannot run on a server without the extension; these tests at least pin
which statements each variant of the shipped migrations runs.
"""

from __future__ import annotations

import sqlite3

import pytest

from central.errors import MigrationError
from central.store import schema

TEXT = """CREATE TABLE both_a (x int);
-- @timescaledb
SELECT create_hypertable('t', 'day');
-- @plain
CREATE TABLE t_2027_01 PARTITION OF t;
-- @end
CREATE INDEX both_b ON t (x);
"""


def test_sections_keep_shared_lines_and_their_variant_at_the_same_line_numbers() -> None:
    timescale = schema.select_sections(TEXT, "timescaledb", where="t").splitlines()
    plain = schema.select_sections(TEXT, "plain", where="t").splitlines()
    assert len(timescale) == len(plain) == len(TEXT.splitlines())
    assert timescale[0] == plain[0] == "CREATE TABLE both_a (x int);"
    assert timescale[2] == "SELECT create_hypertable('t', 'day');"
    assert plain[2] == ""
    assert plain[4] == "CREATE TABLE t_2027_01 PARTITION OF t;"
    assert timescale[4] == ""
    assert timescale[6] == plain[6] == "CREATE INDEX both_b ON t (x);"
    assert not any("@" in line for line in [*timescale, *plain])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- @timescale\nSELECT 1;\n-- @end\n", "unknown marker"),
        ("-- @plain\nSELECT 1;\n", "never closed"),
        ("SELECT 1;\n-- @end\n", "without an open section"),
    ],
)
def test_broken_markers_are_errors(text: str, message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        schema.select_sections(text, "plain", where="0009_broken")


def test_shipped_migrations_are_numbered_and_parse() -> None:
    for backend in ("sqlite", "postgres"):
        migrations = schema.load(backend)
        assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    sqlite_names = [m.name for m in schema.load("sqlite")]
    assert sqlite_names == [m.name for m in schema.load("postgres")]


def test_the_tonnage_migration_per_variant() -> None:
    (tonnage,) = [m for m in schema.load("postgres") if m.name.endswith("_tonnage")]
    timescale, plain = tonnage.sql("timescaledb"), tonnage.sql("plain")
    for statement in (
        "CREATE EXTENSION IF NOT EXISTS timescaledb",
        "create_hypertable('weighings', 'day'",
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false)",
        "add_continuous_aggregate_policy",
    ):
        assert statement in timescale
        assert statement not in plain
    assert "PARTITION BY RANGE (day)" in plain
    assert "PARTITION BY RANGE" not in timescale
    assert "CREATE TABLE tonnage_daily" in plain
    assert "CREATE TABLE tonnage_daily" not in timescale
    for both in (timescale, plain):
        assert both.count("CREATE TABLE weighings") == 1
        assert "CREATE INDEX weighings_site_day" in both


def test_sqlite_statements_are_split_whole() -> None:
    script = "CREATE TABLE a (x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  SELECT 1;\nEND;\n"
    statements = schema.split_statements(script, complete=sqlite3.complete_statement)
    assert len(statements) == 2
    assert statements[1].strip().endswith("END;")
    with pytest.raises(MigrationError, match="unterminated"):
        schema.split_statements("CREATE TABLE a (x)\n", complete=sqlite3.complete_statement)


def test_pending_refuses_a_database_ahead_or_different() -> None:
    migrations = schema.load("sqlite")
    assert schema.pending(migrations, {}) == migrations
    assert schema.pending(migrations, {1: migrations[0].name}) == migrations[1:]
    with pytest.raises(MigrationError, match="newer than this code"):
        schema.pending(migrations, {1: migrations[0].name, 99: "0099_future"})
    with pytest.raises(MigrationError, match="different code"):
        schema.pending(migrations, {1: "0001_other"})
