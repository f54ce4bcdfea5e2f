"""Site bundles end to end on a real Mosquitto: a test edge receives its retained bundle,
verifies it, refuses a replayed older one, and sees loading and revocation in later ones.

Central's side is the real thing: the ticket service, the ingest worker (which publishes the
bundles a batch changed, on its own connection) and the bundle publisher."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.store.base import Store
from central.store.sqlite import SqliteStore
from central.ticketing import lifecycle, service
from central.ticketing.bundles import BundlePublisher
from tests.central import builders as b
from tests.central.builders import HOUR, T0, Region
from tests.central.edge_peer import EdgePeer
from tests.conftest import Mosquitto
from wire.bundles import Bundle, verify_bundle
from wire.errors import StaleError
from wire.keys import KeySet
from wire.topics import bundle_topic

pytestmark = pytest.mark.mosquitto

KEYRING = b.central_keyring()


def clock() -> int:
    return T0 + HOUR


class BundleEdge:
    """An edge's bundle side as WIRE.md wants it: verify, keep the highest version, refuse
    any bundle whose version is not above the one held."""

    def __init__(self, *, port: int, site: str, device: str, keys: KeySet) -> None:
        self.site, self._keys = site, keys
        self.held: Bundle | None = None
        self.stale = 0
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{device}-bundles")
        self._client.on_connect = lambda client, *_: client.subscribe(
            bundle_topic(site, device), qos=1
        )
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the bundle edge could not subscribe")

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        held = self.held.version if self.held else None
        with self._changed:
            try:
                self.held = verify_bundle(
                    bytes(message.payload), self._keys, site=self.site, held_version=held
                )
            except StaleError:
                self.stale += 1
            self._changed.notify_all()

    def wait(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(condition, timeout_s):
                raise TimeoutError("the bundle edge did not see what was expected")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = SqliteStore(tmp_path / "central.db")
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def central_client(mosquitto: Mosquitto) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-tickets")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def test_an_edge_follows_its_site_bundle(
    store: Store, mosquitto: Mosquitto, central_client: mqtt.Client
) -> None:
    region = Region().register(store)
    publisher = BundlePublisher(store=store, keyring=KEYRING, client=central_client, clock=clock)
    worker = IngestWorker(
        store=store, keyring=KEYRING, mqtt_url=MqttUrl.parse(mosquitto.url), batch_wait_s=0.01,
        clock=clock,
    )  # fmt: skip
    worker.start()
    gate = BundleEdge(
        port=mosquitto.port, site=b.DEST_SITE, device=region.dest.device, keys=KEYRING.published
    )
    seller = EdgePeer(
        port=mosquitto.port, site=b.SITE, device=region.seller.device,
        central_keys=KEYRING.published,
    )  # fmt: skip
    try:
        # Issue: both sites' bundles are rebuilt; the destination's gate holds the ticket.
        issued = service.issue(
            store, KEYRING, b.ticket_request(), issuer="x", now_ms=clock(), actor="test"
        )
        cti = issued.ticket.cti
        publisher.publish_sites(lifecycle.concerned_sites(issued.stored))
        gate.wait(lambda: gate.held is not None)
        assert gate.held is not None
        first = gate.held
        assert [(e.ticket.cti, e.state) for e in first.tickets] == [(cti, "issued")]
        assert first.tickets[0].ticket.raw == issued.ticket.raw

        # A replay of an older bundle (anyone may publish a captured one) is refused.
        publisher.publish_site(b.DEST_SITE)
        gate.wait(lambda: gate.held is not None and gate.held.version > first.version)
        central_client.publish(
            bundle_topic(b.DEST_SITE, region.dest.device), first.raw, qos=1, retain=True
        ).wait_for_publish(5)
        gate.wait(lambda: gate.stale == 1)
        assert gate.held is not None
        assert gate.held.version == first.version + 1

        # The seller's gate loads the truck: ingest moves the ticket and publishes the bundles.
        seller.send([region.seller.sign(1, b.loading(cti, 34_000), ts=T0 + HOUR)])
        gate.wait(lambda: gate.held is not None and gate.held.tickets[0].state == "loaded")
        assert gate.held.tickets[0].source_net_kg == 34_000
        assert gate.held.tickets[0].loaded_at == T0 + HOUR

        # Revocation: the next bundle lists the ticket as revoked and no longer carries it.
        service.revoke(store, cti, actor="test", now_ms=clock())
        publisher.publish_site(b.DEST_SITE)
        gate.wait(lambda: gate.held is not None and cti in gate.held.revoked)
        assert gate.held.tickets == ()
        latest = gate.held.version
    finally:
        seller.close()
        gate.close()
        worker.stop()
    assert worker.stats.bundles == 2  # the loading batch: seller and destination

    # The bundle is retained: a gate that connects later gets the latest at once.
    late = BundleEdge(
        port=mosquitto.port, site=b.DEST_SITE, device=region.dest.device, keys=KEYRING.published
    )
    try:
        late.wait(lambda: late.held is not None)
        assert late.held is not None
        assert late.held.version == latest
    finally:
        late.close()


def test_the_worker_sweep_expires_tickets_and_sends_the_new_bundle(
    store: Store, mosquitto: Mosquitto
) -> None:
    region = Region().register(store)
    now = [T0]
    issued = service.issue(
        store, KEYRING, b.ticket_request(valid_s=3600), issuer="x", now_ms=T0, actor="test"
    )
    worker = IngestWorker(
        store=store, keyring=KEYRING, mqtt_url=MqttUrl.parse(mosquitto.url), batch_wait_s=0.01,
        sweep_every_s=0.05, clock=lambda: now[0],
    )  # fmt: skip
    worker.start()
    gate = BundleEdge(
        port=mosquitto.port, site=b.DEST_SITE, device=region.dest.device, keys=KEYRING.published
    )
    try:
        now[0] = T0 + HOUR  # the loading deadline passes
        gate.wait(lambda: gate.held is not None)
        assert gate.held is not None
        assert gate.held.tickets == ()
        assert store.get_ticket(issued.ticket.cti).state == "expired"
    finally:
        gate.close()
        worker.stop()
