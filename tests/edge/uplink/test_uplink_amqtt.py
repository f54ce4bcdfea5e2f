"""The uplink against amqtt, the pure-Python broker the demo embeds (PROTOCOLS.md §7).

amqtt runs as its own process (its ``amqtt.scripts.broker_script``, as the ``amqtt`` command)
on a free port with a config written here: one TCP listener, the anonymous auth plugin (without
an auth plugin it refuses every client). MQTT 3.1.1 only.

What amqtt 0.12 does differently from Mosquitto, each shown by a test below (docs/gate.md,
"The uplink"): with anonymous auth every session counts as anonymous, and amqtt keeps no QoS 1
message for an anonymous persistent session while it is away (nor the session itself for
more than about a second); a broker restart forgets sessions and retained messages (no
persistence configured); a connecting client is handed the retained messages of every filter
*any* client has subscribed to, not only its own; an MQTT 5 CONNECT is never answered. None of
it costs a record: the edge resends whatever is un-acked on every connection and reads only its
own topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.journal.store import Journal
from edge.uplink.client import Uplink
from tests.conftest import free_port
from tests.edge.journal.support import DEVICE, SITE, T0, body_for, chain_report, device_key
from tests.edge.uplink.central_peer import CentralPeer, until
from tests.edge.uplink.running import event as shared_event
from tests.edge.uplink.running import running
from tests.wire.central_factories import CENTRAL, CENTRAL_KEYS
from wire.bundles import build_bundle
from wire.topics import ack_topic, bundle_topic, status_topic

ROOT = Path(__file__).resolve().parents[3]


class Amqtt:
    """A private amqtt broker on a free port; ``stop`` and ``start`` again on the same port."""

    def __init__(self, directory: Path, *, allow_anonymous: bool = True) -> None:
        self.port = free_port()
        self.config = directory / "amqtt.yaml"
        self.config.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            f"    allow_anonymous: {'true' if allow_anonymous else 'false'}\n"
        )
        self.log = directory / "amqtt.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                if self.process.poll() is not None:
                    self.process = None
                    raise RuntimeError(f"amqtt exited: {self.log.read_text()}") from None
                time.sleep(0.05)
            else:
                return
        self.stop(kill=True)
        raise RuntimeError("amqtt did not start listening within 20 s")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (amqtt has nothing to save: no persistence) or SIGKILL."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def amqtt(tmp_path: Path) -> Iterator[Amqtt]:
    broker = Amqtt(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.db", key=device_key(), site=SITE, device=DEVICE) as j:
        yield j


@pytest.fixture
def central(amqtt: Amqtt) -> Iterator[CentralPeer]:
    peer = CentralPeer(port=amqtt.port)
    try:
        yield peer
    finally:
        peer.close()


def make_uplink(journal: Journal, broker: Amqtt, **options: Any) -> Uplink:
    settings: dict[str, Any] = {
        "mqtt_version": "3.1.1",
        "resend_after_s": 0.5,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "heartbeat_s": 3600.0,
        "software_version": "test-1.0",
        "disk_check_s": 0.05,
    }
    settings.update(options)
    return Uplink(journal=journal, url=broker.url, central_keys=CENTRAL_KEYS, **settings)


# amqtt answers more slowly after a restart than Mosquitto: a longer wait by default.
event = functools.partial(shared_event, timeout_s=20.0)


def write(journal: Journal, count: int) -> None:
    start = journal.highest_seq
    for number in range(start + 1, start + count + 1):
        body = body_for(number)
        journal.append(record_type=body.TYPE, body=body, ts_ms=T0 + number)


class Listener:
    """A plain paho 3.1.1 client that subscribes to ``topic`` and records what it receives:
    ``received`` holds (payload, retain) of messages on ``topic``, ``strays`` the topics of
    any others (amqtt sends some: see the retained-message test)."""

    def __init__(
        self,
        port: int,
        *,
        client_id: str,
        topic: str,
        clean_session: bool = True,
        username: str | None = None,
        will: str | None = None,
    ) -> None:
        self.topic = topic
        self.received: list[tuple[bytes, bool]] = []
        self.strays: list[str] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            self.client.username_pw_set(username)
        if will is not None:
            self.client.will_set(will, b"gone", qos=1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            self.close()
            raise RuntimeError(f"{client_id} could not subscribe")

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            if message.topic == self.topic:
                self.received.append((bytes(message.payload), bool(message.retain)))
            else:
                self.strays.append(message.topic)

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [payload for payload, _ in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._release()

    def die(self) -> None:
        """Vanish without a DISCONNECT (the broker publishes the Will once it notices)."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()
        self._release()

    def _release(self) -> None:
        """Drop the callbacks (they refer back to this object), so the client is freed —
        and closes its sockets — at once rather than by a later garbage collection."""
        self.client.on_connect = None
        self.client.on_subscribe = None
        self.client.on_message = None


