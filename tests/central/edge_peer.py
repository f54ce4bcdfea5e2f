"""A test edge on the real broker: publishes records, verifies acks, resends what is un-acked.

It follows WIRE.md "Acks" the way the real edge must: keep the highest verified ack, ignore
one above its own highest seq, resend everything above the ack on a stall, at most ``window``
records in flight beyond the last ack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from wire.acks import Ack, verify_ack
from wire.errors import WireError
from wire.keys import KeySet
from wire.records import Record
from wire.topics import ack_topic, record_topic


class EdgePeer:
    def __init__(
        self, *, port: int, site: str, device: str, central_keys: KeySet, window: int = 200
    ) -> None:
        self.site = site
        self.device = device
        self._keys = central_keys
        self._window = window
        self.acked = 0
        self.rejects: list[Ack] = []
        self.forged_acks = 0
        self._records: list[Record] = []
        self._lock = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=device,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the test edge could not subscribe to its ack topic")

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.subscribe(ack_topic(self.site, self.device), qos=1)

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            ack = verify_ack(bytes(message.payload), self._keys)
        except WireError:
            self.forged_acks += 1
            return
        with self._lock:
            if ack.reject is not None:
                self.rejects.append(ack)
            elif ack.device == self.device and ack.seq <= len(self._records):
                self.acked = max(self.acked, ack.seq)
            self._lock.notify_all()

    def publish_raw(self, payload: bytes, *, topic: str | None = None) -> None:
        info = self._client.publish(topic or record_topic(self.site, self.device), payload, qos=1)
        info.wait_for_publish(10)

    def send(
        self, records: Sequence[Record], *, timeout_s: float = 60.0, resend_after_s: float = 2.0
    ) -> None:
        """Deliver ``records`` (seq 1.. in order, appended to what was sent) until all are
        acked: the window limits what is in flight; a stalled ack triggers a resend."""
        with self._lock:
            self._records.extend(records)
            total = len(self._records)
        deadline = time.monotonic() + timeout_s
        sent_up_to = self.acked
        last_progress = time.monotonic()
        while True:
            with self._lock:
                acked = self.acked
                if acked >= total or self.rejects:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.device}: acked {acked} of {total}")
            if time.monotonic() - last_progress > resend_after_s:
                sent_up_to = acked  # resend everything above the ack
                last_progress = time.monotonic()
            limit = min(total, acked + self._window)
            for record in self._records[sent_up_to:limit]:
                self._client.publish(record_topic(self.site, self.device), record.raw, qos=1)
            sent_up_to = max(sent_up_to, limit)
            with self._lock:
                before = self.acked
                self._lock.wait(0.2)
                if self.acked > before:
                    last_progress = time.monotonic()

    def wait_reject(self, timeout_s: float = 10.0) -> Ack:
        with self._lock:
            if not self._lock.wait_for(lambda: bool(self.rejects), timeout_s):
                raise TimeoutError(f"{self.device}: no reject ack")
            return self.rejects[0]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
