"""The uplink (adapter): the journal's records to central over MQTT, acks and bundles back.

WIRE.md "MQTT" and "Acks", as the edge's side:

- one paho 2.x client per connection, client id = device id, persistent session
  (``clean_session=False`` on 3.1.1; ``clean_start=False`` and a day's session expiry on 5);
  ``mqtts://`` with the configured CA, client certificate and key;
- the Last Will ``{"state":"offline"}`` and a retained ``{"state":"online",…}`` on ``up/status``;
- records published QoS 1 in seq order within the window, everything above the ack resent on
  each connection and when the ack stalls (``edge.uplink.window`` decides, purely);
- acks verified with central's key set; the highest kept and persisted in the journal; an ack
  above the highest seq written, or one that does not verify, is ignored and raised as an
  ``ack_rejected`` event record; a ``reject`` stops all sending until re-enrollment;
- the site bundle verified (its version above the one held) and cached in the journal;
- a signed ``status`` heartbeat every ``heartbeat_s`` and a ``backlog_high`` event record when
  the journal passes its disk alarm; retention keeps the ``keep_acked`` latest acked records
  (None: keep everything) and never deletes an un-acked one.

Threads: paho's network loop runs on its own thread (``loop_start``); its callbacks only verify
what arrived and hand it to the event loop with ``call_soon_threadsafe``. The blocking TCP/TLS
connect runs on the uplink's one-thread executor. Both are stopped before ``run`` returns.
Everything else — the journal, the window, publishing — happens on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import ConfigError, JournalError
from edge.journal.store import AckOutcome, Journal
from edge.uplink.broker import BrokerUrl, MqttVersion, TlsFiles
from edge.uplink.window import AckVerdict, SendWindow
from wire.acks import Ack, verify_ack
from wire.bodies import EventBody, StatusBody
from wire.bundles import Bundle, verify_bundle
from wire.errors import StaleError, WireError
from wire.keys import KeySet
from wire.topics import ack_topic, bundle_topic, record_topic, status_topic

OFFLINE: Final = b'{"state":"offline"}'
SESSION_EXPIRY_S: Final = 86_400
QUEUE_SIZE: Final = 1000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _software_version() -> str:
    try:
        return metadata.version("coalgate")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class UplinkEvent:
    """Something the lane's operator display or the agent's log should know.

    ``kind``: ``connected``, ``disconnected``, ``ack_rejected`` (an ack that does not verify or
    names a seq above the highest written), ``rejected`` (central refuses the device: an alarm
    until re-enrollment), ``bundle`` (a newer verified bundle is cached), ``bundle_refused``,
    ``backlog_high`` (the journal passed its disk alarm), ``journal_fault``.
    """

    kind: str
    at_ms: int
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class UplinkStats:
    connections: int = 0
    published: int = 0
    publish_refused: int = 0
    acks: int = 0
    stale_acks: int = 0
    beyond_acks: int = 0
    forged_acks: int = 0
    bundles: int = 0
    stale_bundles: int = 0
    heartbeats: int = 0


@dataclass(slots=True, kw_only=True)
class _Session:
    """One paho client and its connection's state, so a dead client's late callbacks cannot
    touch the next connection."""

    client: mqtt.Client
    connack: asyncio.Future[ReasonCode]
    lost: asyncio.Event


class Uplink:
    """Drains ``journal`` to central until ``run()`` is cancelled; see the module docstring."""

    def __init__(
        self,
        *,
        journal: Journal,
        url: str | BrokerUrl,
        central_keys: KeySet,
        mqtt_version: MqttVersion | str = MqttVersion.V5,
        tls: TlsFiles | None = None,
        window: int = 200,
        resend_after_s: float = 10.0,
        heartbeat_s: float = 300.0,
        lane_states: Callable[[], Mapping[str, str]] = dict,
        software_version: str | None = None,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        disk_check_s: float = 10.0,
        keep_acked: int | None = 100_000,
        event_interval_s: float = 600.0,
        max_inflight: int = 100,
        on_bundle: Callable[[Bundle], None] | None = None,
        clock: Callable[[], int] = wall_ms,
        logger: logging.Logger | None = None,
    ) -> None:
        self.journal = journal
        self.site = journal.site
        self.device = journal.device
        self.url = url if isinstance(url, BrokerUrl) else BrokerUrl.parse(url)
        self.central_keys = central_keys
        self.mqtt_version = MqttVersion(mqtt_version)
        if self.url.tls:
            tls = tls or TlsFiles()
            for path in (tls.ca, tls.cert, tls.key):
                if path is not None and not path.is_file():
                    raise ConfigError(f"TLS file {path} does not exist", option="mqtt.tls")
        self.tls = tls
        if heartbeat_s <= 0 or resend_after_s <= 0:
            raise ConfigError("heartbeat and resend intervals must be positive", option="uplink")
        self.heartbeat_s = heartbeat_s
        self.lane_states = lane_states
        self.software_version = software_version or _software_version()
        self.keepalive_s = keepalive_s
        self.connect_timeout_s = connect_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.disk_check_s = disk_check_s
        self.keep_acked = keep_acked
        self._pruned_at_ack = -1
        self.event_interval_s = event_interval_s
        self.max_inflight = max_inflight
        self.on_bundle = on_bundle
        self.clock = clock
        self.log = logger or logging.getLogger(__name__)
        self.window = SendWindow(
            window=window,
            resend_after_ms=max(1, int(resend_after_s * 1000)),
            acked=journal.acked_seq,
            rejected=journal.rejected(),
        )
        self.stats = UplinkStats()
        self.events: asyncio.Queue[UplinkEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.bundles: asyncio.Queue[Bundle] = asyncio.Queue(maxsize=16)
        self.dropped_events = 0
        self._topic_record = record_topic(self.site, self.device)
        self._topic_status = status_topic(self.site, self.device)
        self._topic_ack = ack_topic(self.site, self.device)
        self._topic_bundle = bundle_topic(self.site, self.device)
        self._bundle: Bundle | None = self._load_cached_bundle()
        self._connected = False
        self._last_event: dict[str, float] = {}
        self._disk_alarm = False
        self._started = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()  # binds to the running loop on first use
        self._executor: ThreadPoolExecutor | None = None
        self._session: _Session | None = None

    # --- public --------------------------------------------------------------------------

    @property
    def bundle(self) -> Bundle | None:
        """The newest verified site bundle (from the journal's cache until one arrives)."""
        return self._bundle

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def rejected(self) -> str | None:
        """Central's reject reason (``revoked``, ``unknown_device``): nothing is sent."""
        return self.window.rejected

    async def run(self) -> None:
        """Connect, publish, reconnect with backoff, heartbeat — until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()  # a fresh one per run (a previous run's loop is gone)
        self._started = time.monotonic()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uplink-connect")
        self.journal.add_listener(self._on_append)
        if self.window.rejected is not None:
            self.log.error(
                "uplink %s: central rejected this device (%s); nothing is sent until it is "
                "enrolled again",
                self.device, self.window.rejected,
            )  # fmt: skip
            self._emit("rejected", {"reject": self.window.rejected})
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._connection_loop(), name=f"uplink-connection {self.device}")
                group.create_task(self._heartbeats(), name=f"uplink-heartbeat {self.device}")
                group.create_task(self._watch_disk(), name=f"uplink-disk {self.device}")
        except ExceptionGroup as group:
            config = [exc for exc in group.exceptions if isinstance(exc, ConfigError)]
            if config:  # TLS files that cannot be used: fail at start, plainly
                raise config[0] from None
            raise
        finally:
            self.journal.remove_listener(self._on_append)
            session, self._session = self._session, None
            if session is not None:
                self._close(session, graceful=True)
            self._connected = False
            self._executor.shutdown(wait=True)

    # --- connection ----------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            # held in self._session from the start, so a cancelled run() stops its thread
            session = self._session = self._new_session()
            try:
                await self._connect(session)
            except (OSError, TimeoutError, _BrokerRefusedError) as exc:
                self._session = None
                await loop.run_in_executor(self._executor, self._close, session, False)
                self.log.warning(
                    "uplink %s: cannot connect to %s: %s",
                    self.device, self.url, str(exc) or type(exc).__name__,
                )  # fmt: skip
                attempt = await self._back_off(attempt)
                continue
            attempt = 0
            try:
                await self._serve(session)
            finally:
                self._connected = False
            self._session = None
            self.log.warning("uplink %s: lost the broker %s", self.device, self.url)
            self._emit("disconnected", {})
            await loop.run_in_executor(self._executor, self._close, session, False)
            attempt = await self._back_off(attempt)

    async def _back_off(self, attempt: int) -> int:
        cap = min(self.backoff_max_s, self.backoff_initial_s * 2**attempt)
        await asyncio.sleep(cap * random.uniform(0.5, 1.0))  # noqa: S311  # jitter, not crypto
        return min(attempt + 1, 30)

    def _new_session(self) -> _Session:
        if self.mqtt_version is MqttVersion.V5:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.device,
                protocol=mqtt.MQTTv5,
                reconnect_on_failure=False,  # reconnects are ours: backoff with jitter
            )
        else:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.device,
                clean_session=False,
                protocol=mqtt.MQTTv311,
                reconnect_on_failure=False,
            )
        session = _Session(
            client=client, connack=asyncio.get_running_loop().create_future(), lost=asyncio.Event()
        )
        client.connect_timeout = self.connect_timeout_s
        client.max_inflight_messages_set(self.max_inflight)
        client.max_queued_messages_set(0)  # the window bounds what is queued
        client.will_set(self._topic_status, OFFLINE, qos=1, retain=True)
        if self.url.username is not None:
            client.username_pw_set(self.url.username, self.url.password)
        if self.url.tls:
            tls = self.tls or TlsFiles()
            try:
                client.tls_set(
                    ca_certs=str(tls.ca) if tls.ca else None,
                    certfile=str(tls.cert) if tls.cert else None,
                    keyfile=str(tls.key) if tls.key else None,
                )
            except (OSError, ValueError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot use the TLS files: {exc}", option="mqtt.tls") from exc
        client.on_connect = lambda _c, _u, _f, reason, _p: self._post(
            self._on_connack, session, reason
        )
        client.on_disconnect = lambda *_args: self._post(self._on_lost, session)
        client.on_message = lambda _c, _u, message: self._on_message(session, message)
        return session

    async def _connect(self, session: _Session) -> None:
        client = session.client
        if self.mqtt_version is MqttVersion.V5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S

            def connect() -> object:
                return client.connect(
                    self.url.host,
                    self.url.port,
                    keepalive=self.keepalive_s,
                    clean_start=False,
                    properties=properties,
                )
        else:

            def connect() -> object:
                return client.connect(self.url.host, self.url.port, keepalive=self.keepalive_s)

        future = asyncio.get_running_loop().run_in_executor(self._executor, connect)
        try:
            async with asyncio.timeout(self.connect_timeout_s * 2):
                await asyncio.shield(future)
        except BaseException:
            # the connect may still finish on the executor: close whatever it opens
            future.add_done_callback(lambda _f: _drop_socket(client))
            raise
        client.loop_start()
        async with asyncio.timeout(self.connect_timeout_s):
            reason = await session.connack
        if reason.is_failure:
            raise _BrokerRefusedError(str(reason))

    def _close(self, session: _Session, graceful: bool) -> None:
        """Stop a client and join its network thread (blocking; from the executor or at exit)."""
        client = session.client
        if graceful and client.is_connected():
            # the Will is for deaths; a clean stop says so itself
            info = client.publish(self._topic_status, OFFLINE, qos=1, retain=True)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self.log.warning(
                    "uplink %s: offline status not sent: %s",
                    self.device, mqtt.error_string(info.rc),
                )  # fmt: skip
        client.disconnect()
        client.loop_stop()
        _drop_socket(client)

    async def _serve(self, session: _Session) -> None:
        """Publish while connected; return when the connection is lost."""
        client = session.client
        subscribed, _mid = client.subscribe([(self._topic_ack, 1), (self._topic_bundle, 1)])
        online = json.dumps(
            {"state": "online", "since": self.clock(), "version": self.software_version},
            separators=(",", ":"),
        ).encode()
        info = client.publish(self._topic_status, online, qos=1, retain=True)
        if subscribed != mqtt.MQTT_ERR_SUCCESS or info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.log.warning(
                "uplink %s: subscribe/status refused (%s, %s)",
                self.device, mqtt.error_string(subscribed), mqtt.error_string(info.rc),
            )  # fmt: skip
            return
        self.stats.connections += 1
        self._connected = True
        self.window.connected(now_ms=self.clock())
        self.log.info(
            "uplink %s: connected to %s (MQTT %s); acked %d of %d",
            self.device, self.url, self.mqtt_version, self.window.acked, self.journal.highest_seq,
        )  # fmt: skip
        self._emit("connected", {"acked": self.window.acked})
        while not session.lost.is_set():
            self._wake.clear()
            self._pump(client)
            wait_ms = self.window.next_check_ms(now_ms=self.clock())
            timeout = 1.0 if wait_ms is None else min(1.0, max(wait_ms / 1000, 0.01))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _pump(self, client: mqtt.Client) -> None:
        """Publish what the window allows; a refused publish stops the batch (retried later)."""
        due = self.window.due(highest=self.journal.highest_seq, now_ms=self.clock())
        if due is None:
            return
        if due.resend:
            self.log.info(
                "uplink %s: no ack progress for %d ms; resending from %d",
                self.device, self.window.resend_after_ms, due.first,
            )  # fmt: skip
        try:
            entries = self.journal.pending(after_seq=due.first - 1, limit=due.last - due.first + 1)
        except JournalError as exc:
            self.window.unsent(last=due.first - 1)
            self._journal_fault(exc)
            return
        for entry in entries:
            info = client.publish(self._topic_record, entry.data, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self.stats.publish_refused += 1
                self.log.warning(
                    "uplink %s: publish of seq %d refused: %s",
                    self.device, entry.seq, mqtt.error_string(info.rc),
                )  # fmt: skip
                self.window.unsent(last=entry.seq - 1)
                return
            self.stats.published += 1

    # --- paho's thread -------------------------------------------------------------------

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: run() is over
            loop.call_soon_threadsafe(callback, *args)

    def _on_message(self, session: _Session, message: mqtt.MQTTMessage) -> None:
        """Verify on paho's thread (a signature check must not stall the loop), then hand
        over. Ack and bundle topics only: the subscriptions name nothing else."""
        payload = bytes(message.payload)
        if message.topic == self._topic_ack:
            try:
                ack = verify_ack(payload, self.central_keys)
            except WireError as exc:
                self._post(self._on_bad_ack, exc)
                return
            self._post(self._on_ack, ack)
        elif message.topic == self._topic_bundle:
            held = self._bundle.version if self._bundle is not None else None
            try:
                bundle = verify_bundle(
                    payload, self.central_keys, site=self.site, held_version=held
                )
            except WireError as exc:
                self._post(self._on_bad_bundle, exc)
                return
            self._post(self._on_good_bundle, bundle)
        del session

    # --- event loop: what arrived ----------------------------------------------------------

    def _on_connack(self, session: _Session, reason: ReasonCode) -> None:
        if not session.connack.done():
            session.connack.set_result(reason)

    def _on_lost(self, session: _Session) -> None:
        session.lost.set()
        if not session.connack.done():
            session.connack.set_exception(ConnectionResetError("connection lost before CONNACK"))
        self._wake.set()

    def _on_append(self, _entry: object) -> None:
        """Journal listener: any thread."""
        self._post(self._set_wake)

    def _set_wake(self) -> None:
        self._wake.set()

    def _on_ack(self, ack: Ack) -> None:
        if ack.device != self.device:
            self._on_bad_ack(WireError(f"ack for device {ack.device!r}, not this one"))
            return
        highest = self.journal.highest_seq
        before = self.window.acked
        verdict = self.window.on_ack(
            seq=ack.seq, reject=ack.reject, highest=highest, now_ms=self.clock()
        )
        if verdict is AckVerdict.REJECTED:
            self._on_reject(ack, highest)
        elif verdict is AckVerdict.BEYOND:
            self.stats.beyond_acks += 1
            self.log.warning(
                "uplink %s: ack %d is above the highest seq written (%d); ignored",
                self.device, ack.seq, highest,
            )  # fmt: skip
            self._raise_ack_rejected(
                {"reason": "beyond_highest", "seq": ack.seq, "highest": highest, "kid": ack.kid}
            )
        elif verdict is AckVerdict.STALE:
            self.stats.stale_acks += 1
        else:
            self.stats.acks += 1
            self._persist_ack(ack.seq)
            if self.window.acked > before:
                self._wake.set()

    def _persist_ack(self, seq: int) -> None:
        try:
            outcome = self.journal.acked(seq)
        except JournalError as exc:
            self._journal_fault(exc)
            return
        if outcome is AckOutcome.BEYOND:  # cannot happen: the window checked the same bound
            self.log.error("uplink %s: journal refused ack %d", self.device, seq)

    def _on_reject(self, ack: Ack, highest: int) -> None:
        if ack.seq <= highest:
            self._persist_ack(ack.seq)
        self.log.error(
            "uplink %s: central rejects this device (%s); sending stops until it is enrolled "
            "again",
            self.device, ack.reject,
        )  # fmt: skip
        try:
            already = self.journal.rejected() is not None
            self.journal.set_rejected(ack.reject)
        except JournalError as exc:
            self._journal_fault(exc)
            return
        self._emit("rejected", {"reject": ack.reject, "seq": ack.seq})
        if not already:
            self._write_event(
                "ack_rejected", "alarm", {"reason": "reject", "reject": ack.reject}, limit=False
            )

    def _on_bad_ack(self, exc: WireError) -> None:
        self.stats.forged_acks += 1
        self.log.warning("uplink %s: ignored an ack that does not verify: %s", self.device, exc)
        self._raise_ack_rejected({"reason": exc.reason, "error": exc.message[:200]})

    def _raise_ack_rejected(self, detail: dict[str, Any]) -> None:
        self._emit("ack_rejected", detail)
        self._write_event("ack_rejected", "warning", detail, limit=True)

    def _on_good_bundle(self, bundle: Bundle) -> None:
        try:
            stored = self.journal.store_bundle(
                version=bundle.version, data=bundle.raw, received_ms=self.clock()
            )
        except JournalError as exc:
            self._journal_fault(exc)
            return
        if not stored:  # two bundles crossed on paho's thread; the newer one is held
            self.stats.stale_bundles += 1
            return
        self.stats.bundles += 1
        self._bundle = bundle
        self.log.info("uplink %s: site bundle version %d cached", self.device, bundle.version)
        _put_dropping_oldest(self.bundles, bundle)
        self._emit("bundle", {"version": bundle.version})
        if self.on_bundle is not None:
            self.on_bundle(bundle)

    def _on_bad_bundle(self, exc: WireError) -> None:
        if isinstance(exc, StaleError):
            # the retained bundle comes again with every subscription: normal, not a threat
            self.stats.stale_bundles += 1
            self.log.debug("uplink %s: %s", self.device, exc.message)
            return
        self.log.warning("uplink %s: refused a site bundle: %s", self.device, exc.message)
        self._emit("bundle_refused", {"reason": exc.reason, "error": exc.message[:200]})

    # --- heartbeats and the disk alarm ---------------------------------------------------

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self.heartbeat()

    def heartbeat(self) -> None:
        """Write one signed ``status`` record now (the heartbeat task does it every
        ``heartbeat_s``)."""
        try:
            body = StatusBody(
                uptime_s=int(time.monotonic() - self._started),
                lanes=dict(self.lane_states()),
                backlog=self.journal.backlog,
                bundle_version=self._bundle.version if self._bundle is not None else None,
                version=self.software_version,
            )
            self.journal.append(record_type="status", body=body, ts_ms=self.clock())
        except JournalError as exc:
            self._journal_fault(exc)
        except WireError as exc:  # e.g. a lane state the wire does not know
            self.log.error(  # noqa: TRY400  # one line: the traceback says nothing more
                "uplink %s: heartbeat not written: %s", self.device, exc.message
            )
        else:
            self.stats.heartbeats += 1

    async def _watch_disk(self) -> None:
        while True:
            self._retain()
            usage = self.journal.usage()
            if usage.alarm and not self._disk_alarm:
                detail = {
                    "used_bytes": usage.used_bytes,
                    "budget_bytes": usage.budget_bytes,
                    "backlog": usage.backlog,
                }
                self.log.warning(
                    "uplink %s: journal %d%% full with %d records not acked",
                    self.device, int(usage.fraction * 100), usage.backlog,
                )  # fmt: skip
                self._emit("backlog_high", detail)
                self._write_event("backlog_high", "warning", detail, limit=False)
            self._disk_alarm = usage.alarm
            await asyncio.sleep(self.disk_check_s)

    def _retain(self) -> None:
        """Retention: keep the ``keep_acked`` most recent acked records (for local lookup),
        delete older acked ones; never an un-acked one (``Journal.prune``)."""
        acked = self.journal.acked_seq
        if self.keep_acked is None or acked == self._pruned_at_ack:
            return
        try:
            deleted = self.journal.prune(keep=self.keep_acked)
        except JournalError as exc:
            self._journal_fault(exc)
            return
        self._pruned_at_ack = acked
        if deleted:
            self.log.debug("uplink %s: retention deleted %d acked records", self.device, deleted)

    # --- helpers -------------------------------------------------------------------------

    def _write_event(
        self, kind: str, severity: str, detail: dict[str, Any], *, limit: bool
    ) -> None:
        """A signed event record in the chain; ``limit``: at most one per kind per
        ``event_interval_s`` (a flood of bad acks must not flood the journal)."""
        now = time.monotonic()
        last = self._last_event.get(kind)
        if limit and last is not None and now - last < self.event_interval_s:
            return
        self._last_event[kind] = now
        body = EventBody(
            lane=None,
            kind=kind,
            severity=severity,  # type: ignore[arg-type]
            detail=detail,
            ref=None,
        )
        try:
            self.journal.append(record_type="event", body=body, ts_ms=self.clock())
        except JournalError as exc:
            self._journal_fault(exc)

    def _journal_fault(self, exc: JournalError) -> None:
        self.log.error("uplink %s: %s", self.device, exc.message)
        self._emit("journal_fault", {"error": exc.message[:200]})

    def _emit(self, kind: str, detail: Mapping[str, Any]) -> None:
        if _put_dropping_oldest(
            self.events, UplinkEvent(kind=kind, at_ms=self.clock(), detail=detail)
        ):
            self.dropped_events += 1

    def _load_cached_bundle(self) -> Bundle | None:
        cached = self.journal.bundle()
        if cached is None:
            return None
        try:
            return verify_bundle(cached.data, self.central_keys, site=self.site, held_version=None)
        except WireError as exc:
            self.log.warning(
                "uplink %s: the cached bundle (version %d) no longer verifies: %s",
                self.device, cached.version, exc.message,
            )  # fmt: skip
            return None


class _BrokerRefusedError(Exception):
    """The broker answered CONNECT with a failure reason code (bad credentials, banned …)."""


def _put_dropping_oldest(queue: asyncio.Queue[Any], item: object) -> bool:
    """Put ``item``; when full, drop the oldest first. True when something was dropped."""
    dropped = False
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
            dropped = True
    queue.put_nowait(item)
    return dropped


def _drop_socket(client: mqtt.Client) -> None:
    sock = client.socket()
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
