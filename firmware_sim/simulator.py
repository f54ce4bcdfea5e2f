"""A running indicator: the pure core driven by a clock and served on a pty or TCP port.

All state lives in one ``IndicatorState`` value that this class replaces as time passes and
commands arrive; everything runs on one event loop, so no locks are needed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from firmware_sim import frames, indicator, responder
from firmware_sim.errors import ControlError
from firmware_sim.faults import FOREVER, FaultKind
from firmware_sim.indicator import IndicatorConfig, IndicatorState
from firmware_sim.model import Truck
from firmware_sim.ports import PtyPort, Session, TcpPort, transmit_s
from firmware_sim.protocols.mt_sics import LineSplitter

_POLL_S = 0.05


class IndicatorSimulator:
    """One simulated indicator on one port; ``run`` serves it until cancelled."""

    def __init__(
        self,
        *,
        config: IndicatorConfig,
        state: IndicatorState,
        port: PtyPort | TcpPort,
        baud: int = 9600,
        stable_timeout_ms: int = 3000,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.port = port
        self.baud = baud
        self.stable_timeout_ms = stable_timeout_ms
        self._log = logger or logging.getLogger(__name__)
        self._sessions: set[Session] = set()
        self._tasks: asyncio.TaskGroup | None = None
        self._t0 = 0.0
        self._connected = False
        self._power_ups = 0
        self.ready = asyncio.Event()

    # --- clock ---------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Milliseconds since the simulator started (the model's time axis)."""
        return int((asyncio.get_running_loop().time() - self._t0) * 1000)

    def _tick(self) -> int:
        """The time now, with the power brought back first if it is due.

        Every path that shows the reading calls this, so no frame or reply is ever computed
        from the state before the power-up (tare still set, zero not re-taken).
        """
        now = self.now_ms()
        self.state, powered_up = indicator.power_up_if_due(self.config, self.state, now)
        if powered_up:
            self._power_ups += 1
            if not self.config.protocol.streams:
                for session in list(self._sessions):
                    session.write(responder.power_on_message(self.config))
        return now

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Open the port and serve until cancelled; the port is closed on the way out."""
        self._t0 = asyncio.get_running_loop().time()
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                await self._connect()
                tasks.create_task(self._housekeeping(), name="housekeeping")
                if self.config.protocol.streams:
                    tasks.create_task(self._stream(), name="stream")
                self.ready.set()
        finally:
            await self._disconnect()

    async def _connect(self) -> None:
        assert self._tasks is not None  # only called inside run()
        handler = self._serve_session
        if isinstance(self.port, PtyPort):
            self.port.open(handler, self._tasks)
        else:
            await self.port.open(handler, self._tasks)
        self._connected = True

    async def _disconnect(self, *, keep_link: bool = False) -> None:
        self._connected = False
        if isinstance(self.port, PtyPort):
            self.port.close(keep_link=keep_link)
        else:
            await self.port.close()

    async def _serve_session(self, session: Session) -> None:
        self._sessions.add(session)
        try:
            if self.config.protocol.streams:
                while await session.read():
                    pass  # continuous formats ignore what the host sends
            else:
                await self._mt_sics_session(session)
        finally:
            self._sessions.discard(session)

    async def _housekeeping(self) -> None:
        """Power comes back on time; trucks that have left are forgotten."""
        while True:
            now = self._tick()
            self.state = replace(self.state, scene=self.state.scene.prune(now))
            await asyncio.sleep(_POLL_S)

    async def _stream(self) -> None:
        period = 1.0 / self.config.rate_hz
        while True:
            now = self._tick()
            self.state, out = frames.next_output(self.config, self.state, now)
            for session in list(self._sessions):
                session.write(out)
            delay = self.state.faults.delay_ms(now) / 1000.0
            await asyncio.sleep(max(period, transmit_s(len(out), self.baud)) + delay)

    async def _mt_sics_session(self, session: Session) -> None:
        splitter = LineSplitter()
        repeat: asyncio.Task[None] | None = None
        try:
            while data := await session.read():
                for line in splitter.feed(data):
                    if repeat is not None:  # any command ends an SIR stream
                        repeat.cancel()
                        repeat = None
                    want_repeat = await self._answer(session, line)
                    if want_repeat and self._tasks is not None:
                        repeat = self._tasks.create_task(
                            self._repeat(session), name=f"SIR {session.name}"
                        )
        finally:
            if repeat is not None:
                repeat.cancel()

    async def _answer(self, session: Session, line: bytes | None) -> bool:
        """Reply to one command; True when it starts an SIR stream."""
        now = self._tick()
        self.state, response = responder.respond(self.config, self.state, line, now)
        if response.wait_for_stable:
            deadline = now + self.stable_timeout_ms
            # Stability is a property of the weight over time, not an event: poll it, and
            # answer at the very moment it was seen (a moment later it may have flickered).
            while True:
                now = self._tick()
                if now >= deadline or indicator.is_stable(self.config, self.state, now):
                    break
                await asyncio.sleep(_POLL_S)
            self.state, response = responder.respond(
                self.config, self.state, line, now, may_wait=False
            )
        delay_ms = self.state.faults.delay_ms(self.now_ms())
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000.0)
        session.write(response.reply)
        await asyncio.sleep(transmit_s(len(response.reply), self.baud))
        return bool(response.repeat)

    async def _repeat(self, session: Session) -> None:
        period = 1.0 / self.config.rate_hz
        power_ups = self._power_ups
        await asyncio.sleep(period)
        while True:
            now = self._tick()
            if self._power_ups != power_ups or indicator.powered_off(self.state, now):
                return  # a power cycle ends the SIR stream; the host must ask again
            self.state, out = responder.repeat_line(self.config, self.state, now)
            session.write(out)
            await asyncio.sleep(max(period, transmit_s(len(out), self.baud)))

    # --- control -------------------------------------------------------------------------------

    def add_truck(
        self, truck: Truck, *, stop_m: float | None, speed_mps: float, settled: bool
    ) -> None:
        """A truck starts to drive on (or is already standing, with ``settled``)."""
        scene = self.state.scene.arrive(
            truck, self.now_ms(), stop_m=stop_m, speed_mps=speed_mps, settled=settled
        )
        self.state = replace(self.state, scene=scene)

    def remove_truck(self, plate: str) -> None:
        """The truck drives off."""
        self.state = replace(self.state, scene=self.state.scene.depart(plate, self.now_ms()))

    def set_load(self, plate: str, load_kg: int) -> None:
        """The standing truck's load changes now."""
        scene = self.state.scene.set_load(plate, load_kg, self.now_ms())
        self.state = replace(self.state, scene=scene)

    def bump_calibration(self) -> int:
        """A calibration event (or a tamper that looks like one)."""
        self.state = replace(self.state, calibration_count=self.state.calibration_count + 1)
        return self.state.calibration_count

    def clear_faults(self) -> None:
        """End every output fault (steps and power loss are physical, and stay)."""
        self.state = replace(self.state, faults=type(self.state.faults)())

    def inject(self, kind: FaultKind, *, count: int, duration_ms: int | None, amount: int) -> None:
        """Start a fault; ``amount`` is bytes (garbage), ms (slow) or kg (step)."""
        now = self._tick()
        until = FOREVER if duration_ms is None else now + duration_ms
        faults = self.state.faults
        match kind:
            case FaultKind.GARBAGE:
                faults = replace(faults, garbage_bytes=faults.garbage_bytes + amount)
            case FaultKind.BAD_CHECKSUM:
                if not self.config.protocol.has_checksum:
                    raise ControlError(
                        f"{self.config.protocol.value} frames carry no checksum", status=409
                    )
                faults = replace(faults, bad_checksums=faults.bad_checksums + count)
            case FaultKind.HALF_FRAME:
                faults = replace(faults, half_frames=faults.half_frames + count)
            case FaultKind.SILENCE:
                faults = replace(faults, silent_until_ms=until)
            case FaultKind.SLOW:
                faults = replace(faults, slow_ms=amount, slow_until_ms=until)
            case FaultKind.FROZEN:
                self.state = indicator.freeze(self.config, self.state, now, duration_ms)
                return
            case FaultKind.STEP:
                self.state = replace(self.state, scene=self.state.scene.step(amount, now))
                return
            case FaultKind.POWER_LOSS:
                if duration_ms is None:
                    raise ControlError("power-loss needs duration_ms")
                self.state = indicator.power_loss(self.state, now, duration_ms)
                return
            case FaultKind.DISCONNECT:
                if duration_ms is None:
                    raise ControlError("disconnect needs duration_ms")
                if not self._connected or self._tasks is None:
                    raise ControlError("already disconnected", status=409)
                self._tasks.create_task(self._cable_pulled(duration_ms), name="disconnect")
                return
        self.state = replace(self.state, faults=faults)

    async def _cable_pulled(self, duration_ms: int) -> None:
        self._log.info("disconnected for %d ms", duration_ms)
        await self._disconnect(keep_link=True)
        await asyncio.sleep(duration_ms / 1000.0)
        await self._connect()
        self._log.info("reconnected on %s", self.port.address)

    def snapshot(self) -> dict[str, Any]:
        """Everything a tester wants to see, as JSON-ready values."""
        now = self._tick()
        shown = indicator.reading(self.config, self.state, now)
        scene = self.state.scene
        beams = scene.beams(now)
        return {
            "protocol": self.config.protocol.value,
            "port": self.port.address,
            "pty": self.port.path if isinstance(self.port, PtyPort) else None,
            "connected": self._connected,
            "now_ms": now,
            "powered": shown is not None,
            "reading": None
            if shown is None
            else {
                "gross_kg": shown.gross_kg,
                "tare_kg": shown.tare_kg,
                "net_kg": shown.net_kg,
                "net_mode": shown.net_mode,
                "stable": shown.stable,
                "overload": shown.overload,
                "underload": shown.underload,
            },
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
                    "kind": v.truck.kind.value,
                    "tare_kg": v.truck.tare_kg,
                    "load_kg": v.load_at(now),
                    "front_m": v.front_m(now),
                    "leaving": v.depart_ms is not None,
                }
                for v in scene.visits
            ],
            "trucks_on_deck": list(scene.trucks_on(now)),
            "calibration_count": self.state.calibration_count,
            "faults": self.state.faults.summary(now),
        }
