"""Two lanes at one gate house, one ``coalgate edge run``, over mutual TLS to the shipped broker.

The world, all real parts:

- two ``coalgate sim lane`` processes, ``lane1`` and ``lane2``, each with its own Modbus TCP
  line (a lane simulator is a whole lane: its transmitter and IO module answer on one server,
  so two lanes cannot share one simulated RS-485 line; the site file lets lanes share a real
  one with distinct unit ids, ``edge.config.load``, and the agent then opens it once). Both
  cameras push to the one edge;
- the broker runs ``deploy/mosquitto/mosquitto.conf`` as shipped (``tests/deploy/broker.py``:
  only ports and paths rewritten): the device's only way in is the TLS listener with a client
  certificate (``allow_anonymous false``; the plain listener is on loopback and takes only
  central's passwords). The device certificate, server certificate, CRL and ACL are made with
  ``coalgate central ca …`` from central's own registry, as docs/operations.md says;
- central's real store, ingest worker and bundle publisher (``support.Central``'s parts) on
  that loopback listener, each service with its own user and password.

The edge's site file says ``mqtts://`` with the CA, the device certificate and the device key.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.store.sqlite import SqliteStore
from central.ticketing.bundles import BundlePublisher
from coalgate.commands.central import central as central_command
from tests.central import builders as b
from tests.conftest import service_missing
from tests.deploy.broker import Client, ShippedBroker
from tests.edge.io_sim import ModbusSim
from tests.edge.runtime.support import (
    KEYRING,
    PLATE,
    Central,
    EdgeProcess,
    lane_scenario,
    new_http_port,
    until,
    wall_ms,
)
from wire.bodies import WeighingBody
from wire.keyfiles import write_signing_key
from wire.keys import KeySet
from wire.records import verify_record

pytestmark = pytest.mark.mosquitto

PLATE2 = "陕K67890"
INGEST_USER, BUNDLES_USER = "central-service", "central-bundles"
PASSWORD = "test-only-central-password"  # a private broker's, for tests
SPEED = 4  # the lanes' simulated time runs this much faster than the wall clock


class TlsCentral(Central):
    """``support.Central`` on the shipped broker's loopback listener with passwords: the store
    and registry first (the CA issues certificates only to enrolled devices), the MQTT parts
    once the broker runs (``connect``)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.store = SqliteStore(directory / "central.db")
        self.store.migrate()
        self.region = b.Region().register(self.store)
        self.store.upsert_vehicles(
            [b.vehicle(PLATE2, trailer="陕K6789挂")], actor="test", at=wall_ms()
        )
        self.edge = self.region.seller
        self._published = threading.Event()
        self.connected = False

    def connect(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=BUNDLES_USER)
        self.client.username_pw_set(BUNDLES_USER, PASSWORD)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.connected = True
        self.publisher = BundlePublisher(
            store=self.store, keyring=KEYRING, client=self.client, clock=wall_ms
        )
        url = MqttUrl.parse(f"mqtt://{INGEST_USER}:{PASSWORD}@127.0.0.1:{port}")
        self.worker = IngestWorker(
            store=self.store, keyring=KEYRING, mqtt_url=url, batch_wait_s=0.01
        )
        self.worker.start()

    def close(self) -> None:
        if self.connected:
            super().close()
            self.client._reset_sockets()  # see tests/deploy/broker.py Client.close
        else:
            self.store.close()


def broker_files(central_dir: Path, root: Path, *, device: str, device_key: Path) -> Path:
    """The CA, the device's certificate for its own key, the broker's files in ``etc``."""
    env = {"COALGATE_DATA_DIR": str(central_dir), "COALGATE_CA_DIR": ""}

    def run(*args: str) -> None:
        result = CliRunner().invoke(central_command, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output

    etc = root / "etc"
    etc.mkdir(parents=True)
    run("ca", "init")
    run("ca", "issue", "--device", device, "--key", str(device_key),
        "--out", str(root / "device.crt"))  # fmt: skip
    run("ca", "server-cert", "--host", "127.0.0.1", "--out", str(etc / "server.crt"),
        "--key-out", str(etc / "server.key"))  # fmt: skip
    shutil.copyfile(central_dir / "ca" / "ca.crt", etc / "ca.crt")
    shutil.copyfile(central_dir / "ca" / "crl.pem", etc / "crl.pem")
    run("ca", "acl", "--out", str(etc / "acl"), "--central-user", INGEST_USER,
        "--central-user", BUNDLES_USER)  # fmt: skip
    for index, user in enumerate((INGEST_USER, BUNDLES_USER)):
        create = ["-c"] if index == 0 else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(etc / "passwd"), user, PASSWORD],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    return etc


