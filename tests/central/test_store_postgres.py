"""PostgreSQL-only behaviour of the store: several ingest workers at once, partitions, variants.

The contract itself is in test_store_contract.py; this file covers what only PostgreSQL has.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import pytest

from central.errors import MigrationError, StoreUnavailableError
from central.store import open_store
from central.store.model import BatchResult, IncomingRecord, QuarantineItem
from central.store.postgres import PostgresStore
from tests.central import builders as b
from tests.central.builders import HOUR, T0, Edge

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def dsn(postgres_dsn: str) -> str:
    return postgres_dsn


@pytest.fixture
def store(dsn: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(dsn)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


def _ingest_all(
    dsn: str,
    batches: list[tuple[list[IncomingRecord], list[QuarantineItem]]],
    start: threading.Barrier,
    out: list[BatchResult],
) -> None:
    worker = PostgresStore(dsn, max_size=1)  # a worker process of its own, in effect
    try:
        start.wait(timeout=30)
        for number, (records, quarantine) in enumerate(batches):
            out.append(worker.ingest(records, quarantine, now_ms=T0 + number))
    finally:
        worker.close()


@pytest.mark.postgres
def test_two_workers_with_overlapping_devices_lose_and_double_nothing(
    store: PostgresStore, dsn: str
) -> None:
    """Both workers receive every record of four devices, shuffled, in batches (as a shared
    subscription with resends delivers them); for some seqs each worker holds a different
    version. Every (device, seq) must be stored once, every other copy be a duplicate or
    an equivocation, each second version be alarmed once, the rollup count each weighing
    once, and forged bytes be quarantined once, counted twice, alarmed once per device."""
    rng = random.Random(20261201)
    edges = [Edge(device=f"yl-mine-a-gate-{n}", seed=10 + n) for n in range(4)]
    per_device = 120
    originals: list[IncomingRecord] = []
    for edge in edges:
        for seq in range(1, per_device + 1):
            body = b.weighing(net_kg=30_000 + seq, gross_kg=45_020 + seq) if seq % 3 else None
            originals.append(edge.record(seq, body))
    contested = set(rng.sample(range(len(originals)), 24))
    seconds = {
        i: next(e for e in edges if e.device == r.device).other_version(r.seq)
        for i, r in enumerate(originals)
        if i in contested
    }
    # Worker A sends the originals; worker B sends the second versions of the contested seqs.
    streams = [list(originals), [seconds.get(i, r) for i, r in enumerate(originals)]]
    # Both also receive the same forged messages, three per device, at different moments.
    forged = [
        b.quarantine_item(f"forged {n}".encode(), device=edges[n % 4].device) for n in range(12)
    ]
    batches: list[list[tuple[list[IncomingRecord], list[QuarantineItem]]]] = []
    for stream in streams:
        rng.shuffle(stream)
        chunks = [stream[i : i + 40] for i in range(0, len(stream), 40)]
        spots = [rng.randrange(len(chunks)) for _ in forged]
        batches.append(
            [
                (chunk, [q for q, spot in zip(forged, spots, strict=True) if spot == n])
                for n, chunk in enumerate(chunks)
            ]
        )

    start = threading.Barrier(2)
    results: list[list[BatchResult]] = [[], []]
    threads = [
        threading.Thread(
            target=_ingest_all, args=(dsn, batches[n], start, results[n]), name=f"w{n}"
        )
        for n in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert not any(thread.is_alive() for thread in threads)
    assert [len(r) for r in results] == [len(batches[0]), len(batches[1])]

    outcomes: dict[bytes, list[str]] = {}  # record id -> what each copy of it came to
    first_time: dict[bytes, list[bool]] = {}  # forged bytes -> quarantined_new of each copy
    for batch_list, result_list in zip(batches, results, strict=True):
        for (chunk, quarantine), result in zip(batch_list, result_list, strict=True):
            for record, outcome in zip(chunk, result.outcomes, strict=True):
                outcomes.setdefault(record.record_id, []).append(outcome)
            for item, new in zip(quarantine, result.quarantined_new, strict=True):
                first_time.setdefault(item.raw, []).append(new)
    assert {raw: sorted(news) for raw, news in first_time.items()} == {
        q.raw: [False, True] for q in forged
    }
    assert {(e.raw, e.count) for e in store.quarantined()} == {(q.raw, 2) for q in forged}
    quarantine_alarms = [a for a in store.alarms(limit=1000) if a.kind == "quarantine"]
    assert sorted(a.device or "" for a in quarantine_alarms) == sorted(e.device for e in edges)
    for index, original in enumerate(originals):
        if index in contested:  # one version won, the other is the equivocation
            pair = outcomes[original.record_id] + outcomes[seconds[index].record_id]
            assert sorted(pair) == ["equivocation", "inserted"]
        else:  # both workers had it: stored once, the other copy a duplicate
            assert sorted(outcomes[original.record_id]) == ["duplicate", "inserted"]

    expected_net = 0
    by_id = {r.record_id: r for r in [*originals, *seconds.values()]}
    for edge in edges:
        stored = store.records(edge.device, limit=1000)
        assert [r.seq for r in stored] == list(range(1, per_device + 1))
        assert store.contiguous(edge.device) == per_device
        kept = {r.record_id for r in stored}
        for row in stored:
            assert "inserted" in outcomes[row.record_id]
            assert row.raw == by_id[row.record_id].raw
            weighing = by_id[row.record_id].weighing
            if weighing is not None and weighing.net_kg is not None:
                expected_net += weighing.net_kg
        for second in store.equivocations(edge.device):
            assert second.record_id not in kept
            assert outcomes[second.record_id] == ["equivocation"]
    assert sum(len(store.equivocations(e.device)) for e in edges) == len(contested)
    equivocation_alarms = [a for a in store.alarms(limit=1000) if a.kind == "equivocation"]
    assert len(equivocation_alarms) == len(contested)
    assert len({a.ref for a in equivocation_alarms}) == len(contested)
    ids = [a.id or 0 for a in store.alarms(limit=1000)]
    assert ids == sorted(ids)
    rollup = store.tonnage_daily(first_day="2026-11-01", last_day="2027-01-31")
    assert sum(d.net_kg for d in rollup) == expected_net
    assert sum(d.weighings for d in rollup) == sum(
        1 for r in by_id.values() if r.weighing and "inserted" in outcomes[r.record_id]
    )


@pytest.mark.postgres
def test_weighings_get_a_partition_for_each_month_touched(store: PostgresStore, dsn: str) -> None:
    edge = Edge()
    released = b.weighing()
    held = b.weighing(decision="hold", reasons=("no_ticket",))
    records = [
        edge.record(1, released, ts=b.utc_ms("2027-01-15T04:00:00")),
        # 16:30 UTC on 28 February is 00:30 on 1 March in Beijing: the March partition.
        edge.record(2, released, ts=b.utc_ms("2027-02-28T16:30:00")),
        edge.record(3, held, ts=b.utc_ms("2027-02-10T04:00:00")),  # no fact, no partition
        edge.record(4, released, ts=b.utc_ms("2027-01-20T04:00:00")),
    ]
    store.ingest(records, [], now_ms=T0)
    assert store.partitions() == ["weighings_p2027_01", "weighings_p2027_03"]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tableoid::regclass::text, day::text, seq FROM weighings ORDER BY seq"
        ).fetchall()
    assert rows == [
        ("weighings_p2027_01", "2027-01-15", 1),
        ("weighings_p2027_03", "2027-03-01", 2),
        ("weighings_p2027_01", "2027-01-20", 4),
    ]
    assert [d.day for d in store.tonnage_daily(first_day="2027-01-01", last_day="2027-03-31")] == [
        "2027-01-15",
        "2027-01-20",
        "2027-03-01",
    ]
    # Another process, which has not seen them, finds the partitions there.
    other = PostgresStore(dsn, max_size=1)
    try:
        more = [edge.record(5, released, ts=b.utc_ms("2027-03-02T04:00:00"))]
        assert other.ingest(more, [], now_ms=T0).outcomes == ("inserted",)
        assert other.partitions() == ["weighings_p2027_01", "weighings_p2027_03"]
    finally:
        other.close()


@pytest.mark.postgres
def test_the_plain_variant_is_chosen_and_recorded_without_timescaledb(
    store: PostgresStore, dsn: str
) -> None:
    assert store.variant == "plain"
    with psycopg.connect(dsn) as conn:
        variants = conn.execute("SELECT DISTINCT variant FROM schema_migrations").fetchall()
        kinds = dict(
            conn.execute(
                "SELECT relname, relkind FROM pg_class"
                " WHERE relname IN ('weighings', 'tonnage_daily', 'records')"
            ).fetchall()
        )
    assert variants == [("plain",)]
    assert kinds == {"weighings": "p", "tonnage_daily": "r", "records": "r"}
    # Asking for TimescaleDB on a database created without it is refused, not half-done.
    insist = PostgresStore(dsn, max_size=1, timescaledb=True)
    try:
        with pytest.raises(MigrationError, match="without TimescaleDB"):
            insist.migrate()
    finally:
        insist.close()


@pytest.mark.postgres
def test_requiring_timescaledb_where_the_server_lacks_it_fails_cleanly(dsn: str) -> None:
    insist = PostgresStore(dsn, max_size=1, timescaledb=True)
    try:
        with pytest.raises(MigrationError, match="does not offer it"):
            insist.migrate()
        with psycopg.connect(dsn) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert tables.fetchone() == (0,)  # not even schema_migrations stayed behind
    finally:
        insist.close()


@pytest.mark.postgres
def test_an_unmigrated_database_says_so(dsn: str) -> None:
    fresh = PostgresStore(dsn, max_size=1)
    try:
        with pytest.raises(MigrationError, match="migrate"):
            fresh.ingest([Edge().record(1)], [], now_ms=T0)
        with pytest.raises(MigrationError, match="migrate"):
            fresh.contiguous("d")
    finally:
        fresh.close()


@pytest.mark.postgres
def test_open_store_takes_postgresql_urls(dsn: str) -> None:
    opened = open_store(dsn)
    try:
        assert isinstance(opened, PostgresStore)
        assert opened.backend == "postgresql"
    finally:
        opened.close()


def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    with pytest.raises(StoreUnavailableError, match="not reachable"):
        PostgresStore("postgresql://root@127.0.0.1:1/none", connect_timeout_s=1)


@pytest.mark.postgres
def test_revocation_waits_for_a_batch_of_that_device_in_flight(
    store: PostgresStore, dsn: str
) -> None:
    """A batch holds its devices' locks until it commits; revocation takes the same lock, so
    the seq it notes includes everything that batch stored."""
    edge = Edge()
    store.add_enterprise(b.enterprise(), actor="admin", at=T0)
    store.add_site(b.site(), actor="admin", at=T0)
    store.enroll_device(b.device(edge), actor="admin", at=T0)
    with psycopg.connect(dsn) as blocker:
        blocker.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (0x63670001, edge.device))
        done: list[int | None] = []
        thread = threading.Thread(
            target=lambda: done.append(
                store.revoke_device(edge.device, actor="officer", at=T0 + HOUR).revoked_above_seq
            ),
            name="revoke",
        )
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting for the device's lock
        blocker.execute(
            "INSERT INTO records (device, seq, record_id, site, ts, type, received_at, raw)"
            " VALUES (%s, 7, %s, %s, %s, 'status', %s, %s)",
            (edge.device, b"\x07" * 32, b.SITE, T0, T0, b"raw"),
        )
        blocker.commit()
    thread.join(timeout=10)
    assert done == [7]
    assert store.get_device(edge.device).revoked_above_seq == 7
