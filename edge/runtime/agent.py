"""The edge agent: a whole gate house built from its site file and run in one ``TaskGroup``.

``EdgeAgent(config=…).run()`` reads the device key and central's key set, opens the journal,
rebuilds each lane's memory from it (``edge.runtime.recovery``), starts the uplink (its cached
bundle goes to every lane at start, each new verified bundle as ``BundleIn``), one
``ModbusLine`` per distinct line (shared by a transmitter and an IO module on one RS-485 pair),
and per lane the scale driver, the IO driver and a ``LaneRunner``; and the local HTTP server
(``edge.runtime.http``) on ``[http] bind``, with the operator console at ``/console``
(``edge.runtime.console_backend``; accounts in ``<data_dir>/operators.json``). ``stop()``
(SIGTERM, SIGINT) ends it cleanly: the server finishes its requests, the tasks are cancelled,
a record being committed is committed (``executor.append_durably``), then the lines and the
journal close. Nothing raises the barrier on the way down: pulse barriers lower by themselves,
level barriers keep what they have.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from edge.camera.reads import PlateRead
from edge.config.model import LaneSettings, ModbusScale, SerialScale, SiteConfig
from edge.console.accounts import Accounts
from edge.console.routes import console_router
from edge.errors import ConfigError
from edge.gate.config import LaneConfig
from edge.gate.lane import Lane
from edge.io.driver import IoDriver
from edge.io.iomap import IoMap
from edge.journal.store import DEFAULT_BUDGET_BYTES, Journal
from edge.modbus.line import LineAddress, ModbusLine
from edge.runtime.console_backend import AgentConsole, certificate_path
from edge.runtime.display import ConsoleDisplay, Display, FanOut
from edge.runtime.http import build_app, server
from edge.runtime.lane_runner import LaneRunner, ScaleDriver, wall_ms
from edge.runtime.metrics import Labels, Metrics
from edge.runtime.recovery import LaneMemory, rebuild
from edge.scale.modbus_driver import ModbusScaleDriver
from edge.scale.readings import ScaleProtocol, Unit
from edge.scale.serial_driver import SerialScaleDriver
from edge.scale.xk3190 import EqOrder
from edge.uplink.broker import TlsFiles
from edge.uplink.client import Uplink
from wire.bundles import Bundle
from wire.keyfiles import read_key_set, read_signing_key
from wire.keys import KeySet

#: How long the HTTP server may take to finish its requests on the way down.
HTTP_STOP_S: Final = 5.0


class _StoppedError(Exception):
    """Raised inside the task group to end it once ``stop()`` was called."""


def lane_config(settings: LaneSettings) -> LaneConfig:
    """The gate core's settings for a ``[[lane]]`` of the site file."""
    scale, limits = settings.scale, settings.thresholds
    protocol = scale.protocol if isinstance(scale, SerialScale) else "modbus"
    silent_ms = int(scale.silent_after_s * 1000)
    return LaneConfig(
        lane=settings.id,
        direction=settings.direction,
        passes=settings.passes,
        protocol=protocol,
        division_kg=scale.division_kg,
        capacity_kg=scale.capacity_kg,
        band_e=limits.band_e,
        window_ms=limits.window_ms,
        zero_band_e=limits.zero_band_e,
        tare_tolerance_kg=limits.tare_tolerance_kg,
        min_plate_conf=limits.min_plate_conf,
        settle_timeout_ms=limits.settle_timeout_ms,
        position_timeout_ms=limits.position_timeout_ms,
        step_kg=limits.step_kg,
        # the driver reports silence first (with its reason); the core's own timer backs it up
        weight_timeout_ms=max(3000, silent_ms + 1000),
        camera_entry=settings.entry_camera,
        camera_exit=settings.exit_camera,
    )


