"""A test central on the real broker: verifies every record it receives and answers with acks
signed by a central key (``wire.acks.build_ack``), as the ingest worker would.

It counts what the edge put on the wire — each seq, duplicates, and how far beyond the latest
ack it has sent a record (the window) — and can ack on its own (the highest contiguous seq
after each record) or only when the test says so. Runs on paho's thread; async tests poll it
with ``until``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.edge.journal.support import DEVICE, DEVICE_KEYS, SITE
from tests.wire.central_factories import CENTRAL
from wire.acks import build_ack
from wire.errors import WireError
from wire.keys import SigningKey
from wire.records import Record, verify_record
from wire.topics import ack_topic, bundle_topic, record_topic, status_topic

T_ACK = 1_796_083_200_000


async def until(condition: Callable[[], bool], *, timeout_s: float = 30.0, what: str = "") -> None:
    """Wait (bounded) for ``condition``, polling: the peer lives on another thread."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not seen within {timeout_s} s: {what}")
        await asyncio.sleep(0.01)


class CentralPeer:
    def __init__(self, *, port: int, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.lock = threading.Lock()
        self.arrivals: list[int] = []
        self.records: dict[int, Record] = {}
        self.counts: Counter[int] = Counter()
        self.bad: list[str] = []
        self.statuses: list[dict[str, Any]] = []
        self.contiguous = 0
        self.max_ack_sent = 0
        self.beyond_window = 0  # largest seq - max ack sent before it arrived
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="central-test-peer", protocol=mqtt.MQTTv311
        )
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise RuntimeError("the test central could not subscribe")

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.subscribe([(record_topic(SITE, DEVICE), 1), (status_topic(SITE, DEVICE), 1)])

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        if message.topic == status_topic(SITE, DEVICE):
            with self.lock:
                self.statuses.append(json.loads(payload))
            return
        try:
            record = verify_record(payload, DEVICE_KEYS)
        except WireError as exc:
            with self.lock:
                self.bad.append(exc.message)
            return
        with self.lock:
            self.arrivals.append(record.seq)
            self.counts[record.seq] += 1
            self.records[record.seq] = record
            self.beyond_window = max(self.beyond_window, record.seq - self.max_ack_sent)
            while self.contiguous + 1 in self.records:
                self.contiguous += 1
            contiguous = self.contiguous
        if self.auto_ack:
            self.ack(contiguous)

    def ack(
        self,
        seq: int,
        *,
        reject: str | None = None,
        key: SigningKey = CENTRAL,
        device: str = DEVICE,
    ) -> None:
        ack = build_ack(key, device=device, seq=seq, ts=T_ACK, reject=reject)
        with self.lock:
            if key is CENTRAL and device == DEVICE:
                self.max_ack_sent = max(self.max_ack_sent, seq)
        info = self.client.publish(ack_topic(SITE, DEVICE), ack.raw, qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS

    def publish_bundle(self, data: bytes, *, retain: bool = True) -> None:
        info = self.client.publish(bundle_topic(SITE, DEVICE), data, qos=1, retain=retain)
        info.wait_for_publish(10)

    def seen(self, seq: int) -> int:
        with self.lock:
            return self.counts[seq]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