# --- the uplink over amqtt -------------------------------------------------------------------


async def test_records_flow_in_order_and_are_retired_by_acks(
    journal: Journal, amqtt: Amqtt, central: CentralPeer
) -> None:
    write(journal, 150)  # queued offline
    uplink = make_uplink(journal, amqtt, window=40)
    async with running(uplink):
        await until(lambda: journal.acked_seq == 150, what="the offline backlog acked")
        write(journal, 150)  # written while connected: sent at once
        await until(lambda: journal.acked_seq == 300, what="the live records acked")
        assert uplink.connected
        assert not journal.pending()
    assert central.bad == []
    assert set(central.counts) == set(range(1, 301))
    assert central.beyond_window <= 40
    report = chain_report(central.records.values())
    assert report.ok
    assert report.contiguous == 300
    await until(lambda: central.statuses[-1]["state"] == "offline", what="offline status")
    online = [s for s in central.statuses if s["state"] == "online"]
    assert online[0]["version"] == "test-1.0"


async def test_a_broker_killed_mid_stream_loses_nothing(
    journal: Journal, amqtt: Amqtt, central: CentralPeer
) -> None:
    """amqtt restarts with no sessions and no subscriptions: the test central subscribes
    again when paho reconnects it, and whatever the edge sent before that is lost at the
    broker — the edge's resends (on connection, then on the stalled ack) make it good."""
    central.auto_ack = False
    write(journal, 200)
    uplink = make_uplink(journal, amqtt, window=50)
    async with running(uplink):
        await until(lambda: central.contiguous >= 50, what="the first window")
        central.ack(30)
        await until(lambda: journal.acked_seq == 30, what="ack 30")
        await until(lambda: central.contiguous >= 80, what="the window moved past the ack")
        amqtt.stop(kill=True)  # in flight: 31..80, un-acked
        await event(uplink, "disconnected")
        write(journal, 100)  # the lane keeps writing while the broker is gone
        central.auto_ack = True
        amqtt.start()
        await until(lambda: journal.acked_seq == 300, timeout_s=60, what="all 300 acked")
    print(
        f"arrivals {len(central.arrivals)} for 300 records; connections "
        f"{uplink.stats.connections}; resends {uplink.window.resends}"
    )
    assert set(central.counts) == set(range(1, 301))
    assert uplink.stats.connections >= 2
    assert central.bad == []
    assert chain_report(central.records.values()).ok


async def test_a_retained_bundle_waits_for_the_edge_and_its_status_is_retained(
    journal: Journal, amqtt: Amqtt, central: CentralPeer
) -> None:
    bundle = build_bundle(
        CENTRAL, site=SITE, version=2, ts=T0, tickets=[], revoked=[], vehicles={}
    ).raw
    central.publish_bundle(bundle)  # retained, before the edge ever connects
    uplink = make_uplink(journal, amqtt)
    async with running(uplink):
        async with asyncio.timeout(20):
            received = await uplink.bundles.get()
        assert received.version == 2
        cached = journal.bundle()
        assert cached is not None
        assert (cached.version, cached.data) == (2, bundle)
        await until(
            lambda: any(status["state"] == "online" for status in central.statuses),
            what="the broker has the online status",
        )
        late = Listener(amqtt.port, client_id="late-watcher", topic=status_topic(SITE, DEVICE))
        try:
            await until(lambda: bool(late.received), what="the retained status")
            payload, retained = late.received[0]
            assert retained
            assert json.loads(payload)["state"] == "online"
        finally:
            late.close()


