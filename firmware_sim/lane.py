"""A whole simulated gate lane: deck, Modbus weight transmitter, relay/IO module, plate camera.

One scene (the trucks) feeds every device, so the transmitter's weight, the IO module's beams
and the camera's reads always agree. Time runs ``speed`` times faster than the wall clock (a
scenario's day in minutes); the Modbus devices answer in real time. All state lives in frozen
values that this class replaces; everything runs on one event loop, so no locks are needed.

Departures are physical: a truck that wants to leave waits at the exit barrier until it is up
(one truck per raise), unless it tailgates the truck ahead in the same raise or breaks through.
With ``auto_barrier`` (or without an IO module) the simulator opens the barrier itself, as an
operator would.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.simulator import SimDevice

from firmware_sim import camera as camera_mod
from firmware_sim import indicator, io_module
from firmware_sim.errors import ConfigError, ControlError
from firmware_sim.faults import FaultKind
from firmware_sim.indicator import IndicatorConfig, IndicatorState, Outcome, Protocol
from firmware_sim.io_module import IoState
from firmware_sim.lane_config import (
    CAMERA,
    INDICATOR,
    IO,
    TRANSMITTER,
    Device,
    FaultPlan,
    LaneConfig,
    TruckPlan,
)
from firmware_sim.modbus_devices import io_device, transmitter_device
from firmware_sim.modbus_line import LineFault, ModbusLine
from firmware_sim.modbus_map import Command, image
from firmware_sim.model import Scene
from firmware_sim.ports import PtyPort, TcpPort
from firmware_sim.simulator import IndicatorSimulator

_POLL_S = 0.05
_POST_TIMEOUT_S = 5.0
_PARTLY_ON_M = 0.8  # a partly-on-deck truck stops with its rearmost axle this far off the deck
_RECENT_READS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class _Waiting:
    plan: TruckPlan
    ready_ms: int


class _LaneIndicator(IndicatorSimulator):
    """A serial indicator that weighs the lane's trucks on the lane's clock."""

    def __init__(self, *, lane: LaneSimulator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lane = lane

    def now_ms(self) -> int:
        """The lane's (accelerated) time."""
        return self._lane.now_ms()

    def _tick(self) -> int:
        # The lane owns the scene; the indicator keeps its own zero, tare, power and faults.
        self.state = replace(self.state, scene=self._lane.scene)
        return super()._tick()


