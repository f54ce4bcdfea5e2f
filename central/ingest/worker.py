"""The MQTT adapter of ingest: paho in, batches through check → store → signed acks out.

Threads, not an event loop: paho's network thread only hands messages over (so a slow
verification never stalls the socket), and one batch thread verifies, stores and acks. An ack
is published only after the batch committed: the ack's seq is what central has *on disk*
(WIRE.md "Acks"), and the broker's PUBACK to the edge proves nothing more than delivery to
the broker. A message taken off the wire but not yet committed when the process dies is not
lost: its edge still holds it un-acked and resends it.

A batch that moved tickets (a loading, an arrival) changes the bundles of their sites: the
worker rebuilds and publishes them (retained) after the commit, and its periodic sweep expires
and flags tickets by the clock (central/ticketing), publishing what that changed too.

One worker subscribes to ``cg/v1/+/+/up/record``; several (PostgreSQL only) share
``$share/central/…`` so the broker spreads records over them (WIRE.md "Shared subscription").
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttUrl
from central.errors import (
    CentralError,
    IngestError,
    RevokedDuringBatchError,
    StoreError,
    StoreUnavailableError,
)
from central.ingest.check import Accepted, DeviceView, Refused, check_record_message
from central.keyring import Keyring
from central.store.base import Store
from central.store.model import Alarm, DeviceStatus
from central.ticketing import service as ticketing
from central.ticketing.bundles import BundlePublisher
from central.ticketing.policy import DEFAULT_TOLERANCE, Tolerance
from wire.acks import build_ack
from wire.errors import TopicError
from wire.topics import (
    RECORD_FILTER,
    SHARED_RECORD_FILTER,
    STATUS_FILTER,
    DeviceTopic,
    ack_topic,
    parse_topic,
)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    received_at: int


@dataclass(slots=True)
class IngestStats:
    """Counters for logs, /metrics and the reliability tests."""

    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    equivocations: int = 0
    quarantined: int = 0
    acks: int = 0
    rejects: int = 0
    batches: int = 0
    store_retries: int = 0
    statuses: int = 0
    bad_statuses: int = 0
    bundles: int = 0
    not_submissions: int = 0
    """Messages on topics central publishes itself (acks, bundles, tree heads): a broker that
    forwards retained messages to every client (amqtt) sends them here; they are dropped."""
    alarms: deque[Alarm] = field(default_factory=lambda: deque(maxlen=1000))
    """The latest alarms this worker raised (bounded: a worker runs for months)."""


class IngestWorker:
    """One ingest worker: ``start()``, then ``stop()``; safe to use as a context manager."""

    def __init__(
        self,
        *,
        store: Store,
        keyring: Keyring,
        mqtt_url: MqttUrl,
        number: int = 1,
        shared: bool = False,
        batch_size: int = 500,
        batch_wait_s: float = 0.02,
        gap_grace_ms: int = 600_000,
        sweep_every_s: float = 30.0,
        clock: Callable[[], int] = wall_ms,
        tolerance: Tolerance = DEFAULT_TOLERANCE,
        publish_bundles: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._url = mqtt_url
        self.client_id = f"central-ingest-{number}"
        self._filter = SHARED_RECORD_FILTER if shared else RECORD_FILTER
        self._batch_size = batch_size
        self._batch_wait_s = batch_wait_s
        self._gap_grace_ms = gap_grace_ms
        self._sweep_every_s = sweep_every_s
        self._clock = clock
        self._log = logger or logging.getLogger(__name__)
        self._inbox: queue.Queue[_Message] = queue.Queue(maxsize=50_000)
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._devices: dict[str, DeviceView] = {}
        self._device_rows: dict[str, tuple[str, bytes, int | None]] = {}
        self.stats = IngestStats()
        self._tolerance = tolerance
        self._client = self._make_client()
        # Tickets moved by a batch (or by the sweep) change their sites' bundles: this worker
        # publishes the new ones on its own connection, after the commit.
        self._bundles = (
            BundlePublisher(
                store=store, keyring=keyring, client=self._client, clock=clock, logger=self._log
            )
            if publish_bundles
            else None
        )

    # --- MQTT side (paho's thread) -------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,  # a persistent session: QoS 1 records queue while we restart
            protocol=mqtt.MQTTv311,
        )
        if self._url.username is not None:
            client.username_pw_set(self._url.username, self._url.password)
        if self._url.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason: object, _props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            self._log.error("broker refused %s: %s", self.client_id, reason)
            return
        client.subscribe([(self._filter, 1), (STATUS_FILTER, 1)])
        self._connected.set()
        self._log.info("%s connected to %s:%d", self.client_id, self._url.host, self._url.port)

    def _on_disconnect(self, *_args: object) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            self._log.warning("%s lost the broker; paho reconnects with backoff", self.client_id)

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        if published_by_central(message.topic):
            self.stats.not_submissions += 1
            return
        # Blocks when the inbox is full, so TCP back-pressure reaches the broker instead of
        # this process growing without bound; edges resend whatever the broker drops.
        self._inbox.put(_Message(message.topic, bytes(message.payload), self._clock()))

    # --- life cycle -----------------------------------------------------------------------

    def start(self, *, connect_timeout_s: float = 10.0) -> None:
        try:
            self._client.connect(self._url.host, self._url.port, keepalive=30)
        except OSError as exc:
            raise IngestError(
                f"cannot reach the broker at {self._url.host}:{self._url.port}: {exc}"
            ) from exc
        self._client.loop_start()
        if not self._connected.wait(connect_timeout_s):
            self._client.loop_stop()
            raise IngestError(
                f"the broker did not accept {self.client_id} within {connect_timeout_s} s"
            )
        self._thread = threading.Thread(target=self._run, name=f"{self.client_id}-batches")
        self._thread.start()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Finish the batch in hand (commit and ack it), then disconnect."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> IngestWorker:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- batches (the worker's own thread) ------------------------------------------------

    def _take_batch(self) -> list[_Message]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._batch_wait_s
        while len(batch) < self._batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._inbox.get(timeout=max(remaining, 0))
                    if remaining > 0
                    else self._inbox.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        next_sweep = time.monotonic() + self._sweep_every_s
        while not self._stopping.is_set() or not self._inbox.empty():
            batch = self._take_batch()
            if batch:
                self._process_until_stored(batch)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self._sweep_every_s
                self._sweep_gaps()

    def _process_until_stored(self, batch: list[_Message]) -> None:
        self.stats.received += len(batch)
        records = [m for m in batch if not m.topic.endswith("/up/status")]
        # Statuses go through the same retries as records: a database outage while only a
        # status is in hand must pause this thread, not end it (ingest would stop for good).
        for status in (m for m in batch if m.topic.endswith("/up/status")):
            if not self._until_stored(functools.partial(self._status, status), what="status"):
                return
        if records:
            self._until_stored(
                functools.partial(self._process, records), what=f"batch of {len(records)} records"
            )

    def _until_stored(self, work: Callable[[], None], *, what: str) -> bool:
        """Run ``work`` until the store takes it (or refuses it for good); False when the
        worker is stopping while the store is still unavailable."""
        delay = 0.5
        while True:
            try:
                work()
            except RevokedDuringBatchError as exc:
                # A revocation landed between our device check and the commit: the next pass
                # reloads the devices and quarantines what is now refused.
                self._log.info("%s; checking the batch again", exc)
                self._device_rows = {}
                continue
            except StoreUnavailableError as exc:
                # Nothing was acked: retrying is safe, and giving up would only make edges resend.
                self.stats.store_retries += 1
                self._log.warning(
                    "store unavailable (%s); retrying the %s in %.1f s", exc, what, delay
                )
                if self._stopping.wait(delay):
                    self._log.warning("stopping with an unstored %s; it will be sent again", what)
                    return False
                delay = min(delay * 2, 10.0)
            except StoreError:
                self._log.exception("the store refused a %s", what)
                return True
            else:
                return True

    def _device_views(self) -> dict[str, DeviceView]:
        """Reload enrolled devices each batch, so a revocation takes effect at the next batch;
        views are rebuilt only for devices whose key or revocation changed."""
        rows = {
            d.id: (d.site, d.public_key, d.revoked_above_seq) for d in self._store.list_devices()
        }
        if rows != self._device_rows:
            self._devices = {
                device: self._devices[device]
                if self._device_rows.get(device) == row
                else DeviceView.of(
                    device=device, site=row[0], public_key=row[1], revoked_above_seq=row[2]
                )
                for device, row in rows.items()
            }
            self._device_rows = rows
        return self._devices

    def _process(self, records: list[_Message]) -> None:
        devices = self._device_views()
        decisions = [
            check_record_message(m.topic, m.payload, devices=devices, received_at=m.received_at)
            for m in records
        ]
        accepted = [d for d in decisions if isinstance(d, Accepted)]
        refused = [d for d in decisions if isinstance(d, Refused)]
        result = self._store.ingest(
            [d.record for d in accepted],
            [d.item for d in refused],
            now_ms=self._clock(),
            tolerance=self._tolerance,
        )
        self.stats.batches += 1
        self.stats.inserted += result.outcomes.count("inserted")
        self.stats.duplicates += result.outcomes.count("duplicate")
        self.stats.equivocations += result.outcomes.count("equivocation")
        self.stats.quarantined += len(refused)
        self.stats.alarms.extend(result.alarms)
        sites = {d.record.device: d.topic.site for d in accepted}
        for device, seq in result.contiguous.items():
            self._ack(sites[device], device, seq, reject=None)
        for decision in refused:
            if decision.reject is not None and decision.topic is not None:
                self._reject(decision.topic, decision.reject, devices)
        self._publish_bundles(result.ticket_sites)

    def _publish_bundles(self, sites: frozenset[str]) -> None:
        if self._bundles is None or not sites:
            return
        try:
            self.stats.bundles += len(self._bundles.publish_sites(sites))
        except CentralError as exc:
            # The records are stored and acked; the next change or sweep publishes a newer
            # full snapshot, so a lost bundle is only late.
            self._log.warning("bundles for %s not published: %s", ", ".join(sorted(sites)), exc)

    def _ack(self, site: str, device: str, seq: int, *, reject: str | None) -> None:
        ack = build_ack(
            self._keyring.signing, device=device, seq=seq, ts=self._clock(), reject=reject
        )
        info = self._client.publish(ack_topic(site, device), ack.raw, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            # Not fatal: the edge resends when acks stall, and the next batch acks again.
            self._log.warning(
                "ack for %s seq %d not queued: %s", device, seq, mqtt.error_string(info.rc)
            )
            return
        if reject is None:
            self.stats.acks += 1
        else:
            self.stats.rejects += 1

    def _reject(self, topic: DeviceTopic, reason: str, devices: dict[str, DeviceView]) -> None:
        seq = self._store.contiguous(topic.device) if topic.device in devices else 0
        self._ack(topic.site, topic.device, seq, reject=reason)

    def _status(self, message: _Message) -> None:
        """Liveness from ``up/status`` (retained, and the Last Will): unsigned, so it only
        moves the online/offline flag and never touches records."""
        try:
            status = parse_status(message.topic, message.payload, received_at=message.received_at)
        except ValueError as exc:
            self.stats.bad_statuses += 1
            self._log.warning("ignored a malformed status on %r: %s", message.topic, exc)
            return
        self.stats.statuses += 1
        offline = Alarm(
            kind="device_offline",
            severity="warning",
            raised_at=message.received_at,
            device=status.device,
            site=message.topic.split("/")[2],
        )
        # one alarm per outage: only when the stored state turns offline (a retained Last
        # Will delivered again at every reconnect, or to every worker, raises nothing more)
        on_change = [offline] if status.state == "offline" else []
        self.stats.alarms.extend(self._store.set_device_status(status, on_change=on_change))

    def _sweep_gaps(self) -> None:
        try:
            alarms = self._store.sweep_gaps(now_ms=self._clock(), grace_ms=self._gap_grace_ms)
            sites, ticket_alarms = ticketing.sweep(self._store, now_ms=self._clock())
        except StoreError as exc:
            self._log.warning("gap and ticket sweep skipped: %s", exc)
            return
        self.stats.alarms.extend(alarms)
        self.stats.alarms.extend(ticket_alarms)
        self._publish_bundles(sites)


def published_by_central(topic_text: str) -> bool:
    """A topic only central publishes on (``down/…``, the tree head): nothing there is a
    device's submission, so nothing there is quarantined. Anything else that reaches the
    worker — a device topic of the wrong kind included — goes through the checks."""
    try:
        topic = parse_topic(topic_text)
    except TopicError:
        return False
    return not isinstance(topic, DeviceTopic) or topic.direction == "down"


def parse_status(topic_text: str, payload: bytes, *, received_at: int) -> DeviceStatus:
    """A device status from ``up/status`` JSON (WIRE.md); ``ValueError`` naming the problem."""
    try:
        topic = parse_topic(topic_text)
    except TopicError as exc:
        raise ValueError(exc.message) from None
    if not isinstance(topic, DeviceTopic) or topic.kind != "status":
        raise ValueError("not a status topic")
    try:
        data = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("state") not in ("online", "offline"):
        raise ValueError('expected {"state": "online" | "offline", …}')
    since, version = data.get("since"), data.get("version")
    if since is not None and type(since) is not int:
        raise ValueError(f"since must be UTC milliseconds, not {since!r}")
    return DeviceStatus(
        device=topic.device,
        state=data["state"],
        since=since,
        version=version if isinstance(version, str) else None,
        updated_at=received_at,
    )
