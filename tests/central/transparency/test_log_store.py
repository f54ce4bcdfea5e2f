"""The transparency log on both stores: 1,000 records ingested in batches of uneven sizes, a
signed tree head after each batch; every record's inclusion proof and the consistency proof
between every pair of signed sizes verify with wire.merkle and central's public key alone."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace

import pytest

from central.errors import ConflictError, NotFoundError
from central.store.base import Store
from central.store.model import LogEntry, StoredTreeHead
from central.transparency import log, tree
from tests.central import builders as b
from tests.central.builders import T0, Region
from tests.central.transparency.support import KEYRING, interleaved
from wire import merkle
from wire.treehead import verify_tree_head

BATCHES = [1, 1, 2, 5, 27, 64, 100, 128, 172, 250, 250]  # 1,000 records in all


def grow(store: Store, count: int = 1000) -> tuple[list[bytes], list[StoredTreeHead]]:
    """Ingest ``count`` records batch by batch with a head after each; (record ids, heads)."""
    region = Region().register(store)
    records = interleaved(region, count)
    heads: list[StoredTreeHead] = []
    done = 0
    for size in itertools.accumulate(BATCHES):
        batch = records[done : min(size, count)]
        if not batch:
            break
        store.ingest(batch, [], now_ms=batch[-1].received_at)
        done += len(batch)
        heads.append(log.current_head(store, KEYRING.signing, now_ms=T0 + done))
    return [r.record_id for r in records], heads


def test_every_record_of_a_1000_record_log_is_proven_included(store: Store) -> None:
    ids, heads = grow(store)
    latest = heads[-1]
    assert store.log_size() == latest.size == 1000
    checked = verify_tree_head(latest.raw, KEYRING.published)
    assert (checked.size, checked.root) == (1000, latest.root)
    raws = {e.record_id: e.record.raw for e in iter_entries(store) if e.record is not None}
    assert merkle.root_hash([raws[i] for i in ids]) == latest.root, "leaves = COSE bytes"
    for index, record_id in enumerate(ids):
        proof = log.inclusion(store, record_id)
        assert proof.index == index, "acceptance order"
        merkle.verify_inclusion(
            leaf_hash=merkle.leaf_hash(raws[record_id]),
            index=proof.index,
            tree_size=proof.head.size,
            proof=proof.path,
            root=checked.root,
        )
    # Against an earlier head too, and a leaf the earlier head does not cover yet.
    early = heads[5]
    proof = log.inclusion(store, ids[early.size - 1], size=early.size)
    merkle.verify_inclusion(
        leaf_hash=merkle.leaf_hash(raws[ids[early.size - 1]]), index=early.size - 1,
        tree_size=early.size, proof=proof.path, root=early.root,
    )  # fmt: skip
    with pytest.raises(ConflictError, match="after the tree head"):
        log.inclusion(store, ids[early.size], size=early.size)


def iter_entries(store: Store) -> list[LogEntry]:
    return store.log_entries(after=-1, limit=5000)


def test_consistency_holds_between_every_pair_of_signed_sizes(store: Store) -> None:
    _, heads = grow(store)
    assert len(heads) == len(BATCHES)
    for old, new in itertools.combinations_with_replacement(heads, 2):
        proof = log.consistency(store, old.size, new.size)
        assert (proof.first, proof.second) == (old, new)
        merkle.verify_consistency(
            first=old.size, second=new.size, first_root=old.root, second_root=new.root,
            proof=proof.path,
        )  # fmt: skip
    with pytest.raises(NotFoundError, match="no tree head of size 3"):
        log.consistency(store, 3, 1000)


def test_replays_duplicates_and_second_versions_never_grow_the_log(store: Store) -> None:
    region = Region().register(store)
    records = region.seller.stream(5)
    store.ingest(records, [], now_ms=T0)
    first = log.current_head(store, KEYRING.signing, now_ms=T0)
    store.ingest(records, [], now_ms=T0 + 1)  # the edge resends everything
    store.ingest([records[2], records[2]], [], now_ms=T0 + 2)
    outcome = store.ingest([region.seller.other_version(3)], [], now_ms=T0 + 3)
    assert outcome.outcomes == ("equivocation",)
    store.ingest([], [b.quarantine_item(b"\xa0junk")], now_ms=T0 + 4)
    assert store.log_size() == 5
    assert log.current_head(store, KEYRING.signing, now_ms=T0 + 5) == first, "nothing to sign"
    assert [e.record_id for e in store.log_entries()] == [r.record_id for r in records]
    store.ingest([records[4], region.seller.record(6)], [], now_ms=T0 + 6)
    assert store.log_size() == 6


def test_a_record_not_in_the_log_and_a_log_without_heads_are_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no tree head has been signed yet"):
        log.head(store)
    empty = log.current_head(store, KEYRING.signing, now_ms=T0)
    assert (empty.size, empty.root) == (0, merkle.EMPTY_ROOT)
    with pytest.raises(NotFoundError, match="not in the transparency log"):
        log.inclusion(store, bytes(32))


def test_one_head_is_kept_per_size(store: Store) -> None:
    region = Region().register(store)
    store.ingest(region.seller.stream(3), [], now_ms=T0)
    kept = log.current_head(store, KEYRING.signing, now_ms=T0)
    again = replace(kept, ts=kept.ts + 1, raw=b"other bytes")
    assert store.add_tree_head(again) == kept, "the first head of a size stays"
    assert store.tree_head(3) == kept
    assert store.tree_heads() == [kept]


def test_stored_nodes_are_exactly_the_complete_subtrees(store: Store) -> None:
    region = Region().register(store)
    store.ingest(interleaved(region, 11), [], now_ms=T0)
    keys = {(level, index) for level in range(4) for index, _ in store.log_level(level)}
    assert keys == {(0, i) for i in range(11)} | {(1, i) for i in range(5)} | {
        (2, 0),
        (2, 1),
        (3, 0),
    }
    assert tree.root_of(11, store.log_nodes(tree.frontier_keys(11))) == log.root(store, 11)


@pytest.mark.postgres
def test_concurrent_ingest_on_postgresql_appends_every_record_once(postgres_dsn: str) -> None:
    """Four threads on four connections ingest interleaved batches at once: the log holds
    every record exactly once, leaf numbers have no hole, and the tree is whole."""
    from central.store.postgres import PostgresStore  # noqa: PLC0415
    from central.transparency.scan import scan  # noqa: PLC0415

    setup = PostgresStore(postgres_dsn, max_size=2)
    setup.migrate()
    region = Region().register(setup)
    records = interleaved(region, 600)
    stores = [PostgresStore(postgres_dsn, max_size=1) for _ in range(4)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for start in range(n * 25, len(records), 100):
                batch = records[start : start + 25]
                stores[n].ingest(batch + batch[:3], [], now_ms=T0)  # a resend inside, too
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,), name=f"ingest-{n}") for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert setup.log_size() == 600
        entries = setup.log_entries(limit=1000)
        assert [e.index for e in entries] == list(range(600))
        assert {e.record_id for e in entries} == {r.record_id for r in records}
        log.current_head(setup, KEYRING.signing, now_ms=T0)
        assert scan(setup, KEYRING.published).findings == []
    finally:
        for store in [*stores, setup]:
            store.close()
