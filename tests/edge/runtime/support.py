"""A gate house and its world for the ``edge run`` tests, all real parts:

- ``Central``: central's store on SQLite in the test's directory, the real ingest worker (acks,
  bundles after loading), the ticket service and the bundle publisher, on the test's Mosquitto;
- ``lane_scenario``: a ``coalgate sim lane`` scenario with ``auto_barrier = false`` (a truck
  leaves only through a barrier the edge raised) and the camera pushing to the edge;
- ``site_file``: the edge's site file, device key and central's public key;
- ``EdgeProcess``: ``coalgate edge run`` as a subprocess with its JSON log on a file, its
  HTTP API (``/api/lanes``, ``/metrics``) and a clean SIGTERM.

Waits are bounded and event-driven: a condition polled against a deadline while the other
processes run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.store.model import StoredRecord
from central.store.sqlite import SqliteStore
from central.ticketing import service
from central.ticketing.bundles import BundlePublisher
from tests.central import builders as b
from tests.conftest import Mosquitto, free_port
from wire.keyfiles import write_signing_key
from wire.keys import SigningKey
from wire.tickets import Ticket

KEYRING = b.central_keyring()
ISSUER = "yulin-energy-bureau"
SITE = b.SITE
PLATE = "陕K12345"  # registered: 6 axles, combination, tare 15 020 kg; limit 49 000 kg
WAIT_S = 40.0
_T = TypeVar("_T")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def until(check: Callable[[], _T | None], *, within_s: float = WAIT_S, what: str = "") -> _T:
    """Poll ``check`` until it returns something truthy (bounded); return that."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {within_s} s: {what}")
        time.sleep(0.05)


async def until_async(
    check: Callable[[], _T | None], *, within_s: float = WAIT_S, what: str = ""
) -> _T:
    """``until`` for async tests: the event loop runs between polls."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {within_s} s: {what}")
        await asyncio.sleep(0.05)


class Central:
    """Central's real store, ingest worker, ticket service and bundle publisher."""

    def __init__(self, directory: Path, broker: Mosquitto) -> None:
        self.store = SqliteStore(directory / "central.db")
        self.store.migrate()
        self.region = b.Region().register(self.store)
        self.edge = self.region.seller  # the mine's gate: yl-mine-a-gate-1
        self._published = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-test-bundles")
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.publisher = BundlePublisher(
            store=self.store, keyring=KEYRING, client=self.client, clock=wall_ms
        )
        self.worker = IngestWorker(
            store=self.store, keyring=KEYRING, mqtt_url=MqttUrl.parse(broker.url),
            batch_wait_s=0.01,
        )  # fmt: skip
        self.worker.start()

    def issue(self, **changes: Any) -> Ticket:
        issued = service.issue(
            self.store, KEYRING, b.ticket_request(**changes), issuer=ISSUER, now_ms=wall_ms(),
            actor="test",
        )  # fmt: skip
        return issued.ticket

    def inbound(self) -> None:
        """Play the destination's gate (``mg-smelter-b-gate-1``) instead of the mine's."""
        self.edge = self.region.dest

    def publish_bundle(self) -> int:
        return self.publisher.publish_site(self.edge.site).version

    def loaded(self, ticket: Ticket, net_kg: int) -> None:
        """The mine's gate loaded the truck: its signed release, ingested as the worker does."""
        record = self.region.seller.sign(1, b.loading(ticket.cti, net_kg), ts=wall_ms())
        self.store.ingest([b.incoming(record, received_at=wall_ms())], [], now_ms=wall_ms())

    def records(self) -> list[StoredRecord]:
        return self.store.records(self.edge.device)

    def close(self) -> None:
        self.worker.stop()
        self.client.disconnect()
        self.client.loop_stop()
        self.store.close()


def lane_scenario(path: Path, *, camera_port: int, toledo: bool = False, extra: str = "") -> Path:
    """An empty lane (trucks come through the control interface), no noise, no misreads; the
    scale is the Modbus transmitter, or with ``toledo`` a Toledo indicator on its own port."""
    scale = (
        '[indicator]\nprotocol = "toledo"\nrate_hz = 10\n'
        if toledo
        else '[transmitter]\npreset = "hr-int32"\nunit_id = 2\n'
    )
    path.write_text(
        f"""
[lane]
name = "lane1"
seed = 1
speed = 2
auto_barrier = false
noise_kg = 0.0
capacity_kg = 60000
division_kg = 10

{scale}
[io]
unit_id = 1
barrier = "pulse"
travel_ms = 500

[camera]
url = "http://127.0.0.1:{camera_port}/camera"
misread_rate = 0.0
low_confidence_rate = 0.0
{extra}
""",
        encoding="utf-8",
    )
    return path


def site_file(
    directory: Path,
    *,
    key: SigningKey,
    broker_url: str,
    line_url: str,
    http_port: int,
    indicator_url: str | None = None,
    site_id: str = SITE,
    direction: str = "out",
) -> Path:
    """The edge's site file, its device key (the registered gate's) and central's key."""
    keys = directory / "keys"
    keys.mkdir(exist_ok=True)
    key_path = keys / f"{key.kid}.key"
    if not key_path.exists():
        write_signing_key(key, key_path)
    central_pub = keys / f"{b.CENTRAL.kid}.pub"
    if not central_pub.exists():
        central_pub.write_bytes(b.CENTRAL.public.to_pem())
    scale = (
        f'protocol = "toledo"\nurl = "{indicator_url}"\n'
        if indicator_url is not None
        else f'modbus = "hr-int32"\nurl = "{line_url}"\nunit_id = 2\n'
    )
    site = directory / "site.toml"
    site.write_text(
        f"""
[site]
id = "{site_id}"
device = "{key.kid}"
device_key = "keys/{key_path.name}"
central_keys = "keys/{central_pub.name}"
data_dir = "data"

[broker]
url = "{broker_url}"

[uplink]
heartbeat_s = 2
resend_after_s = 2

[http]
bind = "127.0.0.1:{http_port}"

[[lane]]
id = "lane1"
direction = "{direction}"
passes = "single"

[lane.scale]
{scale}division_kg = 10
capacity_kg = 60000

[lane.io]
url = "{line_url}"
unit_id = 1
barrier = "pulse"
pulse_ms = 300
""",
        encoding="utf-8",
    )
    return site


class EdgeProcess:
    """``coalgate edge run --config FILE`` with its log in ``log_path``."""

    def __init__(self, site: Path, *, http_port: int, log_path: Path) -> None:
        self.base = f"http://127.0.0.1:{http_port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coalgate", "edge", "run", "--config", str(site)],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            until(self._healthy, within_s=20, what="the edge's /healthz")
        except BaseException:
            self.kill()
            raise

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"edge run exited with {self.process.returncode}: {self.log()}")
        try:
            return bool(self.get("/healthz")["status"] == "ok")
        except (OSError, urllib.error.URLError):
            return False

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=5) as response:
            body = response.read()
        return json.loads(body) if path != "/metrics" else body.decode()

    def lane(self) -> dict[str, Any]:
        lanes: list[dict[str, Any]] = self.get("/api/lanes")["lanes"]
        return lanes[0]

    def metrics(self) -> str:
        text: str = self.get("/metrics")
        return text

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def terminate(self, *, within_s: float = 30) -> int:
        """SIGTERM; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=within_s)
        finally:
            self._log.close()

    def stop(self) -> None:
        """SIGTERM if still running (kill after a while); for teardown."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


def new_http_port() -> int:
    return free_port()
