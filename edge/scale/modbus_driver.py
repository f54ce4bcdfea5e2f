"""The Modbus scale driver (adapter): a weight transmitter polled through a register map.

The transmitter hangs on a ``ModbusLine`` it shares with other units (the IO module); the
driver polls it every ``poll_interval_s`` with the map's ``read_plan()`` (FC03 or FC04), decodes
the registers (``edge.modbus.regmap.decode``), turns the sample into a ``Reading`` and, through
the same ``Converter`` as the serial indicators, into whole kilograms. The consumer interface
is the serial driver's: ``run()`` until cancelled, and ``events`` (``edge.scale.events``):

- ``ScaleReading`` — the weight the transmitter shows (net in net mode, else gross), stable =
  not in motion, overload/underload from the status bits, the tare where the map has one, and
  the registers read;
- ``ScaleFault`` — ``silent``/``resumed`` (no valid answer within ``silent_after_s``: timeouts,
  exception answers, garbled replies), ``disconnected``/``reconnected`` (the line cannot be
  opened; retried with capped exponential backoff and jitter, forever);
- ``ScaleCalibration`` — the calibration counter or the division register changed between
  two polls (also across a disconnect: the last values read are kept).

The polling task never dies: every failure is a typed ``ModbusError`` or a timeout, counted in
``error_counts`` by reason (``no_response``, ``line_down``, ``exception:N``, ``timeout``,
``conversion:…``; ``unexpected`` for a bug of ours, logged with its traceback), and the
next poll follows. A merged read answered with exception 02 (the
gap between two values holds unmapped registers) falls back to one read per value.

``zero()``, ``tare()``, ``clear_tare()`` write the map's command code with FC06; exception 04
is ``CommandRefusedError`` (moving, outside the zero range).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from edge.errors import (
    CommandRefusedError,
    ConfigError,
    ConversionError,
    LineDownError,
    ModbusError,
    ModbusExceptionError,
)
from edge.modbus.line import ModbusLine
from edge.modbus.regmap import Area, Command, RegisterMap, Sample, decode
from edge.scale.convert import Converter
from edge.scale.events import (
    QUEUE_SIZE,
    Calibration,
    FaultKind,
    ScaleCalibration,
    ScaleEvent,
    ScaleFault,
    ScaleReading,
    backoff_s,
    offer,
)
from edge.scale.faults import SilenceDetector, Transition
from edge.scale.readings import Reading, ScaleProtocol, Unit

#: Modbus exception codes meaning "cannot do that now" for a command.
_REFUSED: Final = frozenset({4})
#: Exception 02: illegal data address.
_ILLEGAL_ADDRESS: Final = 2


def reading_from_sample(sample: Sample, *, raw: bytes = b"") -> Reading:
    """The weight a transmitter shows, as a ``Reading`` (pure).

    Shown is the net in net mode (the net register, else the displayed one, else gross minus
    tare), else the gross; with no mode bit in the map, the displayed value where there is one.
    A value that is not finite (a float32 NaN/inf) is a ``ConversionError``; exact values are
    kept exact (a float32's binary value, in as many decimals as it takes).
    """
    shown, net = _shown(sample)
    values = [shown] if sample.tare is None else [shown, sample.tare]
    for value in values:
        if not value.is_finite():
            text = str(value)
            raise ConversionError(f"{text} kg is not a number", reason="not_finite", value=text)
    decimals = max(0, *(-int(value.as_tuple().exponent) for value in values))
    counts = [int(value.scaleb(decimals)) for value in values]
    return Reading(
        protocol=ScaleProtocol.MODBUS,
        counts=counts[0],
        decimals=decimals,
        unit=Unit.KILOGRAM,
        stable=None if sample.motion is None else not sample.motion,
        net=net,
        overload=bool(sample.overload),
        underload=bool(sample.underload),
        tare=counts[1] if len(counts) > 1 else None,
        raw=raw,
    )


def _shown(sample: Sample) -> tuple[Decimal, bool | None]:
    if sample.net_mode is None:
        if sample.displayed is not None:
            return sample.displayed, None
        return sample.gross, False
    if not sample.net_mode:
        return sample.gross, False
    for net in (sample.net, sample.displayed):
        if net is not None:
            return net, True
    if sample.tare is not None:
        return sample.gross - sample.tare, True
    return sample.gross, False  # net mode, but the map carries nothing to show it by


class ModbusScaleDriver:
    """Polls one weight transmitter for as long as ``run()`` runs; see the module docstring.

    The line is shared and not owned: whoever made it closes it.
    """

    def __init__(
        self,
        *,
        line: ModbusLine,
        regmap: RegisterMap,
        device_id: int = 2,
        division_kg: int | Decimal | str = 10,
        poll_interval_s: float = 0.1,
        poll_timeout_s: float | None = None,
        silent_after_s: float = 2.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        logger: logging.Logger | None = None,
    ) -> None:
        if not 1 <= device_id <= 247:
            raise ConfigError(f"a Modbus unit id is 1-247, not {device_id}", option="unit_id")
        self.line = line
        self.regmap = regmap
        self.device_id = device_id
        self.converter = Converter(division_kg=division_kg)
        self.poll_interval_s = poll_interval_s
        plan_reads = len(regmap.read_plan(max_gap=0))
        # the line bounds each transaction by its own timeout; this bounds a whole poll
        self.poll_timeout_s = poll_timeout_s or line.timeout_s * plan_reads + 1.0
        self.silent_after_s = silent_after_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.log = logger or logging.getLogger(__name__)
        self.where = f"scale {line.address} unit {device_id}"
        self.events: asyncio.Queue[ScaleEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.error_counts: Counter[str] = Counter()
        self.polls = 0
        self.readings = 0
        self.conversion_errors = 0
        self.dropped_events = 0
        self.last_conversion_error: ConversionError | None = None
        self.last_error: ModbusError | TimeoutError | None = None
        #: The counter and division last read (None before the first answer).
        self.calibration: Calibration | None = None
        self.plan = regmap.read_plan()
        self._silence: SilenceDetector | None = None
        self._down: str | None = None
        self._polled = asyncio.Event()

    # --- public --------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll, back off, watch for silence — until cancelled. Never returns otherwise."""
        self._silence = SilenceDetector(
            timeout_ms=int(self.silent_after_s * 1000), last_frame_ms=self._now_ms()
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(self._poll_loop(), name=f"scale-poll {self.where}")
            group.create_task(self._watch_silence(), name=f"scale-silence {self.where}")

    async def next_poll(self) -> None:
        """Wait until the poll under way (or the next one) has ended, whatever its outcome:
        for a consumer that watches the counters (diagnostics, tests)."""
        await self._polled.wait()

    async def zero(self) -> None:
        """Set zero; ``CommandRefusedError`` when the transmitter refuses (moving, range)."""
        await self.command(Command.ZERO)

    async def tare(self) -> None:
        """Tare the load on the deck; ``CommandRefusedError`` when refused (moving)."""
        await self.command(Command.TARE)

    async def clear_tare(self) -> None:
        """Clear the tare (back to gross)."""
        await self.command(Command.CLEAR_TARE)

    async def command(self, command: Command) -> None:
        """Write the map's code for ``command`` (FC06). ``ConfigError`` when the map has no
        code for it; ``CommandRefusedError`` for exception 04; any other ``ModbusError`` as
        the line raised it; ``TimeoutError`` past ``poll_timeout_s``."""
        code = self.regmap.commands.get(command)
        if code is None or self.regmap.command is None:
            raise ConfigError(
                f"register map {self.regmap.name!r} has no {command.value} command",
                option="commands",
            )
        try:
            async with asyncio.timeout(self.poll_timeout_s):
                await self.line.write_register(self.regmap.command, code, device_id=self.device_id)
        except ModbusExceptionError as exc:
            if exc.code not in _REFUSED:
                raise
            raise CommandRefusedError(
                f"{self.where}: {command.value} refused (exception {exc.code})",
                device_id=exc.device_id,
                function=exc.function,
                address=exc.address,
                code=exc.code,
                command=command.value,
            ) from exc

    # --- tasks ---------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            started = loop.time()
            self.polls += 1
            try:
                async with asyncio.timeout(self.poll_timeout_s):
                    registers = await self._read()
            except LineDownError as exc:
                self._failed(exc, "line_down")
                self._line_down(str(exc))
                self._poll_ended()
                await asyncio.sleep(
                    backoff_s(attempt, initial_s=self.backoff_initial_s, max_s=self.backoff_max_s)
                )
                attempt += 1
                continue
            except ModbusExceptionError as exc:
                self._line_up()
                self._failed(exc, f"exception:{exc.code}")
                if exc.code == _ILLEGAL_ADDRESS and self._fall_back():
                    self._poll_ended()
                    continue  # at once, one read per value
            except ModbusError as exc:
                self._line_up()
                self._failed(exc, exc.reason)
            except TimeoutError as exc:
                self._failed(exc, "timeout")
            except Exception:  # the polling task must outlive our own bugs too
                self.error_counts["unexpected"] += 1
                self.log.exception("%s: poll failed unexpectedly", self.where)
            else:
                self._line_up()
                try:
                    self._sample(registers)
                except Exception:  # as above: count, say, poll on
                    self.error_counts["unexpected"] += 1
                    self.log.exception("%s: an answer could not be handled", self.where)
            attempt = 0
            self._poll_ended()
            await asyncio.sleep(max(0.0, started + self.poll_interval_s - loop.time()))

    async def _read(self) -> dict[int, int]:
        read = self.line.read_holding if self.regmap.area is Area.HOLDING else self.line.read_input
        registers: dict[int, int] = {}
        for start, count in self.plan:
            words = await read(start, count, device_id=self.device_id)
            registers.update(zip(range(start, start + count), words, strict=False))
        return registers

    async def _watch_silence(self) -> None:
        silence = self._silence
        if silence is None:
            return
        while True:
            wait_ms = max(silence.due_ms() - self._now_ms(), 10)
            await asyncio.sleep(wait_ms / 1000)
            if silence.tick(now_ms=self._now_ms()) is Transition.RAISED:
                why = "" if self.last_error is None else f" (last: {_describe(self.last_error)})"
                detail = f"no valid answer for {self.silent_after_s} s{why}"
                self.log.warning("%s: %s", self.where, detail)
                self._emit(ScaleFault(kind=FaultKind.SILENT, at_ms=self._now_ms(), detail=detail))
            if silence.silent:
                await asyncio.sleep(self.silent_after_s)  # until an answer clears it

    # --- helpers -------------------------------------------------------------------------

    def _sample(self, registers: Mapping[int, int]) -> None:
        now = self._now_ms()
        if self._silence is not None and self._silence.frame(now_ms=now) is Transition.CLEARED:
            self.log.info("%s: answers again", self.where)
            self._emit(ScaleFault(kind=FaultKind.RESUMED, at_ms=now))
        try:
            sample = decode(self.regmap, registers)
        except KeyError as exc:  # a short answer; the line should never let one through
            self.error_counts["decode"] += 1
            self.log.warning("%s: register %s missing from the answer", self.where, exc)
            return
        self._calibration(sample, now)
        ordered = tuple(sorted(registers.items()))
        raw = b"".join(value.to_bytes(2, "big") for _, value in ordered)
        try:
            weight = self.converter.convert(reading_from_sample(sample, raw=raw))
        except ConversionError as exc:
            self.conversion_errors += 1
            self.last_conversion_error = exc
            key = f"conversion:{exc.reason}"
            self.error_counts[key] += 1
            if self.error_counts[key] == 1:  # a config error: say it once
                self.log.warning("%s: reading dropped: %s", self.where, exc.message)
            return
        self.readings += 1
        self._emit(ScaleReading(weight=weight, at_ms=now, registers=ordered))

    def _calibration(self, sample: Sample, now: int) -> None:
        if sample.calibration is None and sample.division_kg is None:
            return
        current = Calibration(counter=sample.calibration, division_kg=sample.division_kg)
        previous, self.calibration = self.calibration, current
        if previous is None:
            division = sample.division_kg
            if division is not None and division != self.converter.division_kg:
                self.log.warning(
                    "%s: the transmitter's division is %d kg, configured %d kg",
                    self.where,
                    division,
                    self.converter.division_kg,
                )
            return
        if previous != current:
            self.log.warning("%s: calibration changed: %s -> %s", self.where, previous, current)
            self._emit(ScaleCalibration(previous=previous, current=current, at_ms=now))

    def _fall_back(self) -> bool:
        """Switch to one read per value after a merged read got exception 02 (once)."""
        single = self.regmap.read_plan(max_gap=0)
        if self.plan == single:
            return False
        self.log.warning(
            "%s: a merged read was refused (exception 02); reading each value on its own",
            self.where,
        )
        self.plan = single
        return True

    def _failed(self, exc: ModbusError | TimeoutError, key: str) -> None:
        self.error_counts[key] += 1
        self.last_error = exc
        level = logging.WARNING if self.error_counts[key] == 1 else logging.DEBUG
        self.log.log(level, "scale: %s", _describe(exc))

    def _line_down(self, why: str) -> None:
        if self._down is None:
            self._down = why
            self.log.warning("%s: line down: %s", self.where, why)
            self._emit(ScaleFault(kind=FaultKind.DISCONNECTED, at_ms=self._now_ms(), detail=why))

    def _line_up(self) -> None:
        if self._down is not None:
            self._down = None
            self.log.info("%s: line up again", self.where)
            self._emit(ScaleFault(kind=FaultKind.RECONNECTED, at_ms=self._now_ms()))

    def _poll_ended(self) -> None:
        ended, self._polled = self._polled, asyncio.Event()
        ended.set()

    def _emit(self, event: ScaleEvent) -> None:
        if offer(self.events, event):
            self.dropped_events += 1

    def _now_ms(self) -> int:
        return int(asyncio.get_running_loop().time() * 1000)


def _describe(exc: ModbusError | TimeoutError) -> str:
    if isinstance(exc, ModbusError):
        return exc.message
    return "poll timed out"