class LaneSimulator:
    """The lane's devices on their lines; ``run`` serves them until cancelled."""

    def __init__(
        self,
        *,
        config: LaneConfig,
        lines: Sequence[tuple[PtyPort | TcpPort, Sequence[str]]],
        baud: int = 9600,
        indicator_port: PtyPort | TcpPort | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self._log = logger or logging.getLogger(__name__)
        self.scene = Scene(deck=config.deck, seed=config.seed)
        capacity = config.deck.capacity_kg
        division = config.transmitter.division_kg if config.transmitter else 10
        self._tx_config = IndicatorConfig(protocol=Protocol.MT_SICS, capacity_kg=capacity)
        self._tx_config = replace(
            self._tx_config, display=replace(self._tx_config.display, division_kg=division)
        )
        self._tx_cal = config.transmitter.calibration_count if config.transmitter else 0
        self._tx_zero_kg = 0.0
        self._tx_tare_kg = 0
        self.io = IoState(barrier=config.io.barrier) if config.io else IoState()
        self._faults: dict[str, LineFault] = {}
        self._stuck_relays: dict[int, tuple[bool, int]] = {}  # coil → (held state, until ms)
        self._camera_down_until = 0
        self._waiting: list[_Waiting] = []
        self._plans: dict[str, TruckPlan] = {}
        self._used_raise: int | None = None
        self._camera_seq = 0
        self._camera_sent: set[tuple[str, int, str]] = set()
        self.camera_reads: list[dict[str, Any]] = []
        self.camera_failures = 0
        self.lines: list[ModbusLine] = []
        for port, names in lines:
            devices = [self._device(name) for name in names]
            line = ModbusLine(
                devices=devices, port=port, baud=baud, clock=self.now_ms, fault=self._line_fault
            )
            self.lines.append(line)
        self.indicator: IndicatorSimulator | None = None
        if config.indicator is not None:
            if indicator_port is None:
                raise ConfigError("the lane's indicator needs a port")
            self.indicator = _LaneIndicator(
                lane=self,
                config=config.indicator,
                state=IndicatorState(scene=self.scene),
                port=indicator_port,
                baud=baud,
            )
        self._tasks: asyncio.TaskGroup | None = None
        self._t0 = 0.0
        self._wall_start_ms = 0
        self.ready = asyncio.Event()

    # --- clock -------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Lane time: milliseconds since start, ``speed`` times the wall clock."""
        elapsed = asyncio.get_running_loop().time() - self._t0
        return int(elapsed * 1000 * self.config.speed)

    async def _sleep_lane(self, lane_ms: float) -> None:
        await asyncio.sleep(max(0.0, lane_ms) / 1000.0 / self.config.speed)

    # --- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Open every line and serve until cancelled; the lines are closed on the way out."""
        self._t0 = asyncio.get_running_loop().time()
        self._wall_start_ms = int(time.time() * 1000)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                for line in self.lines:
                    await line.open(tasks)
                if self.indicator is not None:
                    tasks.create_task(self.indicator.run(), name="indicator")
                    await self.indicator.ready.wait()
                tasks.create_task(self._housekeeping(), name="housekeeping")
                if self.config.trucks or self.config.faults:
                    tasks.create_task(self._script(), name="script")
                self.ready.set()
        finally:
            for line in self.lines:
                await line.close()

    async def _script(self) -> None:
        events: list[tuple[int, int, TruckPlan | FaultPlan]] = [
            (plan.arrive_ms, i, plan) for i, plan in enumerate(self.config.trucks)
        ]
        events += [(f.at_ms, len(events) + i, f) for i, f in enumerate(self.config.faults)]
        for at_ms, _, event in sorted(events, key=lambda e: (e[0], e[1])):
            await self._sleep_lane(at_ms - self.now_ms())
            try:
                if isinstance(event, TruckPlan):
                    self.add_truck(event)
                else:
                    self.inject(event)
            except (ConfigError, ControlError) as exc:
                self._log.warning("scenario event at %d ms skipped: %s", at_ms, exc.message)

    async def _housekeeping(self) -> None:
        while True:
            now = self.now_ms()
            beams = self.scene.beams(now)
            self.io = io_module.tick(self.io, beams, now)
            self._departures(now)
            if self.config.camera is not None:
                self._camera(now)
            self.scene = self.scene.prune(now)
            self._plans = {p: plan for p, plan in self._plans.items() if self._on_scene(p)}
            await asyncio.sleep(_POLL_S)

    def _on_scene(self, plate: str) -> bool:
        return any(v.truck.plate == plate for v in self.scene.visits)

    # --- trucks ------------------------------------------------------------------------------

    def add_truck(self, plan: TruckPlan) -> None:
        """A truck drives on now; it wants to leave ``stand_ms`` after it stopped."""
        now = self.now_ms()
        stop = None
        if plan.partly_on_deck:
            stop = plan.truck.wheelbase_m - _PARTLY_ON_M
        self.scene = self.scene.arrive(
            plan.truck, now, stop_m=stop, speed_mps=plan.speed_mps, settled=plan.settled
        )
        visit = self.scene.visits[-1]
        self._plans[plan.truck.plate] = plan
        self._waiting.append(_Waiting(plan=plan, ready_ms=int(visit.stop_ms) + plan.stand_ms))

    def release(self, plate: str) -> None:
        """The standing truck wants to leave now (it still needs the barrier)."""
        for i, waiting in enumerate(self._waiting):
            if waiting.plan.truck.plate == plate:
                self._waiting[i] = replace(waiting, ready_ms=self.now_ms())
                return
        raise ConfigError(f"no truck {plate} waiting to leave")

    def _departures(self, now: int) -> None:
        while self._waiting and self._waiting[0].ready_ms <= now:
            plan = self._waiting[0].plan
            if not self._may_pass(plan, now):
                return  # the trucks behind cannot overtake
            self._waiting.pop(0)
            self.scene = self.scene.depart(plan.truck.plate, now)

    def _may_pass(self, plan: TruckPlan, now: int) -> bool:
        if self.config.io is None:
            return True
        barrier = self.io.barrier
        raise_id = barrier.since_ms if barrier.target >= 1.0 else None
        if barrier.is_up(now) and raise_id is not None:
            if raise_id != self._used_raise or plan.tailgate:
                self._used_raise = raise_id
                return True
            return False
        if plan.force_barrier:
            self._log.info("truck %s breaks through the barrier", plan.truck.plate)
            self.io = io_module.break_through(self.io)
            return True
        if self.config.auto_barrier:
            self.io = io_module.raise_now(self.io, now)
        return False

    # --- camera ------------------------------------------------------------------------------

    def _camera(self, now: int) -> None:
        entry_m, _, _, exit_m = self.scene.deck.beam_positions_m
        for visit in self.scene.visits:
            plate = visit.truck.plate
            plan = self._plans.get(plate)
            for side, at_m in (("entry", entry_m), ("exit", exit_m)):
                key = (plate, visit.arrive_ms, side)
                at = visit.time_at_front(at_m)
                if at is None or at > now or key in self._camera_sent:
                    continue
                self._camera_sent.add(key)
                if now < self._camera_down_until:
                    continue
                shown = plate
                if side == "exit" and plan is not None and plan.exit_plate:
                    shown = plan.exit_plate
                self._camera_seq += 1
                self._post(shown, side, int(at))

    def _post(self, plate: str, side: str, at_ms: int) -> None:
        setup = self.config.camera
        assert setup is not None  # only with a camera
        assert self._tasks is not None  # only while running
        ts = self._wall_start_ms + at_ms  # UTC ms at start plus lane time
        read = camera_mod.read(setup.config, plate=plate, side=side, seq=self._camera_seq, ts_ms=ts)
        self.camera_reads = [*self.camera_reads, {"true_plate": plate, **_read_dict(read)}][
            -_RECENT_READS:
        ]
        self._tasks.create_task(self._send(setup.url, read.body()), name=f"camera {side}")

    async def _send(self, url: str, body: bytes) -> None:
        def post() -> int:
            request = urllib.request.Request(  # noqa: S310 - see below
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            # The URL is the tester's own http(s) endpoint, checked when the lane is configured.
            with urllib.request.urlopen(request, timeout=_POST_TIMEOUT_S) as response:  # noqa: S310
                return int(response.status)

        try:
            async with asyncio.timeout(_POST_TIMEOUT_S + 1):
                status = await asyncio.to_thread(post)
            self._log.info("camera push answered %d", status)
        except (OSError, TimeoutError, urllib.error.URLError) as exc:
            self.camera_failures += 1
            self._log.warning("camera push to %s failed: %s", url, exc)

    # --- faults ------------------------------------------------------------------------------

    def _line_fault(self, unit: int, now: int) -> LineFault | None:
        name = self._unit_name(unit)
        fault = self._faults.get(name)
        if fault is None:
            return None
        if fault.exception is not None:
            left = fault.exceptions_left - 1
            still = None if left <= 0 else fault.exception
            self._faults[name] = replace(fault, exceptions_left=left, exception=still)
        return fault

    def _unit_name(self, unit: int) -> str:
        if self.config.transmitter is not None and unit == self.config.transmitter.unit_id:
            return TRANSMITTER
        return IO

    def clear_faults(self) -> None:
        """End every Modbus and camera fault (a broken barrier and steps stay broken)."""
        self._faults = {}
        self._stuck_relays = {}
        self._camera_down_until = 0
        if self.indicator is not None:
            self.indicator.clear_faults()

    def inject(self, fault: FaultPlan) -> None:
        """Start a fault now: exception/timeout/slow/disconnect on a Modbus device, camera down,
        a remote-control weight step on the transmitter, or an IO relay stuck in its present
        state (welded contacts or a dead driver: the coil reads back what the relay does)."""
        now = self.now_ms()
        until = 2**62 if fault.duration_ms is None else now + fault.duration_ms
        present = {
            TRANSMITTER: self.config.transmitter is not None,
            IO: self.config.io is not None,
            CAMERA: self.config.camera is not None,
            INDICATOR: self.indicator is not None,
        }
        if not present.get(fault.device, False):
            raise ControlError(f"no device {fault.device!r} in this lane", status=409)
        current = self._faults.get(fault.device, LineFault())
        match (fault.device, fault.kind):
            case (Device.INDICATOR, kind):
                self._indicator_fault(kind, fault)
            case (Device.CAMERA, "down"):
                self._camera_down_until = until
            case (Device.TRANSMITTER, "step"):
                self.scene = self.scene.step(fault.kg, now)
            case (Device.TRANSMITTER | Device.IO, "exception"):
                try:
                    ExcCodes(fault.code)
                except ValueError as exc:
                    raise ControlError(f"no Modbus exception code {fault.code}") from exc
                self._faults[fault.device] = replace(
                    current, exception=fault.code, exceptions_left=fault.count
                )
            case (Device.TRANSMITTER | Device.IO, "timeout"):
                self._faults[fault.device] = replace(current, silent_until_ms=until)
            case (Device.TRANSMITTER | Device.IO, "slow"):
                self._faults[fault.device] = replace(
                    current, slow_ms=fault.delay_ms, slow_until_ms=until
                )
            case (Device.IO, "relay-stuck"):
                self._stuck_relays[fault.channel] = (self.io.coils[fault.channel], until)
            case (Device.TRANSMITTER | Device.IO, "disconnect"):
                if fault.duration_ms is None or self._tasks is None:
                    raise ControlError("disconnect needs duration_ms")
                line = self._line_of(fault.device)
                if not line.connected:
                    raise ControlError("already disconnected", status=409)
                wall_ms = fault.duration_ms / self.config.speed
                self._tasks.create_task(line.pull_cable(int(wall_ms)), name="disconnect")
            case _:
                raise ControlError(f"device {fault.device!r} has no fault {fault.kind!r}")

    def _indicator_fault(self, kind: str, fault: FaultPlan) -> None:
        assert self.indicator is not None  # checked by inject
        try:
            fault_kind = FaultKind(kind)
        except ValueError as exc:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ControlError(f"indicator faults are: {kinds}") from exc
        if fault_kind is FaultKind.STEP:  # the step is in the load cells: the lane's scene
            self.scene = self.scene.step(fault.kg, self.now_ms())
            return
        amount = {FaultKind.GARBAGE: fault.nbytes, FaultKind.SLOW: fault.delay_ms}
        self.indicator.inject(
            fault_kind,
            count=fault.count,
            duration_ms=fault.duration_ms,
            amount=amount.get(fault_kind, 0),
        )

    def _line_of(self, device: str) -> ModbusLine:
        unit = (
            self.config.transmitter.unit_id
            if device == TRANSMITTER and self.config.transmitter
            else self.config.io.unit_id
            if self.config.io
            else -1
        )
        for line in self.lines:
            if unit in line.unit_ids:
                return line
        raise ControlError(f"device {device!r} is on no line", status=409)

    # --- the Modbus devices ------------------------------------------------------------------

    def _device(self, name: str) -> SimDevice:
        tx, io = self.config.transmitter, self.config.io
        if name == TRANSMITTER and tx is not None:
            return transmitter_device(
                regmap=tx.regmap, unit_id=tx.unit_id, image=self.tx_image, command=self.tx_command
            )
        if name == IO and io is not None:
            return io_device(
                unit_id=io.unit_id,
                inputs=self.io_inputs,
                coils=lambda: self.io.coils,
                write_coils=self._write_coils,
            )
        raise ConfigError(f"no {name} configured for a line")

    def _tx_state(self) -> IndicatorState:
        return IndicatorState(
            scene=self.scene,
            zero_kg=self._tx_zero_kg,
            tare_kg=self._tx_tare_kg,
            net_mode=self._tx_tare_kg > 0,
            calibration_count=self._tx_cal,
        )

    def tx_image(self) -> dict[int, int]:
        """The transmitter's value registers now."""
        assert self.config.transmitter is not None  # only with a transmitter
        shown = indicator.reading(self._tx_config, self._tx_state(), self.now_ms())
        assert shown is not None  # a transmitter has no power faults
        return image(
            self.config.transmitter.regmap,
            shown,
            division_kg=self.config.transmitter.division_kg,
            calibration_count=self._tx_cal,
        )

    def tx_command(self, code: int) -> ExcCodes | None:
        """A write to the command register; 03 for an unknown code, 04 when it cannot be done."""
        assert self.config.transmitter is not None
        command = self.config.transmitter.regmap.commands.get(code)
        if command is None:
            return ExcCodes.ILLEGAL_VALUE
        state, now = self._tx_state(), self.now_ms()
        if command is Command.CLEAR_TARE:
            self._tx_tare_kg = 0
            return None
        if command is Command.ZERO:
            state, outcome = indicator.zero(self._tx_config, state, now)
        else:
            state, outcome = indicator.tare(self._tx_config, state, now)
        if outcome is not Outcome.DONE:
            return ExcCodes.DEVICE_FAILURE
        self._tx_zero_kg, self._tx_tare_kg = state.zero_kg, state.tare_kg
        return None

    def io_inputs(self) -> tuple[bool, ...]:
        """The discrete inputs now."""
        assert self.config.io is not None
        now = self.now_ms()
        return io_module.inputs(self.config.io.io_map, self.io, self.scene.beams(now), now)

    def _write_coils(self, start: int, values: list[bool]) -> None:
        assert self.config.io is not None  # only with an IO module
        now = self.now_ms()
        held = [
            stuck[0]
            if (stuck := self._stuck_relays.get(start + i)) is not None and now < stuck[1]
            else value
            for i, value in enumerate(values)
        ]
        self.io = io_module.write_coils(self.config.io.io_map, self.io, start, held, now)

    # --- state -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything a tester wants to see, as JSON-ready values."""
        now = self.now_ms()
        beams = self.scene.beams(now)
        out: dict[str, Any] = {
            "now_ms": now,
            "speed": self.config.speed,
            "beams": {
                "entry": beams.entry,
                "deck_rear": beams.deck_rear,
                "deck_front": beams.deck_front,
                "exit": beams.exit,
            },
            "trucks": [
                {
                    "plate": v.truck.plate,
                    "axles": v.truck.axles,
                    "load_kg": v.load_at(now),
                    "front_m": v.front_m(now),
                    "leaving": v.depart_ms is not None,
                }
                for v in self.scene.visits
            ],
            "waiting_to_leave": [w.plan.truck.plate for w in self._waiting],
            "lines": [
                {"port": line.port.address, "units": line.unit_ids, "connected": line.connected}
                for line in self.lines
            ],
            "faults": {
                name: {
                    "exception": f.exception,
                    "exceptions_left": f.exceptions_left if f.exception is not None else 0,
                    "silent": now < f.silent_until_ms,
                    "slow_ms": f.slow_ms if now < f.slow_until_ms else 0,
                }
                for name, f in self._faults.items()
            },
        }
        if self.config.transmitter is not None:
            shown = indicator.reading(self._tx_config, self._tx_state(), now)
            assert shown is not None
            out["transmitter"] = {
                "preset": self.config.transmitter.regmap.name,
                "unit_id": self.config.transmitter.unit_id,
                "gross_kg": shown.gross_kg,
                "tare_kg": shown.tare_kg,
                "stable": shown.stable,
            }
        if self.config.io is not None:
            barrier = self.io.barrier
            out["io"] = {
                "unit_id": self.config.io.unit_id,
                "coils": list(self.io.coils[:8]),
                "inputs": list(self.io_inputs()[:8]),
                "barrier": {
                    "mode": barrier.mode.value,
                    "position": round(barrier.position(now), 2),
                    "up": barrier.is_up(now),
                    "broken": barrier.broken,
                },
            }
        if self.indicator is not None:
            indicated = self.indicator.snapshot()
            out["indicator"] = {
                key: indicated[key]
                for key in ("protocol", "port", "connected", "powered", "reading", "faults")
            }
        if self.config.camera is not None:
            out["camera"] = {
                "url": self.config.camera.url,
                "down": now < self._camera_down_until,
                "reads": self.camera_reads,
                "failures": self.camera_failures,
            }
        return out


def _read_dict(read: camera_mod.PlateRead) -> dict[str, Any]:
    return {
        "plate": read.plate,
        "confidence": read.confidence,
        "camera": read.camera,
        "ts": read.ts,
        "misread": read.misread,
    }
