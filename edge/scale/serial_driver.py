"""The serial scale driver (adapter): bytes from a pyserial port to kilograms on a queue.

``serial_for_url`` opens ``/dev/ttyUSB0``, pty paths and ``socket://host:port`` alike. pyserial
blocks, so every port call (open, read, write, close) runs on the driver's own one-thread
executor, in order, never on the event loop; reads return within ``read_timeout_s``. The bytes
go to the protocol's sans-IO parser, readings through the Converter, and everything the
consumer needs arrives on ``events`` (an ``asyncio.Queue``) as the typed events of
``edge.scale.events`` (shared with the Modbus driver):

- ``ScaleReading`` — a weight in whole kg (with its Reading and raw frame);
- ``ScaleFault`` — ``silent``/``resumed`` (no valid frame within ``silent_after_s``; frames
  again), ``disconnected``/``reconnected`` (any serial or socket error; the driver reopens with
  capped exponential backoff and jitter and never gives up).

Frame and conversion errors are counted (``frame_errors``, ``conversion_errors``, by reason
in ``error_counts``), not reported one by one. MT-SICS is polled with ``SI`` every
``poll_interval_s``; ``zero()``/``tare()`` send ``Z``/``T`` and await the reply.

*Stuck* (an unchanged weight while the beams show a truck moving) needs the IO driver's beam
states; its detector is ``edge.scale.faults.StuckDetector`` and is not wired in here yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Final, Protocol

import serial  # type: ignore[import-untyped]  # pyserial ships no type hints

from edge.errors import CommandTimeoutError, ConfigError, ConversionError, FrameError
from edge.scale.convert import Converter
from edge.scale.events import (
    QUEUE_SIZE,
    FaultKind,
    ScaleEvent,
    ScaleFault,
    ScaleReading,
    backoff_s,
    offer,
)
from edge.scale.faults import SilenceDetector, Transition
from edge.scale.mt_sics import SicsParser
from edge.scale.readings import Reading, ScaleProtocol, SicsErrorReply, SicsReply, Unit
from edge.scale.toledo import ToledoParser
from edge.scale.xk3190 import A9Parser, A12Parser, EqOrder, EqParser

#: Most bytes taken from the port in one read.
READ_CHUNK: Final = 4096

__all__ = [
    "QUEUE_SIZE",
    "FaultKind",
    "Parser",
    "ScaleEvent",
    "ScaleFault",
    "ScaleReading",
    "SerialScaleDriver",
    "make_parser",
]


class Parser(Protocol):
    """What the driver needs of a sans-IO parser."""

    def feed(self, data: bytes) -> Sequence[object]: ...


def make_parser(
    protocol: ScaleProtocol, *, unit: Unit = Unit.KILOGRAM, eq_order: EqOrder = EqOrder.REVERSED
) -> Parser:
    """A fresh parser for ``protocol``; ``unit`` for the formats that do not send one."""
    match protocol:
        case ScaleProtocol.MT_SICS:
            return SicsParser()
        case ScaleProtocol.TOLEDO:
            return ToledoParser()
        case ScaleProtocol.XK3190_A9:
            return A9Parser(unit=unit)
        case ScaleProtocol.XK3190_A12:
            return A12Parser()
        case ScaleProtocol.XK3190_EQ:
            return EqParser(order=eq_order, unit=unit)
        case ScaleProtocol.MODBUS:
            raise ConfigError(
                "modbus is not a serial protocol: use ModbusScaleDriver with a register map",
                option="protocol",
            )


def _read(port: Any) -> bytes:
    """Blocks up to the port's timeout for one byte, then takes whatever else is waiting."""
    first: bytes = port.read(1)
    if not first:
        return b""
    waiting = min(int(port.in_waiting), READ_CHUNK)
    rest: bytes = port.read(waiting) if waiting else b""
    return first + rest