def two_lane_site(
    directory: Path, *, device: str, site: str, broker_port: int, tls: Path, http_port: int,
    lines: dict[str, str],
) -> Path:  # fmt: skip
    keys = directory / "keys"
    (keys / f"{b.CENTRAL.kid}.pub").write_bytes(b.CENTRAL.public.to_pem())  # kid: the name
    lanes = "".join(
        f"""
[[lane]]
id = "{lane}"
direction = "out"
passes = "single"

[lane.scale]
modbus = "hr-int32"
url = "{url}"
unit_id = 2
division_kg = 10
capacity_kg = 60000

[lane.io]
url = "{url}"
unit_id = 1
barrier = "pulse"
pulse_ms = 300
"""
        for lane, url in lines.items()
    )
    path = directory / "site.toml"
    path.write_text(
        f"""
[site]
id = "{site}"
device = "{device}"
device_key = "keys/{device}.key"
central_keys = "keys/{b.CENTRAL.kid}.pub"
data_dir = "data"

[broker]
url = "mqtts://127.0.0.1:{broker_port}"
ca_file = "{tls / "etc" / "ca.crt"}"
cert_file = "{tls / "device.crt"}"
key_file = "keys/{device}.key"

[uplink]
heartbeat_s = 2
resend_after_s = 2

[http]
bind = "127.0.0.1:{http_port}"
{lanes}""",
        encoding="utf-8",
    )
    return path


@dataclass
class House:
    central: TlsCentral
    broker: ShippedBroker
    sims: dict[str, ModbusSim]
    edge: EdgeProcess

    def lane(self, lane: str) -> dict[str, Any]:
        lanes: list[dict[str, Any]] = self.edge.get("/api/lanes")["lanes"]
        (found,) = [item for item in lanes if item["id"] == lane]
        return found

    def truck(self, lane: str, plate: str, *, load_kg: int) -> None:
        self.sims[lane].truck(
            plate=plate, axles=6, kind="combination", tare_kg=15_000, load_kg=load_kg,
            stand_s=3,
        )  # fmt: skip

    def decision(self, lane: str, plate: str) -> dict[str, Any]:
        """The one decision about ``plate`` at ``lane`` (waits for it)."""

        def find() -> list[dict[str, Any]]:
            return [d for d in self.lane(lane)["decisions"] if d["plate"] == plate]

        (found,) = until(find, what=f"a decision about {plate} at {lane}")
        return found


@pytest.fixture
def house(tmp_path: Path) -> Iterator[House]:
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        service_missing("mosquitto (and mosquitto_passwd) are not installed")
    central = TlsCentral(tmp_path / "central")
    try:
        device = central.edge.key.kid
        (tmp_path / "keys").mkdir()
        key_path = tmp_path / "keys" / f"{device}.key"
        write_signing_key(central.edge.key, key_path)
        tls = tmp_path / "tls"
        etc = broker_files(tmp_path / "central", tls, device=device, device_key=key_path)
        broker = ShippedBroker(tmp_path / "broker", etc=etc)
        broker.start()
        try:
            central.connect(broker.plain_port)
            http_port = new_http_port()
            with (
                ModbusSim.lane(scenario(tmp_path, "lane1", http_port)) as sim1,
                ModbusSim.lane(scenario(tmp_path, "lane2", http_port)) as sim2,
            ):
                site = two_lane_site(
                    tmp_path, device=device, site=central.edge.site, broker_port=broker.port,
                    tls=tls, http_port=http_port, lines={"lane1": sim1.url, "lane2": sim2.url},
                )  # fmt: skip
                edge = EdgeProcess(site, http_port=http_port, log_path=tmp_path / "edge.log")
                try:
                    yield House(
                        central=central, broker=broker, sims={"lane1": sim1, "lane2": sim2},
                        edge=edge,
                    )  # fmt: skip
                finally:
                    edge.stop()
        finally:
            broker.stop()
    finally:
        central.close()


