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
import base64
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.store.model import StoredRecord
from central.store.sqlite import SqliteStore
from central.ticketing import service
from central.ticketing.bundles import BundlePublisher
from edge.console.sessions import CSRF_HEADER
from tests.central import builders as b
from tests.conftest import Mosquitto, free_port
from tests.edge.io_sim import ModbusSim
from wire.keyfiles import write_signing_key
from wire.keys import SigningKey
from wire.tickets import Ticket

KEYRING = b.central_keyring()
ISSUER = "yulin-energy-bureau"
SITE = b.SITE
PLATE = "陕K12345"  # registered: 6 axles, combination, tare 15 020 kg; limit 49 000 kg
OPERATOR = "wang.li"  # the gate house's operator account (``gate_house(operator=True)``)
PASSWORD = "correct horse 42"
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


def lane_scenario(
    path: Path,
    *,
    camera_port: int,
    toledo: bool = False,
    extra: str = "",
    name: str = "lane1",
    speed: float = 2,
) -> Path:
    """An empty lane ``name`` (trucks come through the control interface) at ``speed``, no
    noise, no misreads; the scale is the Modbus transmitter, or with ``toledo`` a Toledo
    indicator on its own port."""
    scale = (
        '[indicator]\nprotocol = "toledo"\nrate_hz = 10\n'
        if toledo
        else '[transmitter]\npreset = "hr-int32"\nunit_id = 2\n'
    )
    path.write_text(
        f"""
[lane]
name = "{name}"
seed = 1
speed = {speed}
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


def add_operator(site: Path) -> str:
    """``coalgate edge operator add`` as an installer would run it; its one line."""
    done = subprocess.run(
        [sys.executable, "-m", "coalgate", "edge", "operator", "add", OPERATOR, "--name", "王丽",
         "--config", str(site), "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Gate:
    """A gate house: central, the simulated lane, the edge's site file and the running edge."""

    central: Central
    sim: ModbusSim
    edge: EdgeProcess
    site: Path
    http_port: int
    directory: Path

    def truck(self, plate: str, *, load_kg: int, tare_kg: int = 15_000, stand_s: int = 4) -> None:
        self.sim.truck(
            plate=plate, axles=6, kind="combination", tare_kg=tare_kg, load_kg=load_kg,
            stand_s=stand_s,
        )  # fmt: skip

    def decision(self, plate: str) -> dict[str, Any]:
        """The edge's first decision about ``plate`` (waits for it)."""

        def find() -> dict[str, Any] | None:
            for item in self.edge.lane()["decisions"]:
                if item["plate"] == plate:
                    return dict(item)
            return None

        return until(find, what=f"a decision about {plate}")

    def restart_edge(self) -> None:
        self.edge = EdgeProcess(
            self.site, http_port=self.http_port, log_path=self.directory / "edge.log"
        )


@contextlib.contextmanager
def gate_house(
    directory: Path,
    broker: Mosquitto,
    *,
    kind: str = "modbus",
    operator: bool = False,
    certificate: bool = False,
    site_extra: str = "",
) -> Iterator[Gate]:
    """The gate house, the edge running: ``kind`` ``modbus`` (the transmitter), ``toledo`` (a
    Toledo indicator on its own port) or ``inbound`` (the destination's lane); with
    ``operator`` an operator account, with ``certificate`` the device certificate where
    enrollment puts it (issued an hour ago); ``site_extra`` is appended to the site file (the
    ``[[lane]]``'s tables)."""
    toledo = kind == "toledo"
    central = Central(directory, broker)
    if kind == "inbound":
        central.inbound()
    http_port = new_http_port()
    try:
        scenario = lane_scenario(directory / "lane.toml", camera_port=http_port, toledo=toledo)
        extra = ("--indicator-tcp", "127.0.0.1:0") if toledo else ()
        with ModbusSim.lane(scenario, *extra) as sim:
            site = site_file(
                directory, key=central.edge.key, broker_url=broker.url, line_url=sim.url,
                http_port=http_port, indicator_url=sim.fields["indicator"] if toledo else None,
                site_id=central.edge.site, direction="in" if kind == "inbound" else "out",
            )  # fmt: skip
            if site_extra:
                with site.open("a", encoding="utf-8") as file:
                    file.write("\n" + site_extra.strip() + "\n")
            if certificate:
                cert = directory / "keys" / f"{central.edge.key.kid}.key.cert"
                issued = b.certificate(central.edge, iat_s=int(time.time()) - 3600)
                cert.write_bytes(base64.b64encode(issued) + b"\n")
            if operator:
                assert "operators.json" in add_operator(site)
            edge = EdgeProcess(site, http_port=http_port, log_path=directory / "edge.log")
            gate = Gate(
                central=central, sim=sim, edge=edge, site=site, http_port=http_port,
                directory=directory,
            )  # fmt: skip
            try:
                yield gate
            finally:
                gate.edge.stop()
    finally:
        central.close()


class Console:
    """The operator's side of the console: a logged-in httpx client."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=10)
        answer = self.http.post(
            "/console/api/session", json={"operator": OPERATOR, "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        self.who: dict[str, Any] = answer.json()
        self.csrf: str = self.who["csrf"]

    def state(self) -> dict[str, Any]:
        answer = self.http.get("/console/api/state")
        assert answer.status_code == 200, answer.text
        state: dict[str, Any] = answer.json()
        return state

    def lane(self) -> dict[str, Any]:
        lane: dict[str, Any] = self.state()["lanes"][0]
        return lane

    def post(self, path: str, body: object = None) -> httpx.Response:
        return self.http.post(path, json=body, headers={CSRF_HEADER: self.csrf})

    def live_until(
        self, check: Callable[[dict[str, Any]], bool], *, within_s: float = WAIT_S
    ) -> list[dict[str, Any]]:
        """The lane states the live stream sent (reconnecting as the browser does) up to and
        including the first that passes ``check``."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            with self.http.stream("GET", "/console/api/live", timeout=10) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                for line in stream.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    lane = json.loads(line.removeprefix("data: "))["lanes"][0]
                    seen.append(lane)
                    if check(lane):
                        return seen
                    if time.monotonic() > deadline:
                        break
        raise AssertionError(f"not seen on the live stream within {within_s} s")

    def close(self) -> None:
        self.http.close()
