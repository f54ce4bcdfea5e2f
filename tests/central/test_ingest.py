"""Ingest end to end: a real Mosquitto, a real store, real signatures, a test edge that honours
acks and resends (tests/central/edge_peer.py)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.keyring import Keyring, load_keyring
from central.registry import enroll
from central.store import open_store
from central.store.base import Store
from central.store.model import Enterprise, Site
from tests.central.edge_peer import EdgePeer
from tests.conftest import Mosquitto
from tests.wire import factories
from wire.keys import SigningKey
from wire.records import sign_record
from wire.topics import status_topic

pytestmark = pytest.mark.mosquitto

SITE = factories.SITE
NOW = 1_795_977_600_000


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


def registered(store: Store, keyring: Keyring, *devices: SigningKey) -> None:
    enterprise = Enterprise(
        id="yl-coal-co-a",
        name="A 煤业",
        credit_code="91610800MA6YXXXX0A",
        land_mu=120.5,
        capacity_t=1_200_000,
    )
    store.add_enterprise(enterprise, actor="test", at=NOW)
    store.add_site(
        Site(id=SITE, enterprise="yl-coal-co-a", kind="coal_mine", name="A 矿"),
        actor="test",
        at=NOW,
    )
    for key in devices:
        enroll(store, keyring, issuer="coalgate-central", site=SITE, device=key.kid,
               public_key_pem=key.public.to_pem(), now_ms=NOW, actor="test")  # fmt: skip


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return load_keyring(tmp_path / "keys", today=dt.date(2026, 11, 29))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    store.migrate()
    try:
        yield store
    finally:
        store.close()


KEY = factories.device_key()


@pytest.fixture
def worker(store: Store, keyring: Keyring, mosquitto: Mosquitto) -> Iterator[IngestWorker]:
    registered(store, keyring, KEY)
    worker = IngestWorker(
        store=store, keyring=keyring, mqtt_url=MqttUrl.parse(mosquitto.url), batch_wait_s=0.01
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def edge(worker: IngestWorker, mosquitto: Mosquitto, keyring: Keyring) -> Iterator[EdgePeer]:
    peer = EdgePeer(port=mosquitto.port, site=SITE, device=KEY.kid, central_keys=keyring.published)
    try:
        yield peer
    finally:
        peer.close()


def test_a_stream_is_stored_verbatim_and_acked(edge: EdgePeer, store: Store) -> None:
    records = factories.chain(KEY, 60)
    edge.send(records)
    assert edge.acked == 60
    assert store.contiguous(KEY.kid) == 60
    stored = store.records(KEY.kid)
    assert [r.raw for r in stored] == [r.raw for r in records]
    assert edge.forged_acks == 0


def test_duplicates_are_absorbed_and_still_acked(
    edge: EdgePeer, store: Store, worker: IngestWorker
) -> None:
    records = factories.chain(KEY, 5)
    edge.send(records)
    for record in records:
        edge.publish_raw(record.raw)
    wait_for(lambda: worker.stats.duplicates >= 5)
    assert len(store.records(KEY.kid)) == 5
    assert store.equivocations(KEY.kid) == []


def test_out_of_order_arrival_and_acks_cover_only_what_is_contiguous(
    edge: EdgePeer, store: Store, worker: IngestWorker
) -> None:
    records = factories.chain(KEY, 4)
    for index in (0, 1, 3):  # seq 1, 2, 4
        edge.publish_raw(records[index].raw)
    wait_for(lambda: worker.stats.inserted == 3)
    assert store.contiguous(KEY.kid) == 2
    edge.publish_raw(records[2].raw)
    wait_for(lambda: store.contiguous(KEY.kid) == 4)


def test_forged_and_malformed_input_is_quarantined_and_alarmed(
    edge: EdgePeer, store: Store, worker: IngestWorker
) -> None:
    impostor = factories.device_key(KEY.kid, seed_byte=42)
    forged = factories.chain(impostor, 1)[0]
    edge.publish_raw(forged.raw)
    edge.publish_raw(forged.raw)  # the same bytes again only count
    edge.publish_raw(b"\x00\x01 not cbor")
    wait_for(lambda: worker.stats.quarantined == 3)
    entries = {e.reason: e for e in store.quarantined()}
    assert entries["bad_signature"].raw == forged.raw
    assert entries["bad_signature"].count == 2
    assert entries["undecodable"].raw == b"\x00\x01 not cbor"
    assert store.records(KEY.kid) == []
    kinds = [(a.kind, a.detail.get("reason")) for a in store.alarms()]
    assert kinds.count(("quarantine", "bad_signature")) == 1  # rate-limited


def test_equivocation_keeps_both_and_alarms(
    edge: EdgePeer, store: Store, worker: IngestWorker
) -> None:
    records = factories.chain(KEY, 2)
    edge.send(records)
    fork = sign_record(
        KEY, site=SITE, device=KEY.kid, seq=2, prev=records[0].id, ts=records[1].ts + 1,
        body=records[1].body,
    )  # fmt: skip
    edge.publish_raw(fork.raw)
    wait_for(lambda: worker.stats.equivocations == 1)
    assert store.get_record(KEY.kid, 2) is not None
    assert store.get_record(KEY.kid, 2).raw == records[1].raw  # type: ignore[union-attr]
    assert [r.raw for r in store.equivocations(KEY.kid)] == [fork.raw]
    assert any(a.kind == "equivocation" and a.device == KEY.kid for a in store.alarms())


def test_revoked_device_is_refused_above_its_last_stored_seq(
    edge: EdgePeer, store: Store, worker: IngestWorker
) -> None:
    records = factories.chain(KEY, 4)
    edge.send(records[:3])
    store.revoke_device(KEY.kid, actor="test", at=NOW)
    edge.publish_raw(records[3].raw)
    reject = edge.wait_reject()
    assert (reject.reject, reject.seq) == ("revoked", 3)
    assert [e.reason for e in store.quarantined()] == ["revoked"]
    assert store.contiguous(KEY.kid) == 3


def test_unknown_device_gets_a_reject_ack(
    worker: IngestWorker, mosquitto: Mosquitto, keyring: Keyring, store: Store
) -> None:
    stranger = factories.device_key("yl-mine-a-gate-9", seed_byte=3)
    peer = EdgePeer(
        port=mosquitto.port, site=SITE, device=stranger.kid, central_keys=keyring.published
    )
    try:
        peer.publish_raw(factories.chain(stranger, 1)[0].raw)
        assert peer.wait_reject().reject == "unknown_device"
    finally:
        peer.close()
    assert [e.reason for e in store.quarantined()] == ["unknown_device"]


def test_status_and_last_will_move_online_state(
    worker: IngestWorker, mosquitto: Mosquitto, store: Store, keyring: Keyring
) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=KEY.kid + "-status")
    client.will_set(
        status_topic(SITE, KEY.kid), json.dumps({"state": "offline"}), qos=1, retain=True
    )
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    online = json.dumps({"state": "online", "since": NOW, "version": "0.1.0"})
    client.publish(status_topic(SITE, KEY.kid), online, qos=1, retain=True).wait_for_publish(5)
    wait_for(lambda: [s.state for s in store.device_statuses()] == ["online"])
    client.publish(status_topic(SITE, KEY.kid), b"{bad json", qos=1).wait_for_publish(5)
    wait_for(lambda: worker.stats.bad_statuses == 1)
    client.loop_stop()
    client.socket().close()  # a dropped connection, not a clean disconnect: the Will fires
    wait_for(lambda: [s.state for s in store.device_statuses()] == ["offline"])
    wait_for(lambda: any(a.kind == "device_offline" for a in store.alarms()))

    # One outage, one alarm: the retained Will reaches every worker that subscribes later
    # (a second worker, a restarted one) and each stores it again, raising nothing more.
    for number in (2, 3):
        late = IngestWorker(
            store=store, keyring=keyring, mqtt_url=MqttUrl.parse(mosquitto.url),
            number=number, shared=True, batch_wait_s=0.01,
        )  # fmt: skip
        late.start()
        try:
            wait_for(partial(_handled_one_status, late))
        finally:
            late.stop()
    assert [a.kind for a in store.alarms()].count("device_offline") == 1


def _handled_one_status(worker: IngestWorker) -> bool:
    return worker.stats.statuses == 1


def test_a_gap_still_open_after_the_grace_period_alarms(
    store: Store, keyring: Keyring, mosquitto: Mosquitto
) -> None:
    registered(store, keyring, KEY)
    worker = IngestWorker(
        store=store, keyring=keyring, mqtt_url=MqttUrl.parse(mosquitto.url), batch_wait_s=0.01,
        gap_grace_ms=200, sweep_every_s=0.1,
    )  # fmt: skip
    worker.start()
    peer = EdgePeer(port=mosquitto.port, site=SITE, device=KEY.kid, central_keys=keyring.published)
    try:
        records = factories.chain(KEY, 3)
        peer.publish_raw(records[0].raw)
        peer.publish_raw(records[2].raw)
        wait_for(lambda: any(a.kind == "gap" for a in store.alarms()))
        gap = next(a for a in store.alarms() if a.kind == "gap")
        assert gap.device == KEY.kid
        assert store.contiguous(KEY.kid) == 1
    finally:
        peer.close()
        worker.stop()
