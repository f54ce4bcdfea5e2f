"""The Modbus IO driver (adapter): barrier, lights and horn out, beams and limit switch in.

Every transaction goes through a ``ModbusLine``, which may be shared with a weight transmitter
on the same RS-485 pair (PROTOCOLS.md §4: IO module unit 1, transmitter unit 2). ``run()`` polls
the discrete inputs every ``poll_interval_s`` and the coils every ``coil_poll_interval_s`` (they
change only when someone writes them; every command reads them back anyway), until cancelled,
and puts typed events on ``events`` (an ``asyncio.Queue``):

- ``BeamsChanged`` — a snapshot of the beams and the barrier-up switch, whenever it changes
  (the first successful read is always reported);
- ``CoilsChanged`` — a snapshot of the relays as read back, whenever it changes;
- ``IoFault`` — ``disconnected``/``reconnected``, ``no_response``/``exception`` and ``resumed``
  (on transitions, not per failed poll), ``mismatch`` (a command that did not take effect).

The polling never dies: a failed transaction is reported, polling backs off (capped exponential
with jitter) while the module is unreachable and goes back to its rate on the first success.

Commands read the coils back and raise ``IoCommandError`` when the module does not show what was
written (``mismatch``), when a barrier command is not confirmed by the barrier-up limit switch
within ``confirm_timeout_s`` (``not_confirmed``), or when a transaction fails (``failed``); the
first two are also reported as an ``IoFault(kind=mismatch)``.

The barrier: in ``pulse`` mode (the usual barrier controller) ``raise_barrier`` closes the
barrier relay for ``pulse_ms`` and the controller does the rest; it lowers the barrier by itself
(the simulated one once a truck has passed and cleared the exit beam, or after its hold time),
so ``lower_barrier`` is refused in pulse mode. In ``level`` mode the barrier is up while the
coil is on: ``raise_barrier`` switches it on, ``lower_barrier`` off. The only feedback is the
*up* limit switch: raising is confirmed when it closes, lowering when it opens (the arm has left
the up position; there is no down switch in the map).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable
from enum import StrEnum
from typing import Final, TypeVar

from edge.errors import (
    ConfigError,
    IoCommandError,
    LineDownError,
    ModbusError,
    ModbusExceptionError,
)
from edge.io.events import BeamsChanged, CoilsChanged, IoEvent, IoFault, IoFaultKind
from edge.io.iomap import DEFAULT_IO_MAP, IoMap
from edge.modbus.line import ModbusLine

#: Events kept for a consumer that falls behind; the oldest go first (and are counted).
QUEUE_SIZE: Final = 1000

_T = TypeVar("_T")


class BarrierMode(StrEnum):
    """How the barrier controller takes the barrier coil."""

    PULSE = "pulse"  # a pulse raises it; the controller lowers it
    LEVEL = "level"  # up while the coil is on


class IoDriver:
    """One IO module on a Modbus line; see the module docstring."""

    def __init__(
        self,
        *,
        line: ModbusLine,
        io_map: IoMap = DEFAULT_IO_MAP,
        device_id: int = 1,
        barrier_mode: BarrierMode | str = BarrierMode.PULSE,
        pulse_ms: int = 500,
        poll_interval_s: float = 0.05,
        coil_poll_interval_s: float = 1.0,
        confirm_timeout_s: float = 5.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        logger: logging.Logger | None = None,
    ) -> None:
        try:
            self.barrier_mode = BarrierMode(barrier_mode)
        except ValueError:
            raise ConfigError(
                f"barrier mode {barrier_mode!r} is not 'pulse' or 'level'", option="barrier_mode"
            ) from None
        if not 0 <= device_id <= 247:
            raise ConfigError(f"unit id {device_id} is not 0-247", option="device_id")
        if not 1 <= pulse_ms <= 60_000:
            raise ConfigError(f"pulse of {pulse_ms} ms is not 1-60000 ms", option="pulse_ms")
        for option, value in (
            ("poll_interval_s", poll_interval_s),
            ("coil_poll_interval_s", coil_poll_interval_s),
            ("confirm_timeout_s", confirm_timeout_s),
            ("backoff_initial_s", backoff_initial_s),
            ("backoff_max_s", backoff_max_s),
        ):
            if not 0 < value < 3600:  # written so that NaN fails too
                raise ConfigError(f"{value!r} is not a number of seconds > 0", option=option)
        self.line = line
        self.io_map = io_map
        self.device_id = device_id
        self.pulse_ms = pulse_ms
        self.poll_interval_s = poll_interval_s
        self.coil_poll_interval_s = coil_poll_interval_s
        self.confirm_timeout_s = confirm_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.log = logger or logging.getLogger(__name__)
        self.events: asyncio.Queue[IoEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.dropped_events = 0
        #: The latest snapshots read (None before the first successful read).
        self.beams: BeamsChanged | None = None
        self.coils: CoilsChanged | None = None
        self._down: IoFaultKind | None = None  # the fault reported while transactions fail
        self._coils_due = 0.0

    # --- polling -------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll inputs (and coils) until cancelled; never returns otherwise."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                await self.read_inputs()
                if loop.time() >= self._coils_due:
                    await self.read_coils()
            except ModbusError:
                self._coils_due = 0.0  # after an outage, read the coils first thing
                cap = min(self.backoff_max_s, self.backoff_initial_s * 2**attempt)
                attempt = min(attempt + 1, 30)
                await asyncio.sleep(cap * random.uniform(0.5, 1.0))  # noqa: S311  # jitter
                continue
            attempt = 0
            await asyncio.sleep(self.poll_interval_s)

    async def read_inputs(self) -> BeamsChanged:
        """One FC02 read; reported on ``events`` when it differs from the last one."""
        first, count = self.io_map.input_span
        bits = await self._transaction(
            self.line.read_discrete_inputs(first, count, device_id=self.device_id)
        )
        m = self.io_map
        beams = BeamsChanged(
            entry=bits[m.entry - first],
            front=bits[m.deck_front - first],
            rear=bits[m.deck_rear - first],
            exit=bits[m.exit - first],
            barrier_up=bits[m.barrier_up - first],
            at_ms=self._now_ms(),
        )
        if not beams.same_as(self.beams):
            self._emit(beams)
        self.beams = beams
        return beams

    async def read_coils(self) -> CoilsChanged:
        """One FC01 read; reported on ``events`` when it differs from the last one."""
        loop = asyncio.get_running_loop()
        first, count = self.io_map.coil_span
        bits = await self._transaction(self.line.read_coils(first, count, device_id=self.device_id))
        m = self.io_map
        coils = CoilsChanged(
            barrier=bits[m.barrier - first],
            red=bits[m.red - first],
            green=bits[m.green - first],
            horn=bits[m.horn - first],
            at_ms=self._now_ms(),
        )
        if not coils.same_as(self.coils):
            self._emit(coils)
        self.coils = coils
        self._coils_due = loop.time() + self.coil_poll_interval_s
        return coils

    # --- commands ------------------------------------------------------------------------

    async def raise_barrier(self) -> BeamsChanged:
        """Pulse (or switch on) the barrier coil; return the inputs once the limit switch shows
        the barrier up. ``IoCommandError`` when it does not within ``confirm_timeout_s``."""
        command = "raise_barrier"
        if self.barrier_mode is BarrierMode.PULSE:
            await self._pulse(command, "barrier")
        else:
            await self._set(command, {"barrier": True})
        return await self._await_barrier(command, up=True)

    async def lower_barrier(self) -> BeamsChanged:
        """Level mode: switch the barrier coil off; return the inputs once the limit switch
        opens. In pulse mode the barrier controller lowers it by itself: ``ConfigError``."""
        command = "lower_barrier"
        if self.barrier_mode is BarrierMode.PULSE:
            raise ConfigError(
                "in pulse mode the barrier controller lowers the barrier itself",
                option="barrier_mode",
            )
        await self._set(command, {"barrier": False})
        return await self._await_barrier(command, up=False)

    async def set_lights(
        self, *, red: bool | None = None, green: bool | None = None
    ) -> CoilsChanged:
        """Switch the lights given (None: leave as is); the coils as read back."""
        changes = {name: on for name, on in (("red", red), ("green", green)) if on is not None}
        if not changes:
            return await self._command_read("set_lights")
        return await self._set("set_lights", changes)

    async def horn(self, on: bool) -> CoilsChanged:
        """Switch the horn on or off; the coils as read back."""
        return await self._set("horn", {"horn": on})

    async def set_coil(self, signal: str, on: bool) -> CoilsChanged:
        """Switch one coil (``barrier``, ``red``, ``green``, ``horn``) and read it back. The
        barrier this way skips the limit switch: use ``raise_barrier`` to have it confirmed."""
        self.io_map.coil(signal)  # ValueError for a name that is no coil
        return await self._set(f"set_{signal}", {signal: on})

    async def pulse(self, signal: str) -> CoilsChanged:
        """Close one coil for ``pulse_ms``, then open it again; both confirmed by readback."""
        self.io_map.coil(signal)
        return await self._pulse(f"pulse_{signal}", signal)

    # --- machinery -----------------------------------------------------------------------

    async def _set(self, command: str, changes: dict[str, bool]) -> CoilsChanged:
        """Write each coil (FC05), read the coils back, compare."""
        for signal, on in changes.items():
            await self._command_step(
                command,
                self.line.write_coil(self.io_map.coil(signal), on, device_id=self.device_id),
            )
        coils = await self._command_read(command)
        wrong = [name for name, on in changes.items() if getattr(coils, name) is not on]
        if wrong:
            shown = ", ".join(
                f"{name} {'on' if changes[name] else 'off'} but read back "
                f"{'on' if getattr(coils, name) else 'off'}"
                for name in wrong
            )
            raise self._not_done(command, "mismatch", f"wrote {shown}")
        return coils

    async def _pulse(self, command: str, signal: str) -> CoilsChanged:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await self._set(command, {signal: True})
            await asyncio.sleep(max(0.0, started + self.pulse_ms / 1000 - loop.time()))
        except BaseException:
            # never leave a relay closed: a failed write or a cancel still opens it
            with contextlib.suppress(IoCommandError):
                await self._release(command, signal)
            raise
        return await self._release(command, signal)

    async def _release(self, command: str, signal: str) -> CoilsChanged:
        """Open a coil, retrying failed transactions until ``confirm_timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.confirm_timeout_s
        while True:
            try:
                return await self._set(command, {signal: False})
            except IoCommandError as exc:
                if exc.reason != "failed" or loop.time() >= deadline:
                    raise
            await asyncio.sleep(self.poll_interval_s)

    async def _await_barrier(self, command: str, *, up: bool) -> BeamsChanged:
        """Read the inputs until the limit switch says ``up`` or ``confirm_timeout_s`` passes.
        Each read is bounded by the line; the deadline is checked between reads, so no
        transaction is cut off halfway."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.confirm_timeout_s
        last_error = ""
        while True:
            try:
                beams = await self.read_inputs()
            except ModbusError as exc:
                last_error = f" (last read failed: {exc.message})"
            else:
                if beams.barrier_up is up:
                    return beams
            if loop.time() >= deadline:
                switch = "close (barrier up)" if up else "open (barrier leaving up)"
                raise self._not_done(
                    command,
                    "not_confirmed",
                    f"the barrier-up limit switch did not {switch} within "
                    f"{self.confirm_timeout_s:g} s{last_error}",
                )
            await asyncio.sleep(self.poll_interval_s)

    async def _command_read(self, command: str) -> CoilsChanged:
        try:
            return await self.read_coils()
        except ModbusError as exc:
            raise IoCommandError(
                f"{command}: cannot read the coils back: {exc.message}",
                reason="failed",
                command=command,
            ) from exc

    async def _command_step(self, command: str, step: Awaitable[_T]) -> _T:
        try:
            return await self._transaction(step)
        except ModbusError as exc:
            raise IoCommandError(
                f"{command}: {exc.message}", reason="failed", command=command
            ) from exc

    def _not_done(self, command: str, reason: str, detail: str) -> IoCommandError:
        message = f"{command}: {detail}"
        self.log.warning("io unit %d: %s", self.device_id, message)
        self._emit(IoFault(kind=IoFaultKind.MISMATCH, at_ms=self._now_ms(), detail=message))
        return IoCommandError(message, reason=reason, command=command)

    async def _transaction(self, step: Awaitable[_T]) -> _T:
        """Await one line call; report the line's health on transitions."""
        try:
            result = await step
        except ModbusError as exc:
            self._failed(exc)
            raise
        if self._down is not None:
            kind = (
                IoFaultKind.RECONNECTED
                if self._down is IoFaultKind.DISCONNECTED
                else IoFaultKind.RESUMED
            )
            self._down = None
            self.log.info("io unit %d: %s", self.device_id, kind.value)
            self._emit(IoFault(kind=kind, at_ms=self._now_ms()))
        return result

    def _failed(self, exc: ModbusError) -> None:
        if isinstance(exc, LineDownError):
            kind = IoFaultKind.DISCONNECTED
        elif isinstance(exc, ModbusExceptionError):
            kind = IoFaultKind.EXCEPTION
        else:
            kind = IoFaultKind.NO_RESPONSE
        if kind is self._down:
            return
        if self._down is IoFaultKind.DISCONNECTED and kind is IoFaultKind.NO_RESPONSE:
            return  # a line coming back often fails a read or two first: still one outage
        self._down = kind
        self.log.warning("io unit %d: %s: %s", self.device_id, kind.value, exc.message)
        self._emit(IoFault(kind=kind, at_ms=self._now_ms(), detail=exc.message))

    def _emit(self, event: IoEvent) -> None:
        if self.events.full():
            self.events.get_nowait()
            self.dropped_events += 1
        self.events.put_nowait(event)

    @staticmethod
    def _now_ms() -> int:
        return int(asyncio.get_running_loop().time() * 1000)
