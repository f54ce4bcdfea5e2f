"""Toledo continuous output (PROTOCOLS.md §2), sans-IO.

``STX SWA SWB SWC wwwwww [tttttt] CR CHK``: 18 bytes, or 12 without tare (told apart by where
the CR is, so one parser reads both). Bit 7 of every byte may carry parity and is ignored;
the checksum is the two's complement of the 7-bit sum of STX … CR.

Choices where PROTOCOLS.md leaves room (documented here, tested):
- status A codes 0 and 1 (``XXXX00``, ``XXXXX0``) describe the six transmitted digits, whose
  last two / last one are fixed zeros: the value is the digits as sent, with no decimals;
- status B "out of range" is an underload when the negative bit is set, else an overload;
- an increment code of 00 (undefined) leaves ``division`` unknown rather than failing the frame;
- unit codes 100-111 of status C are undefined and fail the frame (``syntax``);
- leading spaces in the digit fields are read as zeros;
- a frame whose checksum byte happens to be 02 (STX) is held until the next byte arrives (or
  ``flush()``): if a valid frame starts at that 02, the bytes before it were a frame cut just
  before its checksum, and are reported as garbage.
"""

from __future__ import annotations

from typing import Final

from edge.errors import FrameError
from edge.scale.framing import GarbageRun, frame_error
from edge.scale.readings import Reading, ScaleProtocol, Unit

STX: Final = 0x02
CR: Final = 0x0D
FULL: Final = 18
SHORT: Final = 12
_PROTOCOL: Final = ScaleProtocol.TOLEDO
_INCREMENTS: Final = {0b01: 1, 0b10: 2, 0b11: 5}
_UNITS: Final = {0b001: Unit.GRAM, 0b010: Unit.TONNE, 0b011: Unit.OUNCE}


def checksum(body: bytes | bytearray) -> int:
    """Two's complement of the 7-bit sum of ``body`` (STX … CR)."""
    return (-sum(b & 0x7F for b in body)) & 0x7F


def _digits(field: bytes) -> int | None:
    text = field.lstrip(b" ")
    if not text:
        return 0
    return int(text) if text.isdigit() else None


def _decode(frame: bytes) -> Reading | str:
    """The reading in a frame whose length and CR are right, or why it is not one."""
    raw, frame = frame, bytes(b & 0x7F for b in frame)
    swa, swb, swc = frame[1], frame[2], frame[3]
    if not (swa & swb & swc & 0x20):
        return "a status byte without bit 5 set"
    weight = _digits(frame[4:10])
    tare = _digits(frame[10:16]) if len(frame) == FULL else None
    if weight is None or (len(frame) == FULL and tare is None):
        return "a weight or tare field that is not six digits"
    code = swc & 0b111
    if code == 0:
        unit = Unit.KILOGRAM if swb & 0x10 else Unit.POUND
    elif code in _UNITS:
        unit = _UNITS[code]
    else:
        return f"undefined unit code {code} in status C"
    position = swa & 0b111
    decimals = max(position - 2, 0)
    fixed_zeros = (100, 10)[position] if position < 2 else 1
    increment = _INCREMENTS.get((swa >> 3) & 0b11)
    negative = bool(swb & 0x02)
    out_of_range = bool(swb & 0x04)
    return Reading(
        protocol=_PROTOCOL,
        counts=-weight if negative else weight,
        decimals=decimals,
        unit=unit,
        stable=not swb & 0x08,
        net=bool(swb & 0x01),
        overload=out_of_range and not negative,
        underload=out_of_range and negative,
        tare=tare,
        division=None if increment is None else increment * fixed_zeros,
        zero_pending=bool(swb & 0x40),
        print_request=bool(swc & 0x08),
        expanded=bool(swc & 0x10),
        raw=raw,
    )