@contextlib.contextmanager
def agent(path: Path, broker: Amqtt) -> Iterator[subprocess.Popen[bytes]]:
    """The uplink as its own process (``tests.edge.uplink.edge_proc``), connected."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.edge.uplink.edge_proc", str(path), broker.url, "3.1.1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"connected\n"
        yield process
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


async def test_a_killed_agent_leaves_its_will_and_acks_sent_meanwhile_are_not_needed(
    tmp_path: Path, amqtt: Amqtt
) -> None:
    """The Will is published and retained. An ack published while the agent is away (its
    Will proves the broker has noticed) never reaches it: amqtt keeps nothing for the
    anonymous persistent session. The restarted agent resends what is un-acked and central
    acks it again."""
    path = tmp_path / "agent.db"
    with Journal.open(path, key=device_key(), site=SITE, device=DEVICE) as journal:
        write(journal, 10)
    central = CentralPeer(port=amqtt.port, auto_ack=False)
    try:
        with agent(path, amqtt) as process:
            await until(lambda: central.contiguous == 10, what="the agent's records")
            await until(
                lambda: bool(central.statuses) and central.statuses[-1]["state"] == "online",
                what="online",
            )
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            await until(lambda: central.statuses[-1] == {"state": "offline"}, what="the Last Will")
        late = Listener(amqtt.port, client_id="late-watcher", topic=status_topic(SITE, DEVICE))
        acks = Listener(amqtt.port, client_id="ack-watcher", topic=ack_topic(SITE, DEVICE))
        try:
            await until(lambda: bool(late.received), what="the retained Will")
            assert late.received[0] == (b'{"state":"offline"}', True)
            central.ack(10)  # while the agent is away
            await until(lambda: bool(acks.received), what="the broker has passed the ack on")
        finally:
            late.close()
            acks.close()
        with Journal.open(path, key=device_key(), site=SITE, device=DEVICE) as journal:
            assert journal.acked_seq == 0
            restarted = make_uplink(journal, amqtt, resend_after_s=30)
            async with running(restarted):
                await until(lambda: central.seen(10) >= 2, what="the resend on reconnecting")
                assert journal.acked_seq == 0  # the ack of the away time never came
                central.ack(10)
                await until(lambda: journal.acked_seq == 10, what="the fresh ack")
    finally:
        central.close()


# --- amqtt itself: what the docs say about it ------------------------------------------------


@pytest.mark.parametrize("anonymous", [True, False], ids=["anonymous", "named"])
async def test_amqtt_queues_for_an_away_session_only_when_it_is_not_anonymous(
    tmp_path: Path, anonymous: bool
) -> None:
    """A QoS 1 message for a persistent (clean_session=False) session that is away: amqtt
    delivers it on return only to a named session (``allow_anonymous: false`` and a
    username); an anonymous one never gets it. A sentinel published after the return, which
    arrives, shows the earlier message is not merely late."""
    broker = Amqtt(tmp_path, allow_anonymous=anonymous)
    broker.start()
    username = None if anonymous else "yl-mine-a-gate-1"
    named: dict[str, Any] = {"username": username}
    try:
        watcher = Listener(broker.port, client_id="probe-watcher", topic="probe/will", **named)
        away = Listener(
            broker.port,
            client_id="probe-session",
            topic="probe/x",
            clean_session=False,
            will="probe/will",
            **named,
        )
        away.die()
        await until(lambda: watcher.payloads() == [b"gone"], what="the broker noticed")
        watcher.client.publish("probe/x", b"while-away", qos=1).wait_for_publish(10)
        back = Listener(
            broker.port, client_id="probe-session", topic="probe/x", clean_session=False, **named
        )
        try:
            watcher.client.publish("probe/x", b"sentinel", qos=1).wait_for_publish(10)
            await until(lambda: b"sentinel" in back.payloads(), what="the sentinel")
            expected = [b"sentinel"] if anonymous else [b"while-away", b"sentinel"]
            assert back.payloads() == expected
        finally:
            back.close()
            watcher.close()
    finally:
        broker.stop()


async def test_amqtt_hands_a_new_client_retained_messages_it_did_not_subscribe_to(
    amqtt: Amqtt,
) -> None:
    """On every connection amqtt sends the client the retained messages matching *any*
    filter some client has subscribed to — not only its own (amqtt 0.12, ``Broker.
    _client_connected``) — at QoS 0. The uplink reads only its own ``down/`` topics by exact
    name, so it is unaffected; anything else on amqtt must ignore topics it did not ask for."""
    bundle = bundle_topic("other-site", "other-site-gate-1")
    holder = Listener(amqtt.port, client_id="other-site-gate-1", topic=bundle)
    try:
        holder.client.publish(bundle, b"their bundle", qos=1, retain=True).wait_for_publish(10)
        await until(lambda: bool(holder.received), what="the retained bundle stored")
        stranger = Listener(amqtt.port, client_id="stranger", topic="probe/mine")
        try:
            holder.client.publish("probe/mine", b"sentinel", qos=1).wait_for_publish(10)
            await until(lambda: bool(stranger.received), what="the sentinel")
            assert stranger.strays == [bundle]
        finally:
            stranger.close()
    finally:
        holder.close()


class Lines(logging.Handler):
    """The uplink's log lines, as it would write them."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_mqtt_5_gets_no_answer_from_amqtt(journal: Journal, amqtt: Amqtt) -> None:
    """amqtt misreads a v5 CONNECT and never sends CONNACK: the uplink says it cannot connect
    and keeps backing off; configure MQTT 3.1.1 with amqtt."""
    lines = Lines()
    logger = logging.getLogger("test-uplink-amqtt-v5")
    logger.addHandler(lines)
    try:
        uplink = make_uplink(journal, amqtt, mqtt_version="5", connect_timeout_s=0.5, logger=logger)
        async with running(uplink):
            await until(
                lambda: sum("cannot connect" in line for line in lines.lines) >= 2,
                what="two failed attempts",
            )
            assert uplink.stats.connections == 0
    finally:
        logger.removeHandler(lines)
    assert "Will flag set, but will topic/message not present" in amqtt.log.read_text()