def scenario(directory: Path, lane: str, camera_port: int) -> Path:
    return lane_scenario(
        directory / f"{lane}.toml", camera_port=camera_port, name=lane, speed=SPEED
    )


def test_two_lanes_decide_at_once_on_one_chain_over_tls(house: House) -> None:
    central, edge = house.central, house.edge
    device = central.edge.device
    central.issue()  # for PLATE
    central.issue(plate=PLATE2)
    version = central.publish_bundle()

    def ready() -> bool:
        return all(
            (lane := house.lane(name))["bundle_version"] == version
            and lane["weight_kg"] == 0
            and lane["state"] == "idle"
            for name in ("lane1", "lane2")
        )

    until(ready, what="both lanes idle at zero with the site bundle")
    # zero before the transaction: each empty deck read stable over its 1 s window first
    until(lambda: min(readings(edge, "lane1"), readings(edge, "lane2")) >= 25, what="readings")

    # A truck on each lane at once, each with its own ticket: both released, both leave.
    house.truck("lane1", PLATE, load_kg=33_000)  # gross 48 000 kg
    house.truck("lane2", PLATE2, load_kg=30_000)  # gross 45 000 kg
    for lane, plate in (("lane1", PLATE), ("lane2", PLATE2)):
        decision = house.decision(lane, plate)
        assert (decision["decision"], decision["reasons"]) == ("release", ["ok"]), decision
    until(
        lambda: not any(sim.state()["trucks"] for sim in house.sims.values()),
        what="both trucks leaving",
    )

    # Each comes back on the other lane with the ticket it just used: used at one lane is
    # used at every lane of the site, so both are held (at once again).
    house.truck("lane2", PLATE, load_kg=33_000)
    house.truck("lane1", PLATE2, load_kg=30_000)
    for lane, plate in (("lane2", PLATE), ("lane1", PLATE2)):
        decision = house.decision(lane, plate)
        assert decision["decision"] == "hold", decision
        assert "ticket_used" in decision["reasons"], decision
    metrics = edge.metrics()
    for lane in ("lane1", "lane2"):
        assert f'coalgate_edge_barrier_raised_total{{lane="{lane}"}} 1' in metrics

    # Central has all four weighings, from both lanes, on one unbroken chain of the device.
    keys = KeySet([central.edge.key.public])

    def weighings() -> list[WeighingBody] | None:
        found = []
        for stored in central.records():
            body = verify_record(stored.raw, keys).body
            if isinstance(body, WeighingBody):
                found.append(body)
        return found if len(found) == 4 else None

    seen = {(w.lane, w.plate, w.decision) for w in until(weighings, what="4 weighings")}
    assert seen == {
        ("lane1", PLATE, "release"),
        ("lane2", PLATE2, "release"),
        ("lane2", PLATE, "hold"),
        ("lane1", PLATE2, "hold"),
    }

    def acked() -> bool:
        uplink = edge.get("/healthz")["uplink"]
        return bool(uplink["connected"] and uplink["backlog"] == 0)

    until(acked, what="central's ack of every record")
    seqs = [stored.seq for stored in central.records()]
    assert sorted(seqs) == list(range(1, max(seqs) + 1))  # no gap, no seq twice
    assert central.store.contiguous(device) == max(seqs)
    assert central.store.equivocations(device) == []
    assert central.store.quarantined() == []

    # It went over TLS: the broker took the device's identity from its client certificate
    # on the TLS port, its only way in: the plain listener refuses it.
    config = house.broker.config.read_text()
    assert "allow_anonymous false" in config
    assert "require_certificate true" in config
    plain = Client(port=house.broker.plain_port, client_id=device)
    try:
        assert not plain.try_connect(), "the device got in without TLS"
    finally:
        plain.close()
    log = house.broker.log.read_text()
    assert f"on port {house.broker.port}." in log
    assert f"as {device} " in log, log
    assert f"u'{device}'" in log, log


def readings(edge: EdgeProcess, lane: str) -> int:
    for line in edge.metrics().splitlines():
        if line.startswith(f'coalgate_edge_readings_total{{lane="{lane}"}}'):
            return int(line.rsplit(" ", 1)[1])
    return 0
