"""Yaohua XK3190 continuous formats (PROTOCOLS.md §3), sans-IO: A9 ("tF=0"), A12(E), "=".

Choices where PROTOCOLS.md leaves room (documented here, tested):
- A9 and "=" name no unit: it is configured (``unit=``, default kg), as the indicator's display
  is (a deck shown in tonnes with two decimals sends ``4900`` for 49 t);
- A9 and "=" send no motion or gross/net status: ``stable`` and ``net`` are ``None``; A12(E)
  sends gross/net (``G``/``N``) but no motion: ``stable`` is ``None``;
- A12(E) and "=" values may be seven digits without a point (no decimals); leading spaces
  read as zeros; the A9 check characters are accepted in either case of hex;
- "=" digit order is configured (``EqOrder``): ``reversed`` (least significant first, sign
  last: ``=000.3000`` is 3.000) or ``forward`` (the same frame read backwards after the ``=``,
  sign first: ``=0003.000``); "=" has no checksum, so a garbled digit cannot be detected;
- A12(E) frames end in CR LF, so they are found from their end: the 15 bytes before each LF
  are tried as a frame and whatever precedes them on the line is garbage.
"""

from __future__ import annotations

import abc
from enum import StrEnum
from functools import reduce
from typing import Final

from edge.errors import FrameError
from edge.scale.framing import GarbageRun, frame_error, parse_number
from edge.scale.readings import Reading, ScaleProtocol, Unit

STX: Final = 0x02
ETX: Final = 0x03
A9_SIZE: Final = 12
A12_SIZE: Final = 15
EQ_SIZE: Final = 9
#: An A12(E) line longer than this without LF is cut, keeping a frame's worth of its end.
A12_LINE_CAP: Final = 64
_HEX: Final = frozenset(b"0123456789ABCDEFabcdef")

Event = Reading | FrameError


class EqOrder(StrEnum):
    """Digit order of the "=" format."""

    REVERSED = "reversed"
    FORWARD = "forward"


def xor(data: bytes | bytearray) -> int:
    """XOR of every byte."""
    return reduce(lambda acc, b: acc ^ b, data, 0)


def _check(pair: bytes) -> int | None:
    """The value of two hex characters, or None."""
    if len(pair) != 2 or not all(b in _HEX for b in pair):
        return None
    return int(pair, 16)


class _StartByteParser(abc.ABC):
    """Frames of one fixed size that begin with a start byte found nowhere else inside them.

    A candidate is judged once all its bytes are here. A bad one is dropped up to the next
    start byte inside it, where the next frame may begin (pymodbus's "hunting").
    """

    _protocol: ScaleProtocol
    _start: int
    _size: int

    def __init__(self, *, unit: Unit = Unit.KILOGRAM) -> None:
        self._buffer = bytearray()
        self._garbage = GarbageRun(self._protocol)
        self._unit = Unit(unit)

    @abc.abstractmethod
    def _decode(self, frame: bytes) -> Reading | tuple[str, str]:
        """The reading, or (reason, why)."""

    def feed(self, data: bytes) -> list[Event]:
        """Events completed by ``data`` (possibly none: more bytes needed)."""
        self._buffer += data
        buf = self._buffer
        out: list[Event] = []
        errors: list[FrameError] = []
        while buf:
            start = buf.find(self._start)
            start = len(buf) if start < 0 else start
            if start:
                self._garbage.skip(buf[:start], errors)
                del buf[:start]
            elif len(buf) >= self._size:
                frame = bytes(buf[: self._size])
                decoded = self._decode(frame)
                self._garbage.flush(errors)
                if isinstance(decoded, Reading):
                    out.extend(errors)
                    out.append(decoded)
                    del buf[: self._size]
                    errors.clear()
                    continue
                reason, why = decoded
                end = self._size
                if reason != "checksum":
                    inner = frame.find(self._start, 1)
                    end = end if inner < 0 else inner
                errors.append(frame_error(self._protocol, reason, frame[:end], why))
                del buf[:end]
            else:
                break
            out.extend(errors)
            errors.clear()
        return out

    def flush(self) -> list[Event]:
        """At the end of a stream: the pending garbage and half frame as errors."""
        errors: list[FrameError] = []
        self._garbage.skip(self._buffer, errors)
        self._garbage.flush(errors)
        self._buffer.clear()
        return list(errors)


