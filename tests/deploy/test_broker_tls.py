"""The shipped Mosquitto config with the device CA: TLS client certificates, the per-device
ACL, and revocation through the CRL (issue 14, "Deployment").

Under MQTT 3.1.1 the broker acknowledges a publish its ACL refuses, so a refusal is shown by the
message never arriving at central's subscriber while an allowed sentinel sent after it does
(PROTOCOLS.md §7): the broker delivers one publisher's messages in order.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.ca.directory import DeviceCA
from tests.conftest import service_missing
from tests.deploy.broker import Client, ShippedBroker, Tls, wait_for
from tests.deploy.pki import CENTRAL_PASSWORD, CENTRAL_USER, Pki, make_pki

pytestmark = pytest.mark.mosquitto


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        service_missing("mosquitto is not installed")
    if shutil.which("mosquitto_passwd") is None:
        service_missing("mosquitto_passwd is not installed")
    return make_pki(tmp_path_factory.mktemp("region"))


def start(pki: Pki, directory: Path) -> ShippedBroker:
    broker = ShippedBroker(directory, etc=pki.etc)
    broker.start()
    return broker


@pytest.fixture
def broker(pki: Pki, tmp_path: Path) -> Iterator[ShippedBroker]:
    running = start(pki, tmp_path)
    try:
        yield running
    finally:
        running.stop()


class Clients:
    """Every client a test opened, closed at the end."""

    def __init__(self, broker: ShippedBroker, pki: Pki) -> None:
        self.broker = broker
        self.pki = pki
        self.opened: list[Client] = []

    def device(
        self, device: str, *, client_id: str | None = None, tls: Tls | None = None
    ) -> Client:
        client = Client(
            port=self.broker.port, client_id=client_id or device, tls=tls or self.pki.tls(device)
        )
        self.opened.append(client)
        return client

    def central(
        self, client_id: str = "central-ingest-1", password: str = CENTRAL_PASSWORD
    ) -> Client:
        client = Client(
            port=self.broker.plain_port, client_id=client_id, username=CENTRAL_USER,
            password=password,
        )  # fmt: skip
        self.opened.append(client)
        return client

    def close(self) -> None:
        for client in self.opened:
            client.close()


@pytest.fixture
def clients(broker: ShippedBroker, pki: Pki) -> Iterator[Clients]:
    opened = Clients(broker, pki)
    try:
        yield opened
    finally:
        opened.close()


def up(site: str, device: str, leaf: str = "record") -> str:
    return f"cg/v1/{site}/{device}/up/{leaf}"


def test_a_certified_device_publishes_its_own_records(clients: Clients) -> None:
    central = clients.central().connect()
    central.subscribe("$share/central/cg/v1/+/+/up/record")
    central.subscribe("cg/v1/+/+/up/status")
    device = clients.device("d-a1").connect()

    device.publish(up("site-a", "d-a1"), b"record 1")
    device.publish(up("site-a", "d-a1", "status"), b'{"state":"online"}', retain=True)

    assert central.receive() == (up("site-a", "d-a1"), b"record 1")
    assert central.receive() == (up("site-a", "d-a1", "status"), b'{"state":"online"}')
    print("d-a1 over TLS: its record and status reached central")


def test_a_device_reads_its_own_down_topics_and_the_tree_head(clients: Clients) -> None:
    central = clients.central().connect()
    device = clients.device("d-a1").connect()
    device.subscribe("cg/v1/site-a/d-a1/down/#")
    device.subscribe("cg/v1/central/sth")

    central.publish("cg/v1/site-a/d-a1/down/ack", b"ack")
    central.publish("cg/v1/central/sth", b"tree head")

    assert device.receive() == ("cg/v1/site-a/d-a1/down/ack", b"ack")
    assert device.receive() == ("cg/v1/central/sth", b"tree head")


@pytest.mark.parametrize(
    "topic",
    [
        up("site-b", "d-a1"),  # its own device id under another site
        up("site-a", "d-a2"),  # another device of its own site
        up("site-b", "d-b1"),  # another site's device
        up("site-b", "d-a1", "status"),
        "cg/v1/site-a/d-a1/down/ack",  # forging central's ack to itself
        "cg/v1/central/sth",  # forging central's tree head
    ],
)
def test_a_device_cannot_publish_elsewhere(clients: Clients, topic: str) -> None:
    central = clients.central().connect()
    central.subscribe("cg/v1/#")
    device = clients.device("d-a1").connect()

    device.publish(topic, b"forged")  # acknowledged by the broker, as MQTT 3.1.1 does
    device.publish(up("site-a", "d-a1"), b"sentinel")

    assert central.receive() == (up("site-a", "d-a1"), b"sentinel")
    assert central.messages.empty(), "a refused publish reached central"
    print(f"d-a1 -> {topic}: refused (the sentinel after it arrived alone)")


def test_a_device_cannot_read_another_devices_topics(clients: Clients) -> None:
    central = clients.central().connect()
    device = clients.device("d-a1").connect()
    device.subscribe("cg/v1/#")  # refused or filtered: nothing of another device may arrive

    central.publish("cg/v1/site-a/d-a2/down/ack", b"someone else's ack")
    central.publish("cg/v1/site-b/d-b1/down/bundle", b"someone else's bundle")
    central.publish(up("site-a", "d-a2"), b"someone else's record")
    device.subscribe("cg/v1/site-a/d-a1/down/#")
    central.publish("cg/v1/site-a/d-a1/down/ack", b"sentinel")

    assert device.receive() == ("cg/v1/site-a/d-a1/down/ack", b"sentinel")
    assert device.messages.empty()


def test_a_device_cannot_take_another_devices_client_id(clients: Clients) -> None:
    """The client id is the certificate's CN (use_username_as_clientid): d-a2 claiming d-a1's
    id gets its own session, and d-a1 is not thrown off."""
    central = clients.central().connect()
    central.subscribe("cg/v1/#")
    honest = clients.device("d-a1").connect()
    clients.device("d-a2", client_id="d-a1").connect()

    honest.publish(up("site-a", "d-a1"), b"still here")

    assert central.receive() == (up("site-a", "d-a1"), b"still here")
    assert not honest.disconnected.is_set()


def test_no_certificate_or_a_foreign_ca_cannot_connect(clients: Clients, pki: Pki) -> None:
    without = clients.device("d-a1", tls=Tls(ca=pki.etc / "ca.crt"))
    assert not without.try_connect()
    print(f"no client certificate: {without.reason}")

    rogue = Tls(ca=pki.etc / "ca.crt", cert=pki.root / "certs" / "rogue-d-a1.crt",
                key=pki.root / "keys" / "d-a1.key")  # fmt: skip
    foreign = clients.device("d-a1", tls=rogue)
    assert not foreign.try_connect()
    print(f"d-a1's own key certified by another CA: {foreign.reason}")

    plain = Client(port=clients.broker.port, client_id="d-a1")  # no TLS on the TLS port
    clients.opened.append(plain)
    assert not plain.try_connect()

    assert not clients.central(password="wrong").try_connect()
    anonymous = Client(port=clients.broker.plain_port, client_id="central-ingest-9")
    clients.opened.append(anonymous)
    assert not anonymous.try_connect()

    assert clients.device("d-a1").try_connect(), "the broker refuses everyone"


def test_a_revoked_device_is_locked_out_after_crl_and_reload(pki: Pki, tmp_path: Path) -> None:
    region = pki.copy(tmp_path / "region")
    broker = start(region, tmp_path / "broker")
    opened = Clients(broker, region)
    try:
        central = opened.central().connect()
        central.subscribe("cg/v1/#")
        connected = opened.device("d-b1").connect()  # connected before the revocation

        output = region.central("revoke", "--device", "d-b1")
        assert "of d-b1 revoked" in output, output
        region.publish_broker_files()
        assert "user d-b1\n" not in (region.etc / "acl").read_text()
        broker.reload()

        late = opened.device("d-b1")
        assert not late.try_connect(), "a revoked certificate still connects"
        print(f"d-b1 after revoke + CRL + SIGHUP: {late.reason}")
        # Its session opened before the revocation stays up until it reconnects, but the new
        # ACL gives it no topic: what it sends never arrives.
        connected.publish(up("site-b", "d-b1"), b"after revocation")
        sentinel = opened.device("d-a1").connect()
        sentinel.publish(up("site-a", "d-a1"), b"sentinel")
        assert central.receive() == (up("site-a", "d-a1"), b"sentinel")
        assert central.messages.empty()
        wait_for(lambda: "Reloading config" in broker.log.read_text(), "the reload log line")
    finally:
        opened.close()
        broker.stop()


def test_an_expired_crl_locks_every_device_out(pki: Pki, tmp_path: Path) -> None:
    """Why coalgate-broker-files.timer renews the CRL daily (docs/operations.md)."""
    region = pki.copy(tmp_path / "region")
    authority = DeviceCA.open(region.data / "ca")
    forty_days_ago = time.time_ns() // 1_000_000 - 40 * 86_400_000
    authority.write_crl(now_ms=forty_days_ago, days=30)  # next update: ten days ago
    shutil.copyfile(authority.crl_path, region.etc / "crl.pem")
    broker = start(region, tmp_path / "broker")
    opened = Clients(broker, region)
    try:
        honest = opened.device("d-a1")
        assert not honest.try_connect(), "a device connected although the CRL has expired"
        assert "certificate verify failed" in broker.log.read_text()
    finally:
        opened.close()
        broker.stop()
