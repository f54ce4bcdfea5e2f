"""End to end on the shipped broker config: central's real ingest worker, configured as
docs/operations.md says (``COALGATE_MQTT_URL=mqtt://central-service:…@127.0.0.1:1883`` on the
loopback listener, shared subscription), stores a device's signed records sent over TLS with
its CA certificate, and the device receives central's signed acks on its own topic."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.keyring import load_keyring
from central.store import open_store
from central.store.base import Store
from tests.conftest import service_missing
from tests.deploy.broker import Client, ShippedBroker, wait_for
from tests.deploy.pki import CENTRAL_PASSWORD, CENTRAL_USER, Pki, make_pki
from tests.wire import factories
from wire.acks import verify_ack
from wire.keyfiles import read_signing_key

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def region(tmp_path: Path) -> Iterator[tuple[Pki, ShippedBroker]]:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        service_missing("mosquitto (and mosquitto_passwd) are not installed")
    pki = make_pki(tmp_path / "region")
    broker = ShippedBroker(tmp_path / "broker", etc=pki.etc)
    broker.start()
    try:
        yield pki, broker
    finally:
        broker.stop()


def test_central_ingests_a_certified_devices_records_and_acks_them(
    region: tuple[Pki, ShippedBroker],
) -> None:
    pki, broker = region
    store: Store = open_store(f"sqlite:///{pki.data / 'central.db'}")
    keyring = load_keyring(pki.data / "keys", today=dt.datetime.now(dt.UTC).date())
    url = MqttUrl.parse(f"mqtt://{CENTRAL_USER}:{CENTRAL_PASSWORD}@127.0.0.1:{broker.plain_port}")
    worker = IngestWorker(
        store=store, keyring=keyring, mqtt_url=url, number=1, shared=True, batch_wait_s=0.01
    )
    device = Client(port=broker.port, client_id="d-a1", tls=pki.tls("d-a1"))
    try:
        worker.start()
        device.connect()
        device.subscribe("cg/v1/site-a/d-a1/down/ack")
        key = read_signing_key(pki.root / "keys" / "d-a1.key")
        records = factories.chain(key, 20, site="site-a")
        # the same device's honest record under another site's topic: the broker drops it
        # before central ever sees it (central would quarantine it as topic_mismatch)
        device.publish("cg/v1/site-b/d-a1/up/record", records[0].raw)
        for record in records:
            device.publish("cg/v1/site-a/d-a1/up/record", record.raw)

        highest = 0
        while highest < 20:
            topic, payload = device.receive()
            ack = verify_ack(payload, keyring.published)
            assert (topic, ack.device, ack.reject) == ("cg/v1/site-a/d-a1/down/ack", "d-a1", None)
            highest = max(highest, ack.seq)
        wait_for(lambda: store.contiguous("d-a1") == 20, "20 records stored")
        assert [r.raw for r in store.records("d-a1")] == [r.raw for r in records]
        assert store.quarantined() == []
        print(f"20 records over TLS stored by {worker.client_id}; acks up to seq {highest}")
    finally:
        device.close()
        worker.stop()
        store.close()
