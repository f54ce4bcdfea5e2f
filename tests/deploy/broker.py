"""The shipped broker config (deploy/mosquitto/mosquitto.conf) run as a private broker, and
MQTT clients with the identities that config admits: devices over TLS with a client
certificate, central's services on the loopback listener with a password.

Only ports, paths, the log and the ``user`` are rewritten; each rewrite must match exactly one
line of the shipped file, so a drift in the file fails the tests instead of testing another
config.
"""

from __future__ import annotations

import getpass
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.conftest import Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
WAIT_S = 10.0


def render_config(*, etc: Path, state: Path, log: Path, tls_port: int, plain_port: int) -> str:
    """The shipped config with private ports and paths (each swap must hit exactly once)."""
    text = SHIPPED.read_text()
    swaps = [
        ("listener 8883\n", f"listener {tls_port} 127.0.0.1\n"),
        ("listener 1883 127.0.0.1\n", f"listener {plain_port} 127.0.0.1\n"),
        ("user mosquitto\n", f"user {getpass.getuser()}\n"),
        ("persistence_location /var/lib/mosquitto/\n", f"persistence_location {state}/\n"),
        ("log_dest stderr\n", f"log_dest file {log}\n"),
    ]
    for old, new in swaps:
        assert text.count(old) == 1, f"the shipped config no longer has exactly one {old!r}"
        text = text.replace(old, new)
    settings = [line for line in text.splitlines() if not line.startswith("#")]
    assert sum("/etc/mosquitto/coalgate/" in line for line in settings) == 6
    return text.replace("/etc/mosquitto/coalgate/", f"{etc}/")


class ShippedBroker(Mosquitto):
    """A private Mosquitto running the shipped config; ``etc`` holds its TLS files, ACL and
    password file (as /etc/mosquitto/coalgate/ would)."""

    def __init__(self, directory: Path, *, etc: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__(directory)
        self.etc = etc
        self.plain_port = free_port()
        self.log = directory / "mosquitto.log"
        state = directory / "state"
        state.mkdir(exist_ok=True)
        self.config.write_text(
            render_config(
                etc=etc, state=state, log=self.log, tls_port=self.port, plain_port=self.plain_port
            )
        )

    def start(self) -> None:
        super().start()  # returns once the TLS port listens; the loopback one may be later

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.plain_port), timeout=0.2).close()
            except OSError:
                return False
            return True

        wait_for(listening, "the loopback listener")

    def reload(self) -> None:
        """SIGHUP, as ``systemctl reload mosquitto``; returns once the broker logged it."""
        assert self.process is not None
        before = self.log.read_text().count("Reloading config")
        self.process.send_signal(signal.SIGHUP)
        wait_for(lambda: self.log.read_text().count("Reloading config") > before, "reload")


def wait_for(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll ``check`` (a log line, a flag) until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.02)


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path | None = None
    key: Path | None = None


class Client:
    """One paho client, no automatic reconnect, with waits that end on the event."""

    def __init__(
        self,
        *,
        port: int,
        client_id: str,
        tls: Tls | None = None,
        username: str | None = None,
        password: str | None = None,
        version: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
    ) -> None:
        self.port = port
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.reason: str = ""
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version,
            reconnect_on_failure=False,
        )  # fmt: skip
        if tls is not None:
            self.client.tls_set(
                ca_certs=str(tls.ca),
                certfile=None if tls.cert is None else str(tls.cert),
                keyfile=None if tls.key is None else str(tls.key),
            )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self._looping = False

    def _on_connect(
        self, _c: object, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object
    ) -> None:
        self.reason = str(rc)
        if rc.is_failure:
            self.disconnected.set()
        else:
            self.connected.set()

    def _on_disconnect(self, _c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        self.reason = self.reason or str(rc)
        self.disconnected.set()

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        self.messages.put((message.topic, message.payload))

    def try_connect(self) -> bool:
        """True when the broker accepted (CONNACK success); False when the TLS handshake, the
        first read or the CONNACK refused. TLS 1.3 clients learn of a refused certificate only
        after their side of the handshake, so both paths are waited for."""
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        except OSError as exc:  # ssl.SSLError is an OSError
            self.reason = f"{type(exc).__name__}: {exc}"
            return False
        self.client.loop_start()
        self._looping = True
        wait_for(lambda: self.connected.is_set() or self.disconnected.is_set(), "CONNACK")
        return self.connected.is_set() and not self.disconnected.is_set()

    def connect(self) -> Client:
        assert self.try_connect(), f"refused: {self.reason}"
        return self

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        result, _ = self.client.subscribe(topic, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS
        wait_for(self._subscribed.is_set, f"SUBACK for {topic}")

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """QoS 1; returns at the PUBACK (which MQTT 3.1.1 sends even for a refused topic)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        info.wait_for_publish(WAIT_S)
        assert info.is_published()

    def receive(self) -> tuple[str, bytes]:
        return self.messages.get(timeout=WAIT_S)

    def close(self) -> None:
        if self._looping:
            self.client.disconnect()
            self.client.loop_stop()
            self._looping = False
        # paho closes its wake-up socket pair only in __del__, which a reference cycle (these
        # callbacks) delays to a garbage collection: an "unclosed socket" warning, an error here
        self.client._reset_sockets()