def _violation(window: bytes | bytearray) -> int | None:
    """The first position where ``window`` (from its STX on) cannot be a frame, if any.

    Checked on the bytes already here, so a half frame is dropped as soon as the byte that
    cannot belong to it arrives (say the next frame's STX), whatever the chunking.
    """
    short = len(window) > SHORT - 2 and window[SHORT - 2] & 0x7F == CR
    for position in range(1, min(len(window), SHORT - 2 if short else FULL - 1)):
        byte = window[position] & 0x7F
        if position <= 3:
            ok = bool(byte & 0x20)
        elif position == FULL - 2:
            ok = byte == CR
        else:
            ok = 0x30 <= byte <= 0x39 or byte == 0x20 or (position == SHORT - 2 and byte == CR)
        if not ok:
            return position
    return None


def _size(window: bytes | bytearray) -> int | None:
    """The length of the frame starting ``window`` (CR placed), or None: more bytes needed."""
    if len(window) < SHORT:
        return None
    if window[SHORT - 2] & 0x7F == CR:
        return SHORT
    return FULL if len(window) >= FULL else None


def _next_is_frame(window: bytes | bytearray) -> bool | None:
    """Whether a valid frame starts ``window``; None while its bytes are not all here."""
    if _violation(window[:FULL]) is not None:
        return False
    size = _size(window)
    if size is None:
        return None
    frame = bytes(window[:size])
    return not isinstance(_decode(frame), str) and checksum(frame[:-1]) == frame[-1] & 0x7F


class ToledoParser:
    """Feed bytes, get readings and FrameErrors; resynchronises on the next STX."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._garbage = GarbageRun(_PROTOCOL)

    def feed(self, data: bytes) -> list[Reading | FrameError]:
        """Events completed by ``data`` (possibly none: more bytes needed)."""
        self._buffer += data
        return self._parse(final=False)

    def flush(self) -> list[Reading | FrameError]:
        """At the end of a stream: a frame held back (see ``_next_is_frame``), then the
        pending garbage and half frame as errors."""
        out = self._parse(final=True)
        errors: list[FrameError] = []
        self._garbage.skip(self._buffer, errors)
        self._garbage.flush(errors)
        self._buffer.clear()
        return out + errors

    def _parse(self, *, final: bool) -> list[Reading | FrameError]:
        out: list[Reading | FrameError] = []
        errors: list[FrameError] = []
        buf = self._buffer
        while buf:
            start = next((i for i, b in enumerate(buf) if b & 0x7F == STX), len(buf))
            if start:
                self._garbage.skip(buf[:start], errors)
                out.extend(errors)
                errors.clear()
                del buf[:start]
                continue
            bad = _violation(buf[:FULL])
            if bad is not None:
                self._reject(buf[: bad + 1], "bytes that cannot be in a frame", "syntax", out)
                continue
            size = _size(buf)
            if size is None:
                break
            frame = bytes(buf[:size])
            decoded = _decode(frame)
            if isinstance(decoded, str):
                self._reject(buf[:size], decoded, "syntax", out)
                continue
            valid = checksum(frame[:-1]) == frame[-1] & 0x7F
            if frame[-1] & 0x7F == STX:
                # The checksum byte is an STX: this may be a frame cut just before its checksum,
                # followed by the next frame. Decide by what follows.
                following = _next_is_frame(buf[size - 1 :])
                if following is None and not final:
                    break
                if following or not valid:
                    self._garbage.skip(frame[:-1], errors)
                    out.extend(errors)
                    errors.clear()
                    del buf[: size - 1]
                    continue
            self._garbage.flush(errors)
            out.extend(errors)
            errors.clear()
            if valid:
                out.append(decoded)
            else:
                out.append(frame_error(_PROTOCOL, "checksum", frame, "checksum does not match"))
            del buf[:size]
        return out

    def _reject(
        self, window: bytearray, why: str, reason: str, out: list[Reading | FrameError]
    ) -> None:
        """Drop a bad candidate up to the next STX inside it (a frame may start there)."""
        end = next((i for i in range(1, len(window)) if window[i] & 0x7F == STX), len(window))
        errors: list[FrameError] = []
        self._garbage.flush(errors)
        out.extend(errors)
        out.append(frame_error(_PROTOCOL, reason, window[:end], why))
        del self._buffer[:end]
