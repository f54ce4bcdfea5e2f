"""Tree heads on ``cg/v1/central/sth`` (real Mosquitto): the publisher's thread signs and sends
one at start, retained, so a subscriber that comes later gets it and verifies it with central's
published keys; a grown log gives a newer head that replaces it; a head that paho refuses is
sent again at the next round."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.store.base import Store
from central.store.sqlite import SqliteStore
from central.transparency.publisher import TreeHeadPublisher
from tests.central.builders import T0, Region
from tests.central.transparency.support import KEYRING, ingest, interleaved
from tests.conftest import Mosquitto
from wire import merkle
from wire.topics import STH_TOPIC
from wire.treehead import TreeHead, verify_tree_head

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = SqliteStore(tmp_path / "central.db")
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


class Subscriber:
    """An MQTT client on the STH topic that keeps every head it receives."""

    def __init__(self, port: int, name: str) -> None:
        self.heads: list[TreeHead] = []
        self.retained: list[bool] = []
        self.got = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(STH_TOPIC, qos=1)
        assert subscribed.wait(10), "subscribed"

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        self.heads.append(verify_tree_head(bytes(message.payload), KEYRING.published))
        self.retained.append(bool(message.retain))
        self.got.set()

    def wait_for(self, size: int) -> TreeHead:
        while not any(h.size == size for h in self.heads):
            self.got.clear()
            assert self.got.wait(10), f"a head of size {size} within 10 s"
        return next(h for h in self.heads if h.size == size)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def central_client(mosquitto: Mosquitto) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-sth-test")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_late_subscriber_gets_the_latest_head_retained(
    sqlite_store: Store, mosquitto: Mosquitto, central_client: mqtt.Client
) -> None:
    store = sqlite_store
    records = interleaved(Region().register(store), 30)
    ingest(store, records[:12])
    early = Subscriber(mosquitto.port, "early")
    publisher = TreeHeadPublisher(
        store=store, keyring=KEYRING, client=central_client, clock=lambda: T0, interval_s=3600
    )
    publisher.start()
    try:
        first = early.wait_for(12)
    finally:
        publisher.stop()
    assert first.root == merkle.root_hash([r.raw for r in records[:12]])
    late = Subscriber(mosquitto.port, "late")
    try:
        assert late.wait_for(12) == first
        assert late.retained == [True]
    finally:
        late.close()
    ingest(store, records[12:])
    assert publisher.tick().size == 30
    assert early.wait_for(30).root == merkle.root_hash([r.raw for r in records])
    early.close()
    later = Subscriber(mosquitto.port, "later")
    try:
        assert later.wait_for(30).size == 30
        assert [h.size for h in later.heads] == [30], "the newer head replaced the older"
    finally:
        later.close()


def test_a_head_paho_refuses_is_sent_at_the_next_round(sqlite_store: Store) -> None:
    offline = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="never-connected")
    sent: list[int] = []

    class Refusing:
        def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> object:
            info = offline.publish(topic, payload, qos=qos, retain=retain)
            sent.append(info.rc)
            return info

    publisher = TreeHeadPublisher(
        store=sqlite_store,
        keyring=KEYRING,
        client=Refusing(),
        clock=lambda: T0,  # type: ignore[arg-type]
    )
    assert publisher.tick().size == 0
    assert publisher.tick().size == 0
    assert len(sent) == 2, "tried again"
    assert all(rc != mqtt.MQTT_ERR_SUCCESS for rc in sent)