class EdgeAgent:
    """One site's edge; see the module docstring."""

    def __init__(
        self,
        *,
        config: SiteConfig,
        displays: Sequence[Display] = (),
        clock: Callable[[], int] = wall_ms,
        tick_s: float = 0.1,
        journal_budget_bytes: int = DEFAULT_BUDGET_BYTES,
        logger: logging.Logger | None = None,
    ) -> None:
        """``journal_budget_bytes``: the journal's disk budget (``Journal.open``)."""
        self.config = config
        self.journal_budget_bytes = journal_budget_bytes
        self.clock = clock
        self.tick_s = tick_s
        self.log = logger or logging.getLogger(__name__)
        self.console = ConsoleDisplay(logger=self.log)
        self.display = FanOut([self.console, *displays])
        self.metrics = Metrics()
        self.runners: dict[str, LaneRunner] = {}
        self.journal: Journal | None = None
        self.uplink: Uplink | None = None
        self.last_ack_ms: int | None = None
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._used_tickets: set[bytes] | None = None  # shared by every lane (edge.gate.memory)
        self._lines: dict[LineAddress, ModbusLine] = {}
        self._started = time.monotonic()

    def stop(self) -> None:
        """End ``run`` cleanly (safe from a signal handler on the loop)."""
        self._stop.set()

    # --- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Build everything and run until ``stop()``; the journal is closed on return."""
        site = self.config.site
        key = read_signing_key(site.device_key, kid=site.device)
        central_keys = read_key_set([site.central_keys])
        listener = self._listen()  # bind first: a port in use is an error at start
        try:
            await asyncio.to_thread(site.data_dir.mkdir, parents=True, exist_ok=True)
            journal = await asyncio.to_thread(
                Journal.open, site.journal_path, key=key, site=site.id, device=site.device,
                budget_bytes=self.journal_budget_bytes,
            )  # fmt: skip
        except BaseException:
            listener.close()
            raise
        self.journal = journal
        try:
            memories = await asyncio.to_thread(lambda: rebuild(journal.entries()))
            await self._run(journal, central_keys, memories, listener)
        finally:
            for line in self._lines.values():
                await line.close()
            await self.display.aclose()
            listener.close()
            journal.close()
            self.log.info("edge stopped; journal closed at seq %d", journal.highest_seq)

    async def _run(
        self,
        journal: Journal,
        central_keys: KeySet,
        memories: dict[str, LaneMemory],
        listener: socket.socket,
    ) -> None:
        config = self.config
        broker = config.broker
        tls = (
            TlsFiles(ca=broker.ca_file, cert=broker.cert_file, key=broker.key_file)
            if broker.tls
            else None
        )
        uplink = Uplink(
            journal=journal, url=broker.url, central_keys=central_keys,
            mqtt_version=broker.mqtt_version, tls=tls, window=config.uplink.window,
            resend_after_s=config.uplink.resend_after_s, heartbeat_s=config.uplink.heartbeat_s,
            lane_states=lambda: {lane: r.lane.state for lane, r in self.runners.items()},
            on_bundle=self._bundle, clock=self.clock,
        )  # fmt: skip
        self.uplink = uplink
        for settings in config.lanes:
            self.runners[settings.id] = self._lane(
                settings, journal, central_keys, uplink, memories
            )
        self._gauges(journal, uplink)
        backend = AgentConsole(
            site=config.site.id, device=config.site.device, runners=self.runners,
            journal=journal, uplink=uplink, last_ack=lambda: self.last_ack_ms,
            certificate=certificate_path(config.site.device_key), clock=self.clock,
            logger=self.log,
        )  # fmt: skip
        console = console_router(
            backend=backend, accounts=Accounts.in_dir(config.site.data_dir), clock=self.clock,
            logger=self.log,
        )  # fmt: skip
        app = build_app(
            cameras=config.cameras(), on_plate=self._plate, metrics=self.metrics,
            lanes=self._lanes, health=self._health, console=console,
            logger=self.log,
        )  # fmt: skip
        http = server(app, host=config.http.host, port=config.http.port)
        try:
            async with asyncio.TaskGroup() as group:
                serving = group.create_task(http.serve(sockets=[listener]), name="http")
                group.create_task(uplink.run(), name="uplink")
                group.create_task(self._uplink_events(uplink, journal), name="uplink-events")
                for lane, runner in self.runners.items():
                    group.create_task(runner.run(), name=f"lane {lane}")
                group.create_task(self._stopper(http, serving), name="stopper")
                self.log.info(
                    "edge %s at site %s running %d lane(s); http on %s; journal at seq %d",
                    config.site.device, config.site.id, len(self.runners), config.http.bind,
                    journal.highest_seq,
                )  # fmt: skip
                self.ready.set()
        except* _StoppedError:
            pass

    async def _stopper(self, http: Any, serving: asyncio.Task[None]) -> None:
        await self._stop.wait()
        self.log.info("edge stopping")
        http.should_exit = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HTTP_STOP_S):
                await asyncio.wait([serving])
        raise _StoppedError

    def _listen(self) -> socket.socket:
        http = self.config.http
        family = socket.AF_INET6 if ":" in http.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((http.host, http.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on {http.bind}: {exc.strerror or exc}", option="http.bind"
            ) from exc
        return sock

    # --- building ------------------------------------------------------------------------

    def _line(self, address: LineAddress, url: str) -> ModbusLine:
        line = self._lines.get(address)
        if line is None:
            line = self._lines[address] = ModbusLine(url=url)
        return line

    def _scale(self, settings: LaneSettings) -> ScaleDriver:
        scale = settings.scale
        if isinstance(scale, ModbusScale):
            return ModbusScaleDriver(
                line=self._line(scale.address, scale.url), regmap=scale.modbus,
                device_id=scale.unit_id, division_kg=scale.division_kg,
                poll_interval_s=scale.poll_interval_s, silent_after_s=scale.silent_after_s,
            )  # fmt: skip
        return SerialScaleDriver(
            protocol=ScaleProtocol(scale.protocol), url=scale.url, division_kg=scale.division_kg,
            baudrate=scale.baud, unit=Unit(scale.unit), eq_order=EqOrder(scale.eq_order),
            poll_interval_s=scale.poll_interval_s, silent_after_s=scale.silent_after_s,
        )  # fmt: skip

    def _lane(
        self,
        settings: LaneSettings,
        journal: Journal,
        central_keys: KeySet,
        uplink: Uplink,
        memories: dict[str, LaneMemory],
    ) -> LaneRunner:
        io_settings = settings.io
        io = IoDriver(
            line=self._line(io_settings.address, io_settings.url),
            io_map=IoMap(**io_settings.map.channels()), device_id=io_settings.unit_id,
            barrier_mode=io_settings.barrier, pulse_ms=io_settings.pulse_ms,
            poll_interval_s=io_settings.poll_interval_s,
        )  # fmt: skip
        memory = memories.get(settings.id, LaneMemory())
        if self._used_tickets is None:  # one set for every lane: used at one, used at all
            self._used_tickets = set().union(*(m.used_tickets for m in memories.values()))
        lane = Lane(
            lane_config(settings), site=self.config.site.id, keys=central_keys,
            bundle=uplink.bundle, used_tickets=self._used_tickets,
            tare_history=memory.tare_history,
            first_passes=memory.first_passes, stranded=memory.stranded, now_ms=self.clock(),
        )  # fmt: skip
        return LaneRunner(
            settings=settings, lane=lane, journal=journal, scale=self._scale(settings), io=io,
            display=self.display, metrics=self.metrics, clock=self.clock, tick_s=self.tick_s,
            last_release=memory.last_release,
        )  # fmt: skip

    # --- what comes in -------------------------------------------------------------------

    def _plate(self, read: PlateRead) -> None:
        runner = self.runners.get(read.lane)
        if runner is not None:
            runner.plate_read(read)

    def _bundle(self, bundle: Bundle) -> None:
        self.log.info("site bundle version %d for every lane", bundle.version)
        for runner in self.runners.values():
            runner.bundle(bundle)

    async def _uplink_events(self, uplink: Uplink, journal: Journal) -> None:
        """Log what the uplink reports, and note when central's ack last moved."""
        acked = journal.acked_seq
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    event = await uplink.events.get()
                    level = logging.WARNING if event.kind in _UPLINK_ALARMS else logging.INFO
                    self.log.log(level, "uplink %s %s", event.kind, dict(event.detail),
                                 extra={"uplink": event.kind})  # fmt: skip
            if journal.acked_seq != acked:
                acked = journal.acked_seq
                self.last_ack_ms = self.clock()

    # --- views ---------------------------------------------------------------------------

    def _lanes(self) -> list[dict[str, Any]]:
        """``GET /api/lanes``: each lane's snapshot with what its display shows."""
        views = []
        for lane, runner in self.runners.items():
            lines = [
                {"at_ms": line.at_ms, "zh": line.text_zh, "en": line.text_en}
                for line in self.console.lines(lane)
            ]
            views.append(runner.snapshot() | {"display": lines[-10:]})
        return views

    def _health(self) -> dict[str, Any]:
        journal, uplink = self.journal, self.uplink
        return {
            "status": "ok",
            "site": self.config.site.id,
            "device": self.config.site.device,
            "lanes": {lane: r.lane.state for lane, r in self.runners.items()},
            "uplink": None if uplink is None or journal is None else {
                "connected": uplink.connected,
                "rejected": uplink.rejected,
                "highest_seq": journal.highest_seq,
                "acked_seq": journal.acked_seq,
                "backlog": journal.backlog,
                "last_ack_ms": self.last_ack_ms,
                "bundle_version": None if uplink.bundle is None else uplink.bundle.version,
            },
        }  # fmt: skip

    def _gauges(self, journal: Journal, uplink: Uplink) -> None:
        m = self.metrics

        def one(value: float) -> list[tuple[Labels, float]]:
            return [((), value)]

        m.gauge("coalgate_edge_journal_backlog", "Records not yet acked by central",
                lambda: one(journal.backlog))  # fmt: skip
        m.gauge("coalgate_edge_journal_highest_seq", "Highest seq written",
                lambda: one(journal.highest_seq))  # fmt: skip
        m.gauge("coalgate_edge_journal_acked_seq", "Highest seq central acked",
                lambda: one(journal.acked_seq))  # fmt: skip
        m.gauge("coalgate_edge_uplink_connected", "1 while connected to the broker",
                lambda: one(1 if uplink.connected else 0))  # fmt: skip
        m.gauge(
            "coalgate_edge_last_ack_timestamp_seconds",
            "When central's ack last moved (0: not yet)",
            lambda: one(0 if self.last_ack_ms is None else self.last_ack_ms / 1000),
        )  # fmt: skip
        m.gauge(
            "coalgate_edge_lane_fault", "Active faults by lane and source",
            lambda: [
                ((("lane", lane), ("source", source)), 1)
                for lane, r in self.runners.items() for source in r.faults()
            ],
        )  # fmt: skip
        m.gauge(
            "coalgate_edge_lane_state", "The state each lane is in (1)",
            lambda: [
                ((("lane", lane), ("state", r.lane.state)), 1) for lane, r in self.runners.items()
            ],
        )  # fmt: skip
        m.gauge("coalgate_edge_uptime_seconds", "Seconds since the agent started",
                lambda: one(round(time.monotonic() - self._started, 3)))  # fmt: skip


_UPLINK_ALARMS: Final = frozenset(
    {"disconnected", "ack_rejected", "rejected", "bundle_refused", "backlog_high", "journal_fault"}
)
