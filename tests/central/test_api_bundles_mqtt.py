"""Done-when of issue 8: an enterprise requests a ticket through the API and a test edge
receives it in its site bundle (real Mosquitto); a checkpoint then verifies the QR through
the API, and a revocation through the API reaches the edge too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.store.base import Store
from central.store.sqlite import SqliteStore
from central.ticketing.bundles import BundlePublisher
from tests.central import builders as b
from tests.central.api_support import KEYRING, NOW, TestClient, make_app, token
from tests.central.builders import T0, Region
from tests.central.test_bundles_mqtt import BundleEdge
from tests.conftest import Mosquitto

pytestmark = pytest.mark.mosquitto


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
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-api-test")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_ticket_requested_through_the_api_reaches_the_destination_gate(
    store: Store, tmp_path: Path, mosquitto: Mosquitto, central_client: mqtt.Client
) -> None:
    region = Region().register(store)
    seller = {"Authorization": f"Bearer {token(store, 'enterprise', enterprise=b.ENTERPRISE)}"}
    store.add_checkpoint(b.checkpoint(), actor="test", at=T0)
    checkpoint = {
        "Authorization": f"Bearer {token(store, 'checkpoint', checkpoint=b.checkpoint().id)}"
    }
    publisher = BundlePublisher(
        store=store, keyring=KEYRING, client=central_client, clock=lambda: NOW
    )
    gate = BundleEdge(
        port=mosquitto.port, site=b.DEST_SITE, device=region.dest.device, keys=KEYRING.published
    )
    try:
        with TestClient(make_app(store, tmp_path, publisher=publisher)) as client:
            issued = client.post(
                "/api/v1/tickets",
                json={"seller_site": b.SITE, "buyer": b.BUYER, "plate": "陕K12345",
                      "coal": "5500kcal-lump", "max_net_kg": 40_000, "dest_site": b.DEST_SITE},
                headers=seller,
            ).json()  # fmt: skip
            assert {x["site"] for x in issued["bundles"]} == {b.SITE, b.DEST_SITE}
            gate.wait(lambda: gate.held is not None)
            assert gate.held is not None
            assert [(e.ticket.id, e.state) for e in gate.held.tickets] == [(issued["id"], "issued")]
            held = gate.held.version

            verified = client.post(
                "/api/v1/tickets/verify", json={"qr": issued["qr"]}, headers=checkpoint
            ).json()
            assert verified["valid"] is True
            assert verified["online"]["ticket_state"] == "issued"

            revoked = client.post(f"/api/v1/tickets/{issued['id']}/revoke", headers=seller)
            assert revoked.json()["state"] == "revoked"
            gate.wait(lambda: gate.held is not None and gate.held.version > held)
            assert gate.held is not None
            assert gate.held.tickets == ()
            assert bytes.fromhex(issued["id"]) in gate.held.revoked
    finally:
        gate.close()
