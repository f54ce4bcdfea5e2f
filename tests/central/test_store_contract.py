"""The ``Store`` contract (central/store/base.py), one suite run against both backends.

Every test gets a freshly migrated store: SQLite in a temporary directory, PostgreSQL in a
fresh database on the real server (``postgres_dsn``). Records are signed with the real wire
API by ``tests.central.builders``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from central.errors import (
    ConfigError,
    ConflictError,
    MigrationError,
    NotFoundError,
    RevokedDuringBatchError,
    StoreError,
)
from central.store import open_store, schema
from central.store.base import Store
from central.store.model import Alarm, DailyTonnage, DeviceStatus
from central.store.sqlite import SqliteStore
from tests.central import builders as b
from tests.central.builders import HOUR, T0, Edge
from tests.wire import factories
from wire.bodies import WeighingBody

# --- backends -------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    open: Callable[[], Store]  # another store on the same database, not migrated
    execute: Callable[[str], None]  # one statement on the database, behind the store's back


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: list[Store] = []
    if request.param == "sqlite":
        path = tmp_path / "central.db"

        def open_sqlite() -> Store:
            opened.append(SqliteStore(path))
            return opened[-1]

        def execute_sqlite(statement: str) -> None:
            with closing(sqlite3.connect(path)) as conn:
                conn.execute(statement)
                conn.commit()

        found = Backend("sqlite", open_sqlite, execute_sqlite)
    else:
        import psycopg  # noqa: PLC0415 - only when the PostgreSQL parameter runs

        from central.store.postgres import PostgresStore  # noqa: PLC0415

        dsn: str = request.getfixturevalue("postgres_dsn")

        def open_postgres() -> Store:
            opened.append(PostgresStore(dsn, max_size=2))
            return opened[-1]

        def execute_postgres(statement: str) -> None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(statement.encode())

        found = Backend("postgresql", open_postgres, execute_postgres)
    try:
        yield found
    finally:
        for store in opened:
            store.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    opened = backend.open()
    opened.migrate()
    return opened


# --- migrations -----------------------------------------------------------------------------


def test_migrations_apply_once_and_are_idempotent(backend: Backend) -> None:
    first = backend.open()
    names = [m.name for m in schema.load("sqlite" if backend.name == "sqlite" else "postgres")]
    assert first.backend == backend.name
    assert first.migrate() == names
    assert first.migrate() == []
    assert backend.open().migrate() == []  # another process starting later


def test_a_newer_schema_is_refused(backend: Backend, store: Store) -> None:
    backend.execute(
        "INSERT INTO schema_migrations (version, name, variant)"
        " VALUES (9999, '9999_future', 'plain')"
    )
    with pytest.raises(MigrationError, match="newer than this code"):
        store.migrate()
    with pytest.raises(MigrationError, match="newer than this code"):
        backend.open().migrate()


def test_a_migration_applied_under_another_name_is_refused(backend: Backend, store: Store) -> None:
    backend.execute("UPDATE schema_migrations SET name = '0002_something_else' WHERE version = 2")
    with pytest.raises(MigrationError, match="different code"):
        store.migrate()


# --- registry -------------------------------------------------------------------------------


def test_enterprises_and_sites(store: Store) -> None:
    store.add_enterprise(b.enterprise(), actor="admin", at=T0)
    assert store.get_enterprise(b.ENTERPRISE) == b.enterprise()
    with pytest.raises(ConflictError) as conflict:
        store.add_enterprise(b.enterprise(), actor="admin", at=T0)
    assert (conflict.value.kind, conflict.value.key) == ("enterprise", b.ENTERPRISE)
    with pytest.raises(ConflictError, match="credit code"):
        store.add_enterprise(b.enterprise("sx-coal-b"), actor="admin", at=T0)
    store.add_enterprise(b.enterprise("sx-coal-b", "91610800MA6YL00002"), actor="admin", at=T0)
    assert [e.id for e in store.list_enterprises()] == [b.ENTERPRISE, "sx-coal-b"]
    with pytest.raises(NotFoundError) as missing:
        store.get_enterprise("nobody")
    assert (missing.value.kind, missing.value.key) == ("enterprise", "nobody")

    with pytest.raises(NotFoundError) as no_owner:
        store.add_site(b.site(enterprise_id="nobody"), actor="admin", at=T0)
    assert no_owner.value.kind == "enterprise"
    store.add_site(b.site(), actor="admin", at=T0)
    store.add_site(b.site("yl-mine-b", "sx-coal-b"), actor="admin", at=T0)
    store.add_site(replace(b.site("yl-plant"), lat=None, lon=None), actor="admin", at=T0)
    with pytest.raises(ConflictError):
        store.add_site(b.site(), actor="admin", at=T0)
    assert store.get_site(b.SITE) == b.site()
    assert store.get_site("yl-plant").lat is None
    assert [s.id for s in store.list_sites()] == [b.SITE, "yl-mine-b", "yl-plant"]
    assert [s.id for s in store.list_sites(enterprise="sx-coal-b")] == ["yl-mine-b"]
    with pytest.raises(NotFoundError):
        store.get_site("nowhere")


def test_checkpoints(store: Store) -> None:
    store.add_checkpoint(b.checkpoint("cp-b"), actor="admin", at=T0)
    store.add_checkpoint(b.checkpoint("cp-a"), actor="admin", at=T0)
    with pytest.raises(ConflictError):
        store.add_checkpoint(b.checkpoint("cp-a"), actor="admin", at=T0)
    assert store.list_checkpoints() == [b.checkpoint("cp-a"), b.checkpoint("cp-b")]


def test_vehicles_upsert_by_plate_all_or_nothing(store: Store) -> None:
    first = [b.vehicle("陕K12345"), b.vehicle("陕K00001", axles=2, kind="rigid", trailer=None)]
    assert store.upsert_vehicles(first, actor="import", at=T0) == 2
    assert store.get_vehicle("陕K00001") == first[1]
    assert store.upsert_vehicles(first, actor="import", at=T0) == 0  # nothing changed
    changed = [b.vehicle("陕K12345", tare_kg=None, single_drive=True), b.vehicle("蒙K55555")]
    assert store.upsert_vehicles(changed, actor="import", at=T0) == 2
    assert store.get_vehicle("陕K12345") == changed[0]
    assert [v.plate for v in store.list_vehicles()] == sorted(["陕K12345", "陕K00001", "蒙K55555"])

    before = store.list_vehicles()
    with pytest.raises(ConflictError, match="more than once"):
        store.upsert_vehicles([b.vehicle("晋A11111"), b.vehicle("晋A11111")], actor="x", at=T0)
    with pytest.raises(StoreError):  # the second breaks a CHECK: the first is not kept either
        store.upsert_vehicles(
            [b.vehicle("晋A22222"), b.vehicle("晋A33333", axles=0)], actor="x", at=T0
        )
    assert store.list_vehicles() == before
    with pytest.raises(NotFoundError):
        store.get_vehicle("晋A22222")


def _registered(store: Store, *edges: Edge) -> None:
    store.add_enterprise(b.enterprise(), actor="admin", at=T0)
    for site in sorted({edge.site for edge in edges} | {b.SITE}):
        store.add_site(b.site(site), actor="admin", at=T0)
    for edge in edges:
        store.enroll_device(b.device(edge), actor="admin", at=T0)


def test_enrollment_renewal_and_conflicts(store: Store) -> None:
    edge = Edge()
    with pytest.raises(NotFoundError) as no_site:
        store.enroll_device(b.device(edge), actor="admin", at=T0)
    assert (no_site.value.kind, no_site.value.key) == ("site", b.SITE)
    _registered(store)
    store.add_site(b.site("yl-mine-b"), actor="admin", at=T0)

    enrolled = store.enroll_device(b.device(edge), actor="admin", at=T0)
    assert enrolled == b.device(edge)
    assert store.get_device(edge.device) == enrolled

    later = T0 + 400 * 24 * HOUR
    renewed = store.enroll_device(
        b.device(edge, iat_s=later // 1000, enrolled_at=later), actor="admin", at=later
    )
    assert renewed.certificate == b.certificate(edge, iat_s=later // 1000) != enrolled.certificate
    assert renewed.enrolled_at == T0  # renewal keeps the original enrollment
    assert store.get_device(edge.device) == renewed

    impostor = Edge(seed=99)
    with pytest.raises(ConflictError, match="another key") as other_key:
        store.enroll_device(b.device(impostor), actor="admin", at=later)
    assert (other_key.value.kind, other_key.value.key) == ("device", edge.device)
    with pytest.raises(ConflictError, match="enrolled at site"):
        store.enroll_device(replace(b.device(edge), site="yl-mine-b"), actor="admin", at=later)

    second = Edge(device="yl-mine-b-gate-1", site="yl-mine-b", seed=8)
    store.enroll_device(b.device(second), actor="admin", at=T0)
    assert [d.id for d in store.list_devices()] == [edge.device, second.device]
    assert [d.id for d in store.list_devices(site="yl-mine-b")] == [second.device]

    store.revoke_device(edge.device, actor="admin", at=later)
    with pytest.raises(ConflictError, match="revoked"):
        store.enroll_device(b.device(edge), actor="admin", at=later)
    with pytest.raises(NotFoundError):
        store.get_device("nobody")


def test_revocation_notes_the_highest_stored_seq(store: Store) -> None:
    edge, quiet = Edge(), Edge(device="yl-mine-a-gate-2", seed=8)
    _registered(store, edge, quiet)
    store.ingest([edge.record(1), edge.record(5), edge.record(2)], [], now_ms=T0)

    revoked = store.revoke_device(edge.device, actor="officer", at=T0 + HOUR)
    assert (revoked.state, revoked.revoked_at, revoked.revoked_above_seq) == (
        "revoked",
        T0 + HOUR,
        5,
    )
    assert store.get_device(edge.device) == revoked
    assert store.revoke_device(edge.device, actor="officer", at=T0 + 2 * HOUR) == revoked
    assert store.revoke_device(quiet.device, actor="officer", at=T0).revoked_above_seq == 0
    with pytest.raises(NotFoundError):
        store.revoke_device("nobody", actor="officer", at=T0)


def test_every_registry_change_is_audited(store: Store) -> None:
    edge = Edge()
    store.add_enterprise(b.enterprise(), actor="alice", at=T0 + 1)
    store.add_site(b.site(), actor="alice", at=T0 + 2)
    store.add_checkpoint(b.checkpoint(), actor="bob", at=T0 + 3)
    store.upsert_vehicles([b.vehicle("陕K12345"), b.vehicle("陕K00001")], actor="csv", at=T0 + 4)
    store.upsert_vehicles([b.vehicle("陕K12345", axles=5)], actor="csv", at=T0 + 5)
    store.enroll_device(b.device(edge), actor="alice", at=T0 + 6)
    store.enroll_device(b.device(edge, iat_s=T0 // 1000 + 60), actor="alice", at=T0 + 7)
    store.revoke_device(edge.device, actor="officer", at=T0 + 8)
    # Refused requests change nothing, so they leave no entry.
    with pytest.raises(ConflictError):
        store.add_enterprise(b.enterprise(), actor="mallory", at=T0 + 9)
    with pytest.raises(NotFoundError):
        store.revoke_device("nobody", actor="mallory", at=T0 + 9)

    log = store.audit_log()
    assert [(e.at, e.actor, e.action) for e in log] == [
        (T0 + 8, "officer", "device.revoke"),
        (T0 + 7, "alice", "device.renew"),
        (T0 + 6, "alice", "device.enroll"),
        (T0 + 5, "csv", "vehicle.upsert"),
        (T0 + 4, "csv", "vehicle.upsert"),
        (T0 + 4, "csv", "vehicle.upsert"),
        (T0 + 3, "bob", "checkpoint.add"),
        (T0 + 2, "alice", "site.add"),
        (T0 + 1, "alice", "enterprise.add"),
    ]
    assert log[0].detail == {"id": edge.device, "site": b.SITE, "revoked_above_seq": 0}
    assert log[2].detail["public_key"] == edge.key.public.raw.hex()
    assert log[2].detail["certificate_sha256"] == hashlib.sha256(b.certificate(edge)).hexdigest()
    assert log[3].detail["plate"] == "陕K12345"
    assert log[3].detail["axles"] == 5
    assert log[3].detail["replaced"] is True
    assert {log[4].detail["plate"], log[5].detail["plate"]} == {"陕K12345", "陕K00001"}
    assert log[-1].detail["credit_code"] == b.enterprise().credit_code
    assert log[-1].detail["land_mu"] == 820.5
    assert [e.action for e in store.audit_log(limit=2)] == ["device.revoke", "device.renew"]


# --- ingest ---------------------------------------------------------------------------------


def test_insert_duplicate_and_equivocation(store: Store) -> None:
    edge = Edge()
    r1, r2 = edge.record(1), edge.record(2)
    result = store.ingest([r1, r2], [], now_ms=T0)
    assert result.outcomes == ("inserted", "inserted")
    assert result.alarms == ()
    stored = store.get_record(edge.device, 2)
    assert stored is not None
    assert stored.raw == r2.raw  # the exact bytes, not a re-encoding
    assert (stored.record_id, stored.device, stored.site, stored.seq) == (
        r2.record_id,
        edge.device,
        b.SITE,
        2,
    )
    assert (stored.ts, stored.type, stored.received_at) == (r2.ts, "status", r2.received_at)

    assert store.ingest([r1], [], now_ms=T0 + 1).outcomes == ("duplicate",)

    other = edge.other_version(2)
    result = store.ingest([other], [], now_ms=T0 + 2)
    assert result.outcomes == ("equivocation",)
    (alarm,) = result.alarms
    assert (alarm.kind, alarm.severity, alarm.device, alarm.site) == (
        "equivocation",
        "alarm",
        edge.device,
        b.SITE,
    )
    assert alarm.ref == other.record_id
    assert alarm.detail == {"seq": 2, "kept": r2.record_id.hex(), "other": other.record_id.hex()}
    assert alarm.raised_at == T0 + 2
    assert alarm.id is not None
    assert store.get_record(edge.device, 2) == stored  # the first version stays
    (kept,) = store.equivocations(edge.device)
    assert (kept.raw, kept.record_id, kept.seq) == (other.raw, other.record_id, 2)

    again = store.ingest([other], [], now_ms=T0 + 3)  # the same second version: no new alarm
    assert (again.outcomes, again.alarms) == (("equivocation",), ())
    third = edge.other_version(2, nonce=2)
    assert len(store.ingest([third], [], now_ms=T0 + 4).alarms) == 1
    assert [e.record_id for e in store.equivocations(edge.device)] == [
        other.record_id,
        third.record_id,
    ]
    assert [a.kind for a in store.alarms()] == ["equivocation", "equivocation"]
    assert store.equivocations("nobody") == []


def test_repeats_inside_one_batch(store: Store) -> None:
    edge = Edge()
    r1, v1 = edge.record(1), edge.other_version(1)
    result = store.ingest([r1, r1, v1, v1], [], now_ms=T0)
    assert result.outcomes == ("inserted", "duplicate", "equivocation", "equivocation")
    assert len(result.alarms) == 1
    assert len(store.equivocations(edge.device)) == 1
    assert result.contiguous == {edge.device: 1}


def test_contiguous_head_with_out_of_order_seqs(store: Store) -> None:
    edge, other = Edge(), Edge(device="yl-mine-a-gate-2", seed=8)
    assert store.ingest([edge.record(3), edge.record(1)], [], now_ms=T0).contiguous == {
        edge.device: 1
    }
    assert store.contiguous(edge.device) == 1
    result = store.ingest([edge.record(5), other.record(1), edge.record(2)], [], now_ms=T0)
    assert result.contiguous == {edge.device: 3, other.device: 1}
    assert store.ingest([edge.record(4)], [], now_ms=T0).contiguous == {edge.device: 5}
    assert store.ingest([edge.record(2)], [], now_ms=T0).contiguous == {edge.device: 5}
    assert store.contiguous("nobody") == 0
    assert [r.seq for r in store.records(edge.device)] == [1, 2, 3, 4, 5]
    assert [r.seq for r in store.records(edge.device, after_seq=1, limit=2)] == [2, 3]
    assert store.records(edge.device, after_seq=5) == []
    assert store.get_record(edge.device, 6) is None


def test_quarantine_counts_repeats_and_rate_limits_alarms(store: Store) -> None:
    forged, forged2, broken, other_dev, garbage, later = (
        b"\xd2forged-1",
        b"\xd2forged-2",
        b"\xd2broken",
        b"\xd2other-device",
        b"\x00garbage",
        b"\xd2forged-3",
    )
    first = store.ingest([], [b.quarantine_item(forged)], now_ms=T0)
    assert first.quarantined_new == (True,)
    (alarm,) = first.alarms
    assert (alarm.kind, alarm.severity, alarm.device, alarm.raised_at) == (
        "quarantine",
        "alarm",
        "yl-mine-a-gate-1",
        T0,
    )
    assert alarm.ref == hashlib.sha256(forged).digest()
    assert alarm.detail["reason"] == "bad_signature"

    # Within the hour, for the same device and reason: stored and counted, no alarm.
    second = store.ingest(
        [],
        [
            b.quarantine_item(forged, received_at=T0 + 60_000),
            b.quarantine_item(forged2, received_at=T0 + 60_000),
        ],
        now_ms=T0 + 60_000,
    )
    assert (second.quarantined_new, second.alarms) == ((False, True), ())

    # Another reason, another device, no device: one alarm each.
    third = store.ingest(
        [],
        [
            b.quarantine_item(broken, "schema"),
            b.quarantine_item(other_dev, device="yl-mine-a-gate-9"),
            b.quarantine_item(garbage, "undecodable", device=None),
            b.quarantine_item(garbage, "undecodable", device=None),  # in-batch repeat
            b.quarantine_item(forged, "topic_mismatch"),  # same bytes, another reason
        ],
        now_ms=T0 + 120_000,
    )
    assert third.quarantined_new == (True, True, True, False, True)
    assert sorted((a.device or "", a.detail["reason"], a.severity) for a in third.alarms) == [
        ("", "undecodable", "warning"),
        ("yl-mine-a-gate-1", "schema", "warning"),
        ("yl-mine-a-gate-1", "topic_mismatch", "alarm"),
        ("yl-mine-a-gate-9", "bad_signature", "alarm"),
    ]

    # A repeat never alarms; new bytes alarm again once the interval has passed.
    repeat = store.ingest([], [b.quarantine_item(forged)], now_ms=T0 + 2 * HOUR)
    assert (repeat.quarantined_new, repeat.alarms) == ((False,), ())
    fresh = store.ingest([], [b.quarantine_item(later)], now_ms=T0 + HOUR)
    assert fresh.quarantined_new == (True,)
    assert [a.detail["reason"] for a in fresh.alarms] == ["bad_signature"]
    custom = store.ingest(
        [], [b.quarantine_item(b"\xd2forged-4")], now_ms=T0 + HOUR + 1000, alarm_interval_ms=500
    )
    assert len(custom.alarms) == 1

    entries = {(e.raw, e.reason): e for e in store.quarantined()}
    assert len(entries) == 8
    entry = entries[(forged, "bad_signature")]
    assert (entry.count, entry.first_seen, entry.last_seen) == (3, T0, T0 + 60_000)
    assert entry.topic == f"cg/v1/{b.SITE}/yl-mine-a-gate-1/up/record"
    assert entry.detail == "test: bad_signature"
    assert entries[(garbage, "undecodable")].count == 2
    assert entries[(garbage, "undecodable")].device is None
    assert [e.last_seen for e in store.quarantined()] == sorted(
        (e.last_seen for e in entries.values()), reverse=True
    )
    assert len(store.quarantined(limit=3)) == 3
    assert len(store.alarms()) == 7


def test_edge_alarms_are_raised_only_when_inserted(store: Store) -> None:
    edge = Edge()
    escape = edge.record(1, b.escape_event())
    result = store.ingest([escape], [], now_ms=T0)
    (alarm,) = result.alarms
    assert (alarm.kind, alarm.severity, alarm.device, alarm.site, alarm.ref) == (
        "escape",
        "alarm",
        edge.device,
        b.SITE,
        escape.record_id,
    )
    assert alarm.detail["event"] == {"plate": "陕K12345", "speed_kmh": 12}
    assert (alarm.detail["lane"], alarm.detail["seq"]) == ("lane-1", 1)
    assert store.ingest([escape], [], now_ms=T0 + 1).alarms == ()
    assert [a.kind for a in store.alarms()] == ["escape"]
    assert store.alarms()[0] == alarm


def test_tonnage_rollup_counts_new_released_weighings_per_cst_day(store: Store) -> None:
    edge, elsewhere = Edge(), Edge(device="yl-mine-b-gate-1", site="yl-mine-b", seed=8)
    last_ms_of_dec_1 = b.utc_ms("2026-12-01T15:59:59.999")  # 23:59:59.999 in Beijing
    first_ms_of_dec_2 = b.utc_ms("2026-12-01T16:00:00")  # 00:00 on 2 December in Beijing

    def released(net: int, **changes: object) -> WeighingBody:
        return b.weighing(net_kg=net, gross_kg=15_020 + net, **changes)

    records = [
        edge.record(1, released(34_000), ts=last_ms_of_dec_1),
        edge.record(2, released(30_000), ts=first_ms_of_dec_2),
        edge.record(3, released(10_000, decision="hold", reasons=("overload_gross",)), ts=T0),
        edge.record(4, b.weighing(pass_="first", net_kg=None, tare_kg=None), ts=T0),
        edge.record(5, released(20_000, direction="in"), ts=first_ms_of_dec_2 + HOUR),
        edge.record(6, factories.evidence(), ts=T0),
        elsewhere.record(1, released(25_000), ts=first_ms_of_dec_2),
    ]
    store.ingest(records, [], now_ms=T0)
    # Duplicates and a second version of a weighing add nothing.
    second_version = edge.record(2, released(99_000), ts=first_ms_of_dec_2 + 1)
    result = store.ingest([records[0], second_version], [], now_ms=T0)
    assert result.outcomes == ("duplicate", "equivocation")

    def row(day: str, site: str, direction: str, net: int) -> DailyTonnage:
        return DailyTonnage(day=day, site=site, direction=direction, net_kg=net, weighings=1)  # type: ignore[arg-type]

    assert store.tonnage_daily(first_day="2026-12-01", last_day="2026-12-02") == [
        row("2026-12-01", b.SITE, "out", 34_000),
        row("2026-12-02", b.SITE, "in", 20_000),
        row("2026-12-02", b.SITE, "out", 30_000),
        row("2026-12-02", "yl-mine-b", "out", 25_000),
    ]
    assert store.tonnage_daily(first_day="2026-12-02", last_day="2026-12-02", site="yl-mine-b") == [
        row("2026-12-02", "yl-mine-b", "out", 25_000)
    ]
    assert store.tonnage_daily(first_day="2026-11-01", last_day="2026-11-30") == []

    store.ingest([edge.record(7, released(1_000), ts=last_ms_of_dec_1 - HOUR)], [], now_ms=T0)
    dec_1 = store.tonnage_daily(first_day="2026-12-01", last_day="2026-12-01")
    assert [(d.net_kg, d.weighings) for d in dec_1] == [(35_000, 2)]


def test_gap_alarm_once_after_the_grace_period(store: Store) -> None:
    edge, steady = Edge(), Edge(device="yl-mine-a-gate-2", seed=8)
    grace = 10 * 60_000
    store.ingest([edge.record(1, received_at=T0), steady.record(1, received_at=T0)], [], now_ms=T0)
    store.ingest([edge.record(4, received_at=T0 + 2000)], [], now_ms=T0 + 2000)
    store.ingest([edge.record(3, received_at=T0 + 1000)], [], now_ms=T0 + 1000)
    # Missing since the earliest arrival above the hole (T0 + 1000), not the latest.
    assert store.sweep_gaps(now_ms=T0 + 1000 + grace, grace_ms=grace) == []
    (alarm,) = store.sweep_gaps(now_ms=T0 + 1001 + grace, grace_ms=grace)
    assert (alarm.kind, alarm.device, alarm.site, alarm.raised_at) == (
        "gap",
        edge.device,
        b.SITE,
        T0 + 1001 + grace,
    )
    assert alarm.detail == {"first_missing": 2, "next_stored": 3, "since": T0 + 1000}
    assert alarm.id is not None
    assert store.sweep_gaps(now_ms=T0 + 10 * grace, grace_ms=grace) == []  # raised once

    later = T0 + 20 * grace
    store.ingest(
        [edge.record(2, received_at=later), edge.record(6, received_at=later)], [], now_ms=later
    )
    assert store.contiguous(edge.device) == 4
    assert store.sweep_gaps(now_ms=later + grace, grace_ms=grace) == []
    (next_gap,) = store.sweep_gaps(now_ms=later + grace + 1, grace_ms=grace)
    assert next_gap.detail["first_missing"] == 5
    assert [a.detail["first_missing"] for a in store.alarms() if a.kind == "gap"] == [2, 5]


def test_raise_alarms_and_page_by_id(store: Store) -> None:
    raised = store.raise_alarms(
        [
            Alarm(kind="device_offline", severity="warning", raised_at=T0, device="d-1"),
            Alarm(kind="backlog", severity="warning", raised_at=T0 + 1, site=b.SITE),
            Alarm(
                kind="double_load",
                severity="alarm",
                raised_at=T0 + 2,
                detail={"ticket": bytes.fromhex("00ff"), "plates": ["陕K12345"]},
                ref=b"\x01" * 32,
            ),
        ]
    )
    ids = [a.id or 0 for a in raised]
    assert all(ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    # Bytes in a detail come back as hex (JSON has no bytes).
    as_stored = replace(raised[2], detail={"ticket": "00ff", "plates": ["陕K12345"]})
    assert store.alarms() == [*raised[:2], as_stored]
    assert [a.kind for a in store.alarms(after_id=ids[0] or 0)] == ["backlog", "double_load"]
    assert [a.kind for a in store.alarms(limit=1)] == ["device_offline"]
    assert store.raise_alarms([]) == []


def test_device_status_keeps_the_latest_update(store: Store) -> None:
    online = DeviceStatus(device="d-1", state="online", since=T0, version="0.1.0", updated_at=T0)
    offline = DeviceStatus(
        device="d-1", state="offline", since=None, version=None, updated_at=T0 + 20
    )
    store.set_device_status(online)
    store.set_device_status(offline)
    store.set_device_status(replace(online, updated_at=T0 + 10))  # handled late: ignored
    other = replace(online, device="d-0")
    store.set_device_status(other)
    assert store.device_statuses() == [other, offline]


def test_a_device_status_raises_its_alarm_once_per_change_of_state(store: Store) -> None:
    def offline_at(at: int) -> DeviceStatus:
        return DeviceStatus(device="d-1", state="offline", since=None, version=None, updated_at=at)

    def alarm(at: int) -> Alarm:
        return Alarm(kind="device_offline", severity="warning", raised_at=at, device="d-1")

    online = DeviceStatus(device="d-1", state="online", since=T0, version="0.1.0", updated_at=T0)
    first = store.set_device_status(offline_at(T0 + 1), on_change=[alarm(T0 + 1)])
    assert [a.raised_at for a in first] == [T0 + 1]  # never seen before: a change
    # the retained Last Will delivered again (a reconnect, a second worker): no second alarm
    assert store.set_device_status(offline_at(T0 + 2), on_change=[alarm(T0 + 2)]) == []
    assert store.set_device_status(replace(online, updated_at=T0 + 3)) == []  # no alarm asked
    again = store.set_device_status(offline_at(T0 + 4), on_change=[alarm(T0 + 4)])
    assert [a.raised_at for a in again] == [T0 + 4]  # a new outage
    assert store.set_device_status(offline_at(T0), on_change=[alarm(T0)]) == []  # late: ignored
    assert [a.raised_at for a in store.alarms()] == [T0 + 1, T0 + 4]
    assert store.device_statuses() == [offline_at(T0 + 4)]


def test_a_failed_batch_leaves_nothing_half_written(store: Store) -> None:
    edge = Edge()
    r1 = edge.record(1)
    store.ingest([r1], [], now_ms=T0)
    good = [
        edge.record(2, b.weighing(), ts=T0),
        edge.record(3, b.escape_event()),
        edge.other_version(1),
    ]
    # A record claiming the id of a stored record at another seq breaks a unique key.
    broken = replace(edge.record(4), record_id=r1.record_id)
    with pytest.raises(StoreError):
        store.ingest([*good, broken], [b.quarantine_item(b"\xd2forged")], now_ms=T0 + 1)
    assert store.contiguous(edge.device) == 1
    assert [r.seq for r in store.records(edge.device)] == [1]
    assert store.equivocations(edge.device) == []
    assert store.quarantined() == []
    assert store.alarms() == []
    assert store.tonnage_daily(first_day="2026-12-01", last_day="2026-12-31") == []

    result = store.ingest(good, [b.quarantine_item(b"\xd2forged")], now_ms=T0 + 2)
    assert result.outcomes == ("inserted", "inserted", "equivocation")
    assert result.contiguous == {edge.device: 3}
    assert len(store.tonnage_daily(first_day="2026-12-01", last_day="2026-12-31")) == 1
    assert sorted(a.kind for a in store.alarms()) == ["equivocation", "escape", "quarantine"]


def test_an_empty_batch(store: Store) -> None:
    result = store.ingest([], [], now_ms=T0)
    assert (result.outcomes, result.quarantined_new, result.contiguous, result.alarms) == (
        (),
        (),
        {},
        (),
    )


def test_a_closed_store_refuses_work(backend: Backend, store: Store) -> None:
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.contiguous("d")
    with pytest.raises(StoreError, match="closed"):
        store.ingest([Edge().record(1)], [], now_ms=T0)


# --- open_store -----------------------------------------------------------------------------


def test_open_store_urls(tmp_path: Path) -> None:
    for url in (f"sqlite://{tmp_path}/a.db", str(tmp_path / "b.db")):
        opened = open_store(url)
        try:
            assert isinstance(opened, SqliteStore)
            assert opened.backend == "sqlite"
        finally:
            opened.close()
    for bad in ("mysql://db/central", "sqlite://relative.db", "", f"{tmp_path}/missing/c.db"):
        with pytest.raises(ConfigError):
            open_store(bad)


def test_a_batch_racing_a_revocation_writes_nothing(store: Store) -> None:
    """The worker checked the batch before the revocation committed: the store refuses it."""
    edge = Edge()
    _registered(store, edge)
    store.ingest([edge.record(1), edge.record(2)], [], now_ms=T0)
    store.revoke_device(edge.device, actor="officer", at=T0 + HOUR)
    with pytest.raises(RevokedDuringBatchError) as caught:
        store.ingest([edge.record(3)], [], now_ms=T0 + HOUR)
    assert caught.value.devices == [edge.device]
    assert store.contiguous(edge.device) == 2
    assert store.get_record(edge.device, 3) is None
    result = store.ingest([edge.record(2)], [], now_ms=T0 + HOUR)  # at or below: still taken
    assert result.outcomes == ("duplicate",)