class A9Parser(_StartByteParser):
    """XK3190-A9 continuous output: ``STX sign 6 digits decimals XH XL ETX``."""

    _protocol = ScaleProtocol.XK3190_A9
    _start = STX
    _size = A9_SIZE

    def _decode(self, frame: bytes) -> Reading | tuple[str, str]:
        sign, digits, places = frame[1:2], frame[2:8], frame[8]
        check = _check(frame[9:11])
        if frame[11] != ETX or check is None:
            return "syntax", "no ETX, or check characters that are not hex"
        if sign not in (b"+", b"-") or not digits.isdigit() or not 0x30 <= places <= 0x34:
            return "syntax", "sign, digits or decimal places out of the format"
        if xor(frame[1:9]) != check:
            return "checksum", "XOR check does not match"
        counts = int(digits)
        return Reading(
            protocol=self._protocol,
            counts=-counts if sign == b"-" else counts,
            decimals=places - 0x30,
            unit=self._unit,
            raw=frame,
        )


class EqParser(_StartByteParser):
    """XK3190 "=" format: ``=`` seven characters and a sign, no checksum."""

    _protocol = ScaleProtocol.XK3190_EQ
    _start = ord("=")
    _size = EQ_SIZE

    def __init__(self, *, order: EqOrder = EqOrder.REVERSED, unit: Unit = Unit.KILOGRAM) -> None:
        super().__init__(unit=unit)
        self._order = EqOrder(order)

    def _decode(self, frame: bytes) -> Reading | tuple[str, str]:
        if self._order is EqOrder.REVERSED:
            chars, sign = frame[1:8][::-1], frame[8:9]
        else:
            chars, sign = frame[2:9], frame[1:2]
        number = parse_number(chars, sign=False) if sign in (b"0", b"-") else None
        if number is None:
            return "syntax", "not seven digits with at most one point and a sign"
        counts, decimals = number
        return Reading(
            protocol=self._protocol,
            counts=-counts if sign == b"-" else counts,
            decimals=decimals,
            unit=self._unit,
            raw=frame,
        )


def _decode_a12(frame: bytes) -> Reading | tuple[str, str]:
    """An A12(E) frame of 15 bytes ending in LF, or (reason, why)."""
    check = _check(frame[11:13])
    if frame[13] != 0x0D or check is None:
        return "syntax", "no CR LF after the check, or check characters that are not hex"
    protocol = ScaleProtocol.XK3190_A12
    if frame[:9] == b" " * 9 and frame[9:11] in (b"OL", b"LO"):
        reading = Reading(
            protocol=protocol,
            counts=None,
            unit=None,
            overload=frame[9:11] == b"OL",
            underload=frame[9:11] == b"LO",
            raw=frame,
        )
    else:
        number = parse_number(frame[2:9], sign=True)
        if frame[:1] != b"W" or frame[1:2] not in (b"G", b"N") or frame[9:11] != b"kg":
            return "syntax", "not W, G or N, seven characters and kg"
        if number is None or frame[2:9].count(b".") > 1:
            return "syntax", "the seven value characters are not a number"
        reading = Reading(
            protocol=protocol,
            counts=number[0],
            decimals=number[1],
            unit=Unit.KILOGRAM,
            net=frame[1:2] == b"N",
            raw=frame,
        )
    if xor(frame[:11]) != check:
        return "checksum", "XOR check does not match"
    return reading


class A12Parser:
    """XK3190-A12(E): 15-byte frames ending in CR LF, ``OL``/``LO`` when out of range."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._garbage = GarbageRun(ScaleProtocol.XK3190_A12)

    def feed(self, data: bytes) -> list[Event]:
        """Events completed by ``data`` (possibly none: more bytes needed)."""
        self._buffer += data
        buf = self._buffer
        out: list[Event] = []
        errors: list[FrameError] = []
        while buf:
            end = buf.find(b"\n", 0, A12_LINE_CAP)
            if end < 0:
                if len(buf) < A12_LINE_CAP:
                    break
                self._garbage.skip(buf[: A12_LINE_CAP - A12_SIZE + 1], errors)
                del buf[: A12_LINE_CAP - A12_SIZE + 1]
            else:
                line = bytes(buf[: end + 1])
                del buf[: end + 1]
                if len(line) >= A12_SIZE and line[-A12_SIZE] in b"W ":
                    self._garbage.skip(line[:-A12_SIZE], errors)
                    self._garbage.flush(errors)
                    frame = line[-A12_SIZE:]
                    decoded = _decode_a12(frame)
                    if isinstance(decoded, Reading):
                        out.extend(errors)
                        out.append(decoded)
                        errors.clear()
                        continue
                    reason, why = decoded
                    errors.append(frame_error(ScaleProtocol.XK3190_A12, reason, frame, why))
                else:
                    self._garbage.skip(line, errors)
            out.extend(errors)
            errors.clear()
        return out

    def flush(self) -> list[Event]:
        """At the end of a stream: the pending garbage and half frame as errors."""
        errors: list[FrameError] = []
        self._garbage.skip(self._buffer, errors)
        self._garbage.flush(errors)
        self._buffer.clear()
        return list(errors)
