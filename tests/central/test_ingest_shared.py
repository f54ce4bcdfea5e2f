"""Two ingest workers on a shared subscription, PostgreSQL, a burst of 20,000 records from
edges that honour acks and resend: every record stored exactly once."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.keyring import Keyring, load_keyring
from central.store import open_store
from central.store.base import Store
from tests.central.edge_peer import EdgePeer
from tests.central.test_ingest import SITE, registered
from tests.conftest import Mosquitto
from tests.wire import factories
from wire.keys import SigningKey

pytestmark = [pytest.mark.postgres, pytest.mark.mosquitto, pytest.mark.slow]

DEVICES = 10
PER_DEVICE = 2_000


@pytest.fixture
def stores(postgres_dsn: str) -> Iterator[tuple[Store, Store]]:
    first, second = open_store(postgres_dsn), open_store(postgres_dsn)
    try:
        first.migrate()
        yield first, second
    finally:
        first.close()
        second.close()


def test_two_workers_store_a_burst_exactly_once(
    stores: tuple[Store, Store], mosquitto: Mosquitto, tmp_path: Path
) -> None:
    keyring: Keyring = load_keyring(tmp_path / "keys", today=dt.date(2026, 11, 29))
    keys = [
        SigningKey.from_seed(bytes([n + 1]) * 32, kid=f"yl-mine-a-gate-{n:02d}")
        for n in range(DEVICES)
    ]
    registered(stores[0], keyring, *keys)
    chains = {key.kid: factories.chain(key, PER_DEVICE) for key in keys}
    url = MqttUrl.parse(mosquitto.url)
    workers = [
        IngestWorker(store=store, keyring=keyring, mqtt_url=url, number=n + 1, shared=True)
        for n, store in enumerate(stores)
    ]
    for worker in workers:
        worker.start()
    peers = [
        EdgePeer(port=mosquitto.port, site=SITE, device=key.kid, central_keys=keyring.published)
        for key in keys
    ]
    failures: list[BaseException] = []

    def deliver(peer: EdgePeer) -> None:
        try:
            peer.send(chains[peer.device], timeout_s=240)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=deliver, args=(peer,)) for peer in peers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for peer in peers:
            peer.close()
        for worker in workers:
            worker.stop()
    elapsed = time.monotonic() - started
    assert failures == []

    store = stores[0]
    total = 0
    for key in keys:
        assert store.contiguous(key.kid) == PER_DEVICE
        stored = []
        after = 0
        while batch := store.records(key.kid, after_seq=after, limit=1000):
            stored.extend(batch)
            after = batch[-1].seq
        assert [r.raw for r in stored] == [r.raw for r in chains[key.kid]]
        assert store.equivocations(key.kid) == []
        total += len(stored)
    assert store.quarantined() == []
    inserted = sum(w.stats.inserted for w in workers)
    duplicates = sum(w.stats.duplicates for w in workers)
    print(
        f"sent {DEVICES * PER_DEVICE}, stored {total}, inserted {inserted}, resent duplicates "
        f"{duplicates}, lost 0, per worker {[w.stats.inserted for w in workers]}, {elapsed:.1f} s"
    )
    assert total == inserted == DEVICES * PER_DEVICE
    assert all(w.stats.inserted > 0 for w in workers)  # the broker really shared the load
