"""Publishing signed tree heads: every ``interval_s``, sign one if the log grew, and send it
retained (QoS 1) on ``cg/v1/central/sth`` (WIRE.md "MQTT").

A thin adapter around :func:`central.transparency.log.current_head`, on a thread of its own
with a paho client the caller connected (``coalgate central run`` uses the API's connection).
A head is sent when it is new, and again at the next tick while paho refuses it (broker away):
the topic is retained, so a late subscriber gets the latest head without waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from central.errors import CentralError
from central.keyring import Keyring
from central.store.base import Store
from central.store.model import StoredTreeHead
from central.ticketing.bundles import MQTT_ERR_SUCCESS, MqttPublisher
from central.transparency.log import current_head
from wire.topics import STH_TOPIC


class TreeHeadPublisher:
    """``start()``, then ``stop()``; :meth:`tick` does one round (tests call it directly)."""

    def __init__(
        self,
        *,
        store: Store,
        keyring: Keyring,
        client: MqttPublisher | None,
        clock: Callable[[], int],
        interval_s: float = 60.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._client = client
        self._clock = clock
        self._interval_s = interval_s
        self._log = logger or logging.getLogger(__name__)
        self._sent_size: int | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> StoredTreeHead:
        """Sign a head if the log grew; send the latest unless it was sent already."""
        head = current_head(self._store, self._keyring.signing, now_ms=self._clock())
        if self._client is not None and head.size != self._sent_size:
            info = self._client.publish(STH_TOPIC, head.raw, qos=1, retain=True)
            if info.rc == MQTT_ERR_SUCCESS:
                self._sent_size = head.size
                self._log.info("published the tree head of size %d", head.size)
            else:
                self._log.warning(
                    "tree head of size %d not queued (rc %d); trying again in %.0f s",
                    head.size,
                    info.rc,
                    self._interval_s,
                )
        return head

    def _run(self) -> None:
        while True:
            try:
                self.tick()
            except CentralError as exc:
                self._log.warning("no tree head this round: %s", exc.message)
            if self._stopping.wait(self._interval_s):
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="central-tree-heads")
        self._thread.start()

    def stop(self, *, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
