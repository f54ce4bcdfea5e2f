"""One lane at run time: its drivers' events in, ``Lane.step`` one input at a time, outputs out.

Tasks (named, in one ``TaskGroup``): the scale driver, the IO driver, a pump for each that turns
their events into lane inputs (``WeightIn``, ``BeamsIn``, ``ScaleFaultIn``, ``IoFaultIn``; the
``ScaleWatch`` stuck check sees both), the step loop, and the ``CommandRunner`` for devices.

Every input is stamped with the wall clock (UTC ms) when it arrives and queued; an operator's
input from the console (``submit``) is queued the same way with a future that the step loop
resolves with that step's outcome (state after, lines said). The step loop is
the only caller of ``Lane.step`` (the core is not thread- or task-safe) and feeds ``Tick`` when
nothing arrived for ``tick_s``. Times given to the core never go backwards (a clock step back is
held at the last time). After a list whose write failed, ``JournalFault(active=True)`` is the
very next input; the next list that writes again is followed by ``JournalFault(active=False)``.

Fault sources are merged before the core sees them (it keeps one fault per source): the scale's
``silent``/``disconnected``/``stuck``, the IO module's polling fault and a command that did not
take effect (cleared when the module answers again: ``resumed``/``reconnected``, or by an
operator who checked the IO: ``ClearIoFault``, which the core records). The cameras
are watched (``edge.camera.health``) for reads that never come (a truck at a camera and no
read within ``[lane.cameras] no_read_s``) and, given a status URL, polled
(``edge.camera.status``): ``CameraFaultIn`` when a camera's fault starts and when it ends;
``faults()`` shows them as source ``camera``.

What the console shows of the lane is kept by a ``LaneTracker`` (``tracker``), fed by the step
loop (inputs, the ``Say``/``ZeroScale`` commands of each step, records as written with their
seq and id) and by the IO pump (lights and the barrier's limit switch as the module reports
them); the console reads ``tracker.view()`` from other threads under ``view_lock``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from edge.camera.health import CameraChange, CameraWatch
from edge.camera.reads import PlateRead
from edge.camera.status import check_status
from edge.config.model import LaneSettings
from edge.console.backend import OperatorInput, Outcome, SayLine
from edge.console.tracker import LaneTracker
from edge.errors import LocalError
from edge.gate.inputs import (
    BeamsIn,
    BundleIn,
    CameraFaultIn,
    ClearIoFault,
    Input,
    IoFaultIn,
    JournalFault,
    PlateIn,
    ScaleFaultIn,
    Tick,
    WeightIn,
)
from edge.gate.lane import Lane
from edge.gate.outputs import Say, ZeroScale
from edge.io.driver import IoDriver
from edge.io.events import BeamsChanged, CoilsChanged, IoEvent, IoFaultKind
from edge.journal.store import Journal
from edge.runtime.display import Display
from edge.runtime.executor import CommandRunner, OutputExecutor, Written
from edge.runtime.metrics import Metrics
from edge.scale.events import (
    Calibration,
    FaultKind,
    ScaleCalibration,
    ScaleEvent,
    ScaleFault,
    ScaleReading,
)
from edge.scale.watch import ScaleWatch
from wire.bodies import EventBody, WeighingBody
from wire.bundles import Bundle

#: Inputs waiting for the step loop; beyond it the oldest weight readings would be stale anyway.
INPUT_QUEUE: Final = 10_000
#: Decisions and alarms kept for the console.
RECENT: Final = 20
#: How often the camera watch looks at its clock (its timeout is seconds).
CAMERA_WATCH_S: Final = 0.25

_SCALE_ON: Final = {
    FaultKind.SILENT: "silent",
    FaultKind.DISCONNECTED: "disconnected",
    FaultKind.STUCK: "stuck",
}
_SCALE_OFF: Final = {
    FaultKind.RESUMED: "silent",
    FaultKind.RECONNECTED: "disconnected",
    FaultKind.UNSTUCK: "stuck",
}
_IO_ON: Final = frozenset(
    {IoFaultKind.DISCONNECTED, IoFaultKind.NO_RESPONSE, IoFaultKind.EXCEPTION}
)
_IO_OFF: Final = frozenset({IoFaultKind.RECONNECTED, IoFaultKind.RESUMED})


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class ScaleDriver(Protocol):
    """A serial or Modbus scale driver, as the runner uses it."""

    events: asyncio.Queue[ScaleEvent]

    async def run(self) -> None: ...

    async def zero(self) -> object: ...


class LaneRunner:
    """Runs one lane until cancelled; see the module docstring."""

    def __init__(
        self,
        *,
        settings: LaneSettings,
        lane: Lane,
        journal: Journal,
        scale: ScaleDriver,
        io: IoDriver,
        display: Display,
        metrics: Metrics,
        clock: Callable[[], int] = wall_ms,
        tick_s: float = 0.1,
        watch: ScaleWatch | None = None,
        last_release: bytes | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """``last_release``: the record id of the lane's last releasing weighing in the journal
        (``edge.runtime.recovery``; the executor's ``release_retry`` names it)."""
        self.settings = settings
        self.id = settings.id
        self.lane = lane
        self.journal = journal
        self.scale = scale
        self.io = io
        self.display = display
        self.metrics = metrics
        self.clock = clock
        self.tick_s = tick_s
        self.watch = watch or ScaleWatch(tolerance_kg=settings.scale.division_kg)
        self.log = logger or logging.getLogger(__name__)
        self.inputs: asyncio.Queue[tuple[int, Input, asyncio.Future[Outcome] | None]] = (
            asyncio.Queue(maxsize=INPUT_QUEUE)
        )
        self.tracker = LaneTracker(lane)
        self.view_lock = threading.Lock()
        self.commands = CommandRunner(
            lane=self.id, io=io, scale=scale, display=display, on_io_fault=self._command_fault,
            on_barrier=self._barrier_moved, clock=clock, logger=self.log,
        )  # fmt: skip
        self.executor = OutputExecutor(
            lane=self.id, journal=journal, commands=self.commands, on_written=self._written,
            last_release=last_release, logger=self.log,
        )  # fmt: skip
        self.dropped_inputs = 0
        self.steps = 0
        self.last_kg: int | None = None
        self.last_stable: bool | None = None
        self.beams: BeamsChanged | None = None
        self.coils: CoilsChanged | None = None
        self.plate: PlateRead | None = None
        self.decisions: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.alarms: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._now = 0
        self._calibration: int | None = None
        self._scale_faults: dict[str, str] = {}
        self._io_faults: dict[str, str] = {}
        self._journal_faulted = False
        self._failed_seq = 0
        self.cameras = CameraWatch(
            entry_camera=settings.entry_camera, exit_camera=settings.exit_camera,
            no_read_ms=round(settings.cameras.no_read_s * 1000),
            occupied_kg=lane.config.occupied_kg,
        )  # fmt: skip

    # --- feeding -------------------------------------------------------------------------

    def feed(self, item: Input) -> None:
        """Queue an input, stamped now (any task on the loop)."""
        try:
            self.inputs.put_nowait((self.clock(), item, None))
        except asyncio.QueueFull:
            self.dropped_inputs += 1
            if self.dropped_inputs in (1, 10, 100) or self.dropped_inputs % 1000 == 0:
                self.log.error(  # noqa: TRY400  # a full queue has no traceback worth showing
                    "lane %s: the step loop is behind; %d inputs dropped",
                    self.id, self.dropped_inputs,
                )  # fmt: skip

    async def submit(self, item: OperatorInput) -> Outcome:
        """Queue an operator's input and wait for the step that takes it: its outcome.
        ``LocalError`` when the queue is full (the step loop is far behind).

        ``ClearIoFault`` ends only the fault of a failed command, and only when it is the
        lane's one IO fault: otherwise it is refused here (``Outcome.refused``), unstepped."""
        if isinstance(item, ClearIoFault):
            refused = self._io_check_refused()
            if refused is not None:
                return Outcome(state=self.lane.state, said=(), refused=refused)
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        try:
            self.inputs.put_nowait((self.clock(), item, answer))
        except asyncio.QueueFull as exc:
            raise LocalError(f"lane {self.id} is busy: its input queue is full") from exc
        if isinstance(item, ClearIoFault):  # queued: the lane will hear it, in order
            self._clear_command_fault(item)
        return await answer

    def plate_read(self, read: PlateRead) -> None:
        """A camera read of this lane (the camera router's sink)."""
        self.plate = read
        self._camera_changes(self.cameras.read(read.camera, now_ms=self.clock()))
        self.feed(
            PlateIn(
                plate=read.plate, confidence=read.confidence, camera=read.camera,
                image_sha256=read.image_sha256,
            )
        )  # fmt: skip

    def bundle(self, bundle: Bundle) -> None:
        """A new verified site bundle from the uplink."""
        self.feed(BundleIn(bundle=bundle))

    # --- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Drivers, pumps, steps and commands until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.scale.run(), name=f"lane {self.id} scale")
            group.create_task(self.io.run(), name=f"lane {self.id} io")
            group.create_task(self._scale_pump(), name=f"lane {self.id} scale-pump")
            group.create_task(self._io_pump(), name=f"lane {self.id} io-pump")
            group.create_task(self.commands.run(), name=f"lane {self.id} commands")
            group.create_task(self._step_loop(), name=f"lane {self.id} steps")
            if self.cameras.no_read_ms:
                group.create_task(self._camera_clock(), name=f"lane {self.id} cameras")
            cameras = self.settings.cameras
            for camera, url in (
                (self.settings.entry_camera, cameras.entry_status),
                (self.settings.exit_camera, cameras.exit_status),
            ):
                if url is not None:
                    group.create_task(self._camera_status(camera, url), name=f"camera {camera}")

    async def _step_loop(self) -> None:
        while True:
            answer: asyncio.Future[Outcome] | None = None
            try:
                async with asyncio.timeout(self.tick_s):
                    at, item, answer = await self.inputs.get()
            except TimeoutError:
                at, item = self.clock(), Tick()
            said = await self.step(item, at_ms=at)
            if answer is not None and not answer.done():  # the request may have gone
                answer.set_result(Outcome(state=self.lane.state, said=said))

    async def step(self, item: Input, *, at_ms: int) -> tuple[SayLine, ...]:
        """Step the lane with ``item`` and execute what it returns (and a journal fault after
        a failed write). A journal that took another record since (the uplink's heartbeat, say)
        is writable again: the lane hears so first. Returns the lines said while taking
        ``item``."""
        if self._journal_faulted and self.journal.highest_seq > self._failed_seq:
            self._journal_faulted = False
            await self._step_one(
                JournalFault(active=False, reason="the journal takes records"), at_ms
            )
        return await self._step_one(item, at_ms)

    async def _step_one(self, item: Input, at_ms: int) -> tuple[SayLine, ...]:
        pending: Input | None = item
        informed = False
        said: list[SayLine] = []
        while pending is not None:
            self._now = max(self._now, at_ms)
            before = self.lane.state
            with self.view_lock:
                self.tracker.input(pending, now_ms=self._now)
                outputs = self.lane.step(pending, now_ms=self._now)
                for output in outputs:
                    if isinstance(output, Say | ZeroScale):
                        self.tracker.command(output, now_ms=self._now)
                    if isinstance(output, Say):
                        said.append(self.tracker.said[-1])
            self.steps += 1
            if self.lane.state != before:
                self.log.info(
                    "lane %s: %s -> %s", self.id, before, self.lane.state,
                    extra={"lane": self.id, "state": self.lane.state},
                )  # fmt: skip
            result = await self.executor.execute(outputs, now_ms=self._now)
            with self.view_lock:
                self.tracker.stepped(before=before)
            pending = None
            if result.failed is not None:
                self.metrics.journal_failures += 1
                self._journal_faulted = True
                self._failed_seq = self.journal.highest_seq
                if not informed:  # once per input: the lane knows, it need not hear it again
                    informed = True
                    pending = JournalFault(active=True, reason=result.failed)
                    at_ms = self.clock()
            elif result.written and self._journal_faulted:
                self._journal_faulted = False
                pending = JournalFault(active=False, reason="records are written again")
                at_ms = self.clock()
        return tuple(said)

    # --- pumps ---------------------------------------------------------------------------

    async def _scale_pump(self) -> None:
        while True:
            event = await self.scale.events.get()
            if isinstance(event, ScaleReading):
                weight = event.weight
                self.metrics.readings[self.id] += 1
                self.last_kg, self.last_stable = weight.kg, weight.stable
                if self._calibration is None:
                    # the counter as first read (a Modbus transmitter's; serial ones say none):
                    # the core's baseline, so that the first change is seen as one
                    first = getattr(self.scale, "calibration", None)
                    if isinstance(first, Calibration):
                        self._calibration = first.counter
                self.feed(
                    WeightIn(
                        kg=weight.kg, stable=weight.stable, overload=weight.overload,
                        calibration=self._calibration,
                    )
                )  # fmt: skip
                self._watched(self.watch.observe(event))
                self._camera_changes(self.cameras.weight(weight.kg, now_ms=self.clock()))
            elif isinstance(event, ScaleCalibration):
                self._calibration = event.current.counter
            elif isinstance(event, ScaleFault):
                self._scale_fault(event)

    async def _io_pump(self) -> None:
        while True:
            event: IoEvent = await self.io.events.get()
            if isinstance(event, BeamsChanged):
                self.beams = event
                with self.view_lock:
                    self.tracker.barrier_seen_up = event.barrier_up
                self.feed(
                    BeamsIn(
                        entry=event.entry, front=event.front, rear=event.rear, exit=event.exit,
                        barrier_up=event.barrier_up,
                    )
                )  # fmt: skip
                self._watched(self.watch.observe(event))
                self._camera_changes(
                    self.cameras.beams(entry=event.entry, exit_=event.exit, now_ms=self.clock())
                )
            elif isinstance(event, CoilsChanged):
                self.coils = event
                with self.view_lock:
                    self.tracker.red, self.tracker.green = event.red, event.green
            elif event.kind in _IO_ON:
                self._set_io_fault("module", f"{event.kind}: {event.detail}"[:200])
            elif event.kind in _IO_OFF:
                # answering again: a command fault from the outage is over too
                self._io_faults.clear()
                self._send_io_faults(str(event.kind))

    async def _camera_clock(self) -> None:
        while True:
            await asyncio.sleep(CAMERA_WATCH_S)
            self._camera_changes(self.cameras.tick(now_ms=self.clock()))

    async def _camera_status(self, camera: str, url: str) -> None:
        settings = self.settings.cameras
        while True:
            problem = await check_status(url, timeout_s=settings.status_timeout_s)
            self._camera_changes(self.cameras.status(camera, problem=problem, now_ms=self.clock()))
            await asyncio.sleep(settings.status_every_s)

    def _camera_changes(self, changes: list[CameraChange]) -> None:
        for change in changes:
            if change.active:
                self.log.warning(
                    "lane %s: camera %s fault: %s", self.id, change.camera, change.reason,
                    extra={"lane": self.id, "fault": "camera", "camera": change.camera},
                )  # fmt: skip
            else:
                self.log.info(
                    "lane %s: camera %s %s", self.id, change.camera, change.reason,
                    extra={"lane": self.id, "fault": "camera", "camera": change.camera},
                )  # fmt: skip
            self.feed(
                CameraFaultIn(active=change.active, camera=change.camera, reason=change.reason)
            )
        if changes:
            camera = self.faults().get("camera")
            with self.view_lock:
                self.tracker.side_faults = {} if camera is None else {"camera": camera}

    def faults(self) -> dict[str, str]:
        """Active faults by source: the core's (``scale``, ``silent``, ``io``, ``journal``)
        and ``camera`` (the cameras at fault and why; the core records those as events)."""
        faults = dict(self.lane.faults)
        cameras = self.cameras.faults
        if cameras:
            faults["camera"] = "; ".join(f"{c}: {r}" for c, r in sorted(cameras.items()))
        return faults

    def _watched(self, fault: ScaleFault | None) -> None:
        if fault is not None:
            self._scale_fault(fault)

    def _scale_fault(self, event: ScaleFault) -> None:
        was = dict(self._scale_faults)
        if event.kind in _SCALE_ON:
            self._scale_faults[_SCALE_ON[event.kind]] = event.detail or str(event.kind)
        elif event.kind in _SCALE_OFF:
            self._scale_faults.pop(_SCALE_OFF[event.kind], None)
        if self._scale_faults == was:
            return
        self.log.warning(
            "lane %s: scale %s%s", self.id, event.kind, f": {event.detail}" if event.detail else "",
            extra={"lane": self.id, "fault": str(event.kind)},
        )  # fmt: skip
        active = bool(self._scale_faults)
        reason = ", ".join(sorted(self._scale_faults)) if active else str(event.kind)
        self.feed(ScaleFaultIn(active=active, reason=reason))

    def _command_fault(self, reason: str) -> None:
        self.metrics.io_command_failures[self.id] += 1
        self._set_io_fault("command", reason[:200])

    def _set_io_fault(self, source: str, reason: str) -> None:
        if self._io_faults.get(source) == reason:
            return
        self._io_faults[source] = reason
        self.log.warning("lane %s: IO fault (%s): %s", self.id, source, reason,
                         extra={"lane": self.id, "fault": "io"})  # fmt: skip
        self._send_io_faults(reason)

    def _io_check_refused(self) -> str | None:
        """Why an operator's ``ClearIoFault`` must not reach the lane now (None: it may)."""
        if "command" not in self._io_faults:
            return "no IO command fault to clear"
        module = self._io_faults.get("module")
        if module is not None:
            return f"the IO module does not answer ({module}); that fault ends when it does"
        if self._journal_faulted:  # the clear must be signed: who checked the IO, and why
            return "the journal cannot be written now, so the check cannot be recorded"
        return None

    def _clear_command_fault(self, item: ClearIoFault) -> None:
        """Drop the command fault an operator checked (its ``ClearIoFault`` is queued)."""
        command = self._io_faults.pop("command", None)
        self.log.warning(
            "lane %s: IO command fault cleared by operator %s (%s): was %s",
            self.id, item.operator, item.reason, command,
            extra={"lane": self.id, "fault": "io", "operator": item.operator},
        )  # fmt: skip

    def _send_io_faults(self, reason: str) -> None:
        active = bool(self._io_faults)
        self.feed(IoFaultIn(active=active, reason="; ".join(self._io_faults.values()) or reason))

    def _barrier_moved(self, up: bool) -> None:
        if up:
            self.metrics.barrier_raised[self.id] += 1

    # --- what was written ----------------------------------------------------------------

    def _written(self, done: Written) -> None:
        body, entry = done.body, done.entry
        with self.view_lock:
            self.tracker.written(body, seq=entry.seq, record_id=entry.record_id, now_ms=self._now)
        self.metrics.records[done.write.type] += 1
        if isinstance(body, WeighingBody):
            for reason in body.reasons:
                self.metrics.decisions[(self.id, body.decision, reason)] += 1
            item = {
                "seq": entry.seq,
                "at_ms": self._now,
                "decision": body.decision,
                "reasons": list(body.reasons),
                "plate": body.plate,
                "plate_conf": body.plate_conf,
                "pass": body.pass_,
                "gross_kg": body.gross_kg,
                "tare_kg": body.tare_kg,
                "net_kg": body.net_kg,
                "ticket": body.ticket.hex() if body.ticket is not None else None,
                "operator": body.operator,
            }
            self.decisions.append(item)
            self.log.info(
                "lane %s: %s %s (%s), gross %d kg, seq %d",
                self.id, body.decision, body.plate, ", ".join(body.reasons), body.gross_kg,
                entry.seq,
                extra={"lane": self.id, "decision": body.decision, "reasons": list(body.reasons),
                       "plate": body.plate, "seq": entry.seq},
            )  # fmt: skip
        elif isinstance(body, EventBody) and body.severity in ("alarm", "warning"):
            self.metrics.alarms[(self.id, body.kind)] += 1
            self.alarms.append(
                {"seq": entry.seq, "at_ms": self._now, "kind": body.kind,
                 "severity": body.severity, "detail": _plain(body.detail)}
            )  # fmt: skip
            self.log.warning(
                "lane %s: %s %s (seq %d)", self.id, body.severity, body.kind, entry.seq,
                extra={"lane": self.id, "alarm": body.kind, "seq": entry.seq},
            )  # fmt: skip

    # --- the console's view --------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The lane as ``GET /api/lanes`` shows it (JSON-ready)."""
        beams = self.beams
        coils = self.coils
        plate = self.plate
        return {
            "id": self.id,
            "direction": self.settings.direction,
            "passes": self.settings.passes,
            "state": self.lane.state,
            "barrier_up_commanded": self.lane.barrier_up,
            "weight_kg": self.last_kg,
            "stable": self.last_stable,
            "faults": self.faults(),
            "beams": None if beams is None else {
                "entry": beams.entry, "front": beams.front, "rear": beams.rear,
                "exit": beams.exit, "barrier_up": beams.barrier_up,
            },
            "lights": None if coils is None else {
                "red": coils.red, "green": coils.green, "barrier": coils.barrier,
                "horn": coils.horn,
            },
            "plate": None if plate is None else {
                "plate": plate.plate, "confidence": plate.confidence, "camera": plate.camera,
                "received_ms": plate.received_ms,
            },
            "bundle_version": None if self.lane.bundle is None else self.lane.bundle.version,
            "decisions": list(self.decisions),
            "alarms": list(self.alarms),
        }  # fmt: skip


def _plain(value: object) -> Any:
    """CBOR-ish detail values made JSON-ready (bytes as hex)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