class SerialScaleDriver:
    """Reads one indicator for as long as ``run()`` runs; see the module docstring."""

    def __init__(
        self,
        *,
        protocol: ScaleProtocol,
        url: str,
        division_kg: int | Decimal | str = 10,
        baudrate: int = 9600,
        unit: Unit = Unit.KILOGRAM,
        eq_order: EqOrder = EqOrder.REVERSED,
        poll_interval_s: float = 0.1,
        silent_after_s: float = 2.0,
        read_timeout_s: float = 0.05,
        open_timeout_s: float = 10.0,
        reply_timeout_s: float = 1.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        on_raw: Callable[[bytes], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.protocol = ScaleProtocol(protocol)
        self.url = url
        self.baudrate = baudrate
        self.converter = Converter(division_kg=division_kg)
        self.unit = unit
        self.eq_order = eq_order
        self.poll_interval_s = poll_interval_s
        self.silent_after_s = silent_after_s
        self.read_timeout_s = read_timeout_s
        self.open_timeout_s = open_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.on_raw = on_raw
        self.log = logger or logging.getLogger(__name__)
        self.events: asyncio.Queue[ScaleEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.error_counts: Counter[str] = Counter()
        self.frame_errors = 0
        self.conversion_errors = 0
        self.dropped_events = 0
        self.last_conversion_error: ConversionError | None = None
        self.connections = 0
        self._executor: ThreadPoolExecutor | None = None
        self._port: Any = None
        self._connected = asyncio.Event()
        self._pending: dict[str, asyncio.Future[SicsReply | SicsErrorReply]] = {}
        self._silence: SilenceDetector | None = None
        self._parser: Parser = make_parser(self.protocol, unit=unit, eq_order=eq_order)

    # --- public --------------------------------------------------------------------------

    async def run(self) -> None:
        """Read, reconnect, watch for silence — until cancelled. Never returns otherwise."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scale-serial")
        self._silence = SilenceDetector(
            timeout_ms=int(self.silent_after_s * 1000), last_frame_ms=self._now_ms()
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._connection_loop(), name=f"scale-read {self.url}")
                group.create_task(self._watch_silence(), name=f"scale-silence {self.url}")
                if self.protocol is ScaleProtocol.MT_SICS:
                    group.create_task(self._poll(), name=f"scale-poll {self.url}")
        except ExceptionGroup as group:
            config = [exc for exc in group.exceptions if isinstance(exc, ConfigError)]
            if config:  # a URL pyserial cannot open at all: fail at start, plainly
                raise config[0] from None
            raise
        finally:
            self._close_port()
            self._executor.shutdown(wait=False)  # the thread ends after its last short read

    async def zero(self) -> SicsReply | SicsErrorReply:
        """MT-SICS ``Z``: the reply (``Z A`` done, ``Z I``/``Z +``/``Z -`` refused)."""
        return await self.command("Z")

    async def tare(self) -> SicsReply | SicsErrorReply:
        """MT-SICS ``T``: the reply (``T S <tare> kg`` done, else refused)."""
        return await self.command("T")

    async def command(self, name: str) -> SicsReply | SicsErrorReply:
        """Send an MT-SICS command and await its reply, or CommandTimeoutError."""
        if self.protocol is not ScaleProtocol.MT_SICS:
            raise ConfigError(f"{self.protocol} takes no commands", option="protocol")
        future: asyncio.Future[SicsReply | SicsErrorReply]
        future = asyncio.get_running_loop().create_future()
        self._pending[name] = future
        try:
            async with asyncio.timeout(self.reply_timeout_s):
                await self._connected.wait()
                await self._write(f"{name}\r\n".encode())
                return await future
        except TimeoutError:
            raise CommandTimeoutError(
                f"no reply to {name} within {self.reply_timeout_s} s", command=name
            ) from None
        finally:
            if self._pending.get(name) is future:
                del self._pending[name]

    # --- tasks ---------------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        attempt = 0
        down_since: str | None = None
        while True:
            try:
                await self._open()
            except (OSError, serial.SerialException, TimeoutError) as exc:
                if down_since is None:
                    down_since = str(exc) or type(exc).__name__
                    self.log.warning("scale %s: cannot open: %s", self.url, down_since)
                    self._emit(
                        ScaleFault(
                            kind=FaultKind.DISCONNECTED, at_ms=self._now_ms(), detail=down_since
                        )
                    )
                attempt = await self._back_off(attempt)
                continue
            if down_since is not None:
                self.log.info("scale %s: reconnected", self.url)
                self._emit(ScaleFault(kind=FaultKind.RECONNECTED, at_ms=self._now_ms()))
                down_since = None
            attempt = 0
            try:
                await self._read_loop()
            except (OSError, serial.SerialException, TimeoutError) as exc:
                down_since = str(exc) or type(exc).__name__
                self.log.warning("scale %s: disconnected: %s", self.url, down_since)
                self._emit(
                    ScaleFault(kind=FaultKind.DISCONNECTED, at_ms=self._now_ms(), detail=down_since)
                )
            finally:
                self._close_port()
            attempt = await self._back_off(attempt)

    async def _back_off(self, attempt: int) -> int:
        await asyncio.sleep(
            backoff_s(attempt, initial_s=self.backoff_initial_s, max_s=self.backoff_max_s)
        )
        return min(attempt + 1, 30)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._open_blocking)
        try:
            async with asyncio.timeout(self.open_timeout_s):
                self._port = await asyncio.shield(future)
        except BaseException:
            # the open may still finish on the thread: close what it opens
            future.add_done_callback(_close_when_done)
            raise
        self.connections += 1
        self._parser = make_parser(self.protocol, unit=self.unit, eq_order=self.eq_order)
        self._connected.set()

    def _open_blocking(self) -> Any:
        try:
            return serial.serial_for_url(
                self.url,
                baudrate=self.baudrate,
                timeout=self.read_timeout_s,
                write_timeout=self.reply_timeout_s,
            )
        except ValueError as exc:  # an unknown URL scheme or a baud rate the port refuses
            raise ConfigError(f"cannot open {self.url!r}: {exc}", option="url") from exc

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        port = self._port
        guard = self.read_timeout_s + self.open_timeout_s
        while True:
            async with asyncio.timeout(guard):
                data = await loop.run_in_executor(self._executor, _read, port)
            if data:
                self._feed(data)

    async def _poll(self) -> None:
        while True:
            await self._connected.wait()
            with contextlib.suppress(OSError, serial.SerialException, TimeoutError):
                await self._write(b"SI\r\n")  # a failed write shows up as a read error
            await asyncio.sleep(self.poll_interval_s)

    async def _watch_silence(self) -> None:
        silence = self._silence
        if silence is None:
            return
        while True:
            wait_ms = max(silence.due_ms() - self._now_ms(), 10)
            await asyncio.sleep(wait_ms / 1000)
            if silence.tick(now_ms=self._now_ms()) is Transition.RAISED:
                self.log.warning("scale %s: silent for %.1f s", self.url, self.silent_after_s)
                self._emit(
                    ScaleFault(
                        kind=FaultKind.SILENT,
                        at_ms=self._now_ms(),
                        detail=f"no valid frame for {self.silent_after_s} s",
                    )
                )
            if silence.silent:
                await asyncio.sleep(self.silent_after_s)  # until a frame clears it

    # --- helpers -------------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        port = self._port
        if port is None:
            raise serial.SerialException("not connected")
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.reply_timeout_s + self.read_timeout_s):
            await loop.run_in_executor(self._executor, port.write, data)

    def _feed(self, data: bytes) -> None:
        if self.on_raw is not None:
            self.on_raw(data)
        for event in self._parser.feed(data):
            if isinstance(event, Reading):
                self._reading(event)
            elif isinstance(event, FrameError):
                self.frame_errors += 1
                self.error_counts[f"frame:{event.reason}"] += 1
            elif isinstance(event, SicsReply | SicsErrorReply):
                self._reply(event)

    def _reading(self, reading: Reading) -> None:
        now = self._now_ms()
        if self._silence is not None and self._silence.frame(now_ms=now) is Transition.CLEARED:
            self.log.info("scale %s: frames again", self.url)
            self._emit(ScaleFault(kind=FaultKind.RESUMED, at_ms=now))
        try:
            weight = self.converter.convert(reading)
        except ConversionError as exc:
            self.conversion_errors += 1
            self.last_conversion_error = exc
            self.error_counts[f"conversion:{exc.reason}"] += 1
            if self.error_counts[f"conversion:{exc.reason}"] == 1:  # a config error: say it once
                self.log.warning("scale %s: reading dropped: %s", self.url, exc.message)
            return
        self._emit(ScaleReading(weight=weight, at_ms=now))

    def _reply(self, reply: SicsReply | SicsErrorReply) -> None:
        if isinstance(reply, SicsErrorReply):
            self.error_counts[f"reply:{reply.code.value}"] += 1
            for waiting in self._pending.values():  # an error answers the oldest command
                if not waiting.done():
                    waiting.set_result(reply)
                    return
            return
        future = self._pending.get(reply.command)
        if future is not None and not future.done():
            future.set_result(reply)

    def _emit(self, event: ScaleEvent) -> None:
        if offer(self.events, event):
            self.dropped_events += 1

    def _close_port(self) -> None:
        self._connected.clear()
        port, self._port = self._port, None
        if port is not None and self._executor is not None:
            # after any read in flight, on the same thread: never close under a read
            self._executor.submit(_close_quietly, port)

    def _now_ms(self) -> int:
        return int(asyncio.get_running_loop().time() * 1000)


def _close_quietly(port: Any) -> None:
    with contextlib.suppress(Exception):
        port.close()


def _close_when_done(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        _close_quietly(future.result())
