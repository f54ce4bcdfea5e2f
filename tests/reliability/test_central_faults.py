"""Central-side faults: the ingest process killed mid-batch, PostgreSQL crashed mid-stream.

The guarantee under test (DESIGN.md "Delivery guarantee"): nothing lost, nothing doubled, and
an ack only for what central has on disk. Edges are the test peers of tests/central/edge_peer.py
(they keep every record until acked and resend on a stall), on a private Mosquitto; central is
the real ingest (a ``coalgate central ingest`` process, or an in-process ``IngestWorker``) on a
real store. A separate observer on the broker checks every ack against the records table the
moment the ack arrives.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.keyring import Keyring, load_keyring
from central.store import open_store
from central.store.base import Store
from tests.central.edge_peer import EdgePeer
from tests.central.test_ingest import SITE, registered
from tests.conftest import Mosquitto, service_missing
from tests.reliability.central_support import (
    PG_BIN,
    BrokerObserver,
    IngestProcess,
    PgCounter,
    PrivatePostgres,
    SqliteCounter,
    StoredCounter,
    stored_figures,
    until,
)
from tests.reliability.tally import Tally
from tests.wire import factories
from wire.keys import SigningKey
from wire.records import Record
from wire.topics import status_topic

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto]

DEVICES = 3
PER_DEVICE = 1_200
KILLS = 3
CRASHES = 2
DOWN_S = 3.0
TAIL = 50


def device_keys() -> list[SigningKey]:
    return [
        SigningKey.from_seed(bytes([40 + n]) * 32, kid=f"yl-mine-a-gate-{n + 1}")
        for n in range(DEVICES)
    ]


class Edges:
    """One test edge per device, each delivering its chain from its own thread."""

    def __init__(
        self, port: int, keyring: Keyring, chains: dict[str, list[Record]], *, first: int
    ) -> None:
        self.peers = [
            EdgePeer(port=port, site=SITE, device=device, central_keys=keyring.published)
            for device in chains
        ]
        self.failures: list[BaseException] = []
        self._threads = [
            threading.Thread(
                target=self._deliver,
                args=(peer, chains[peer.device][:first]),
                name=f"edge-{peer.device}",
            )
            for peer in self.peers
        ]

    def _deliver(self, peer: EdgePeer, chain: Sequence[Record]) -> None:
        try:
            peer.send(chain, timeout_s=90)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            self.failures.append(exc)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, timeout_s: float = 100.0) -> None:
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.join()
        for peer in self.peers:
            peer.close()

    @property
    def acked(self) -> int:
        return sum(peer.acked for peer in self.peers)


def chains_for(keys: Sequence[SigningKey], count: int) -> dict[str, list[Record]]:
    return {key.kid: factories.chain(key, count) for key in keys}


def stored_at_least(counter: StoredCounter, count: int) -> Callable[[], bool]:
    return lambda: (counter.total() or 0) >= count


def by_raw(chains: dict[str, list[Record]]) -> dict[bytes, tuple[str, int]]:
    return {
        record.raw: (device, record.seq) for device, chain in chains.items() for record in chain
    }


# --- 1. the ingest process killed mid-batch --------------------------------------------------


@pytest.fixture(
    params=[pytest.param("postgresql", marks=pytest.mark.postgres), pytest.param("sqlite")]
)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        dsn: str = request.getfixturevalue("postgres_dsn")
        return dsn
    (tmp_path / "data").mkdir()  # central's data dir: its keys, and this database
    return f"sqlite:///{tmp_path / 'data' / 'central.db'}"


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    opened = open_store(database)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


def counter_for(database: str) -> StoredCounter:
    if database.startswith("sqlite:///"):
        return SqliteCounter(Path(database.removeprefix("sqlite:///")))
    return PgCounter(database)


def test_central_killed_mid_batch_and_restarted_loses_and_doubles_nothing(
    database: str, store: Store, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    tally = Tally(f"ingest process kill -9 x{KILLS} ({database.split(':', maxsplit=1)[0]})")
    data_dir = tmp_path / "data"
    keyring = load_keyring(data_dir / "keys", today=dt.date(2026, 11, 29))  # the process's too
    keys = device_keys()
    chains = chains_for(keys, PER_DEVICE)
    total = DEVICES * PER_DEVICE
    central = IngestProcess(
        directory=tmp_path, data_dir=data_dir, database_url=database, mqtt_url=mosquitto.url
    )
    observer: BrokerObserver | None = None
    edges: Edges | None = None
    polls = counter_for(database)
    try:
        registered(store, keyring, *keys)
        central.start()
        observer = BrokerObserver(
            port=mosquitto.port,
            central_keys=keyring.published,
            counter=counter_for(database),
            records=by_raw(chains),
        )
        edges = Edges(mosquitto.port, keyring, chains, first=PER_DEVICE)
        edges.start()
        unstored_at_kills: list[int] = []
        for kill in range(1, KILLS + 1):
            target = kill * total // (KILLS + 1)
            until(stored_at_least(polls, target), timeout_s=40, what=f"{target} stored")
            pid = central.pid
            central.kill()
            stored = polls.total() or 0
            unstored = observer.unstored_on_the_wire(stored)
            unstored_at_kills.append(unstored)
            tally.inject(
                f"kill -9 central ingest pid {pid}: {stored} stored, {unstored} on the wire "
                f"unstored, {edges.acked} acked"
            )
            central.start()
            tally.inject(f"central ingest restarted (run {central.runs}, pid {central.pid})")
        edges.join()
        assert edges.failures == []
        until(stored_at_least(polls, total), timeout_s=10, what="all stored")
        exit_code = central.stop()
        output = central.output()
    finally:
        if edges is not None:
            edges.close()
        if observer is not None:
            observer.close()
        central.close()
        polls.close()
    figures = stored_figures(store, chains)
    audit = observer.audit
    tally.count(
        sent=total,
        published=observer.published,
        resent=observer.published - total,
        stored=figures.stored,
        duplicates=figures.extra,
        equivocations=figures.equivocations,
        lost=figures.lost,
        kills=KILLS,
        unstored_at_kills=sum(unstored_at_kills),
        acks=audit.acks,
        acks_checked=audit.checked_at_arrival,
        acks_early=len(audit.early),
    )
    tally.report()
    assert exit_code == 0, output
    assert "Traceback" not in output
    assert figures.lost == 0
    assert figures.extra == 0
    assert figures.stored == figures.exact == total
    assert figures.equivocations == 0
    assert figures.quarantined == 0
    assert figures.contiguous_ok
    assert audit.early == []
    assert audit.forged == 0
    assert audit.acks > 0
    assert audit.checked_at_arrival == audit.acks  # the database never went away here
    assert all(peer.acked == PER_DEVICE for peer in edges.peers)
    # the kills really hit a stream in flight, and the edges' resends covered it
    assert sum(unstored_at_kills) > 0
    assert observer.published > total


# --- 2. PostgreSQL crashed while ingest runs -------------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists():
        service_missing(f"PostgreSQL server binaries not found in {PG_BIN}")
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_store(private_postgres: PrivatePostgres) -> Iterator[Store]:
    opened = open_store(private_postgres.dsn)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


@pytest.mark.postgres
def test_postgres_crash_during_ingest_pauses_then_resumes_with_nothing_lost_or_doubled(
    private_postgres: PrivatePostgres, private_store: Store, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Two crashes mid-stream, then one while the worker is idle and a device status is the
    next thing it handles (before central/ingest/worker.py retried statuses, that status ended
    the batch thread for good: no record was stored or acked again)."""
    tally = Tally(f"PostgreSQL crash (-m immediate) x{CRASHES + 1} under ingest")
    keyring = load_keyring(tmp_path / "keys", today=dt.date(2026, 11, 29))
    keys = device_keys()
    chains = chains_for(keys, PER_DEVICE + TAIL)
    total = DEVICES * (PER_DEVICE + TAIL)
    store = private_store
    registered(store, keyring, *keys)
    worker = IngestWorker(
        store=store, keyring=keyring, mqtt_url=MqttUrl.parse(mosquitto.url), batch_wait_s=0.01
    )
    observer: BrokerObserver | None = None
    edges: Edges | None = None
    polls = PgCounter(private_postgres.dsn)
    acks_while_down = 0
    try:
        worker.start()
        observer = BrokerObserver(
            port=mosquitto.port,
            central_keys=keyring.published,
            counter=PgCounter(private_postgres.dsn),
            records=by_raw(chains),
        )
        edges = Edges(mosquitto.port, keyring, chains, first=PER_DEVICE)
        edges.start()
        for crash in range(1, CRASHES + 1):
            target = crash * DEVICES * PER_DEVICE // (CRASHES + 1)
            until(stored_at_least(polls, target), timeout_s=40, what=f"{target} stored")
            polls.close()
            retries_before = worker.stats.store_retries
            private_postgres.crash()
            down_at = time.monotonic()
            tally.inject(
                f"pg_ctl stop -m immediate with {edges.acked} acked, "
                f"{worker.stats.inserted} inserted"
            )
            # a device's online status arrives while the database is down (its own path)
            edges.peers[0].publish_raw(
                b'{"state": "online"}', topic=status_topic(SITE, keys[0].kid)
            )
            time.sleep(DOWN_S)  # the outage itself: the fault being injected
            quiet_from = down_at + 1.0  # acks of batches committed just before the crash may trail
            acks_while_down += sum(1 for t in observer.audit.arrivals if t > quiet_from)
            assert worker.stats.store_retries > retries_before, "ingest never hit the outage"
            private_postgres.start()
            tally.inject(
                f"PostgreSQL started again after {time.monotonic() - down_at:.1f} s down; "
                f"{worker.stats.store_retries - retries_before} batch retries meanwhile"
            )
        edges.join()
        assert edges.failures == []
        until(stored_at_least(polls, DEVICES * PER_DEVICE), timeout_s=10, what="stream stored")
        # Now with nothing in flight: the next thing to reach the worker is a status, while
        # the database is down; then the edges send more, which must be stored and acked.
        polls.close()
        private_postgres.crash()
        down_at = time.monotonic()
        tally.inject(f"pg_ctl stop -m immediate with the worker idle, {edges.acked} acked")
        edges.peers[0].publish_raw(b'{"state": "offline"}', topic=status_topic(SITE, keys[0].kid))
        time.sleep(DOWN_S)
        acks_while_down += sum(1 for t in observer.audit.arrivals if t > down_at + 1.0)
        private_postgres.start()
        tally.inject(f"PostgreSQL started again after {time.monotonic() - down_at:.1f} s down")
        for peer in edges.peers:
            peer.send(chains[peer.device][PER_DEVICE:], timeout_s=30)
        tally.inject(f"each edge sent {TAIL} more records after the restart")
        until(stored_at_least(polls, total), timeout_s=10, what="all stored")
    finally:
        if edges is not None:
            edges.close()
        if observer is not None:
            observer.close()
        worker.stop()
        polls.close()
    figures = stored_figures(store, chains)
    statuses = {status.device: status.state for status in store.device_statuses()}
    late = [
        (device, seq) for device, seq in observer.audit.deferred if store.contiguous(device) < seq
    ]
    audit = observer.audit
    stats = worker.stats
    tally.count(
        sent=total,
        published=observer.published,
        resent=observer.published - total,
        stored=figures.stored,
        duplicates=figures.extra,
        equivocations=figures.equivocations,
        lost=figures.lost,
        crashes=CRASHES + 1,
        store_retries=stats.store_retries,
        worker_duplicates=stats.duplicates,
        acks=audit.acks,
        acks_checked=audit.checked_at_arrival,
        acks_deferred=len(audit.deferred),
        acks_while_down=acks_while_down,
        acks_early=len(audit.early) + len(late),
    )
    tally.report()
    assert figures.lost == 0
    assert figures.extra == 0
    assert figures.stored == figures.exact == total
    assert figures.equivocations == 0
    assert figures.quarantined == 0
    assert figures.contiguous_ok
    assert audit.early == []
    assert late == []
    assert audit.forged == 0
    assert acks_while_down == 0
    assert stats.inserted <= total  # a commit whose reply was lost is retried as duplicates
    assert stats.store_retries >= CRASHES
    assert all(peer.acked == PER_DEVICE + TAIL for peer in edges.peers)
    assert statuses.get(keys[0].kid) == "offline"  # the status sent while the database was down
