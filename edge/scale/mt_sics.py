"""MT-SICS replies (PROTOCOLS.md §1), sans-IO: lines ending in CR LF.

A line is ``ID ␣ Status [␣ Value ␣ Unit | ␣ "text" …]`` or one of ``ES``/``ET``/``EL``. Weight
replies (ID ``S``, as sent for ``S``, ``SI`` and ``SIR``; status ``S``, ``D``, ``+``, ``-``)
become Readings; other replies become SicsReply / SicsErrorReply.

MT-SICS has no start byte, so a line that does not parse whole is searched for a reply at its
end (noise or a half reply glued to the front of the next one): the longest suffix that is a
weight reply, else the longest that is a reply to a command PROTOCOLS.md §1 names, else the
whole line if it is a reply to some other command; what precedes the reply is garbage. A line longer
than ``MAX_LINE`` without LF is reported ``too_long`` and cut, keeping ``KEEP`` bytes of its end.
"""

from __future__ import annotations

import re
from typing import Final

from edge.errors import FrameError
from edge.scale.framing import GarbageRun, frame_error, parse_number
from edge.scale.readings import (
    Reading,
    ScaleProtocol,
    SicsErrorCode,
    SicsErrorReply,
    SicsReply,
    SicsStatus,
    Unit,
)

MAX_LINE: Final = 256
KEEP: Final = 64
_PROTOCOL: Final = ScaleProtocol.MT_SICS
_ID: Final = re.compile(r"@|[A-Z][A-Z0-9]{0,7}")
_KNOWN: Final = re.compile(r"@|S|SI|SIR|Z|ZI|T|TI|TA|TAC|D|DW|K|I\d{1,2}|M\d{1,2}")
_TEXTS: Final = re.compile(r'(?:\s+"[^"]*")+')
_WEIGHT_STATUS: Final = frozenset({SicsStatus.STABLE, SicsStatus.DYNAMIC})
_RANGE_STATUS: Final = frozenset({SicsStatus.OVER, SicsStatus.UNDER})
_UNITS: Final = {unit.value: unit for unit in Unit}

Event = Reading | SicsReply | SicsErrorReply | FrameError


def parse_reply(text: str, raw: bytes) -> Reading | SicsReply | SicsErrorReply | None:
    """One reply line (without CR LF), or None if it is not one."""
    text = text.strip(" \t")
    for code in SicsErrorCode:
        if text == code.value:
            return SicsErrorReply(code=code, raw=raw)
    ident, _, rest = text.partition(" ")
    if not _ID.fullmatch(ident):
        return None
    status_text, _, rest = rest.lstrip(" ").partition(" ")
    try:
        status = SicsStatus(status_text)
    except ValueError:
        return None
    rest = rest.strip(" ")
    if ident == "S" and status in _RANGE_STATUS and not rest:
        return Reading(
            protocol=_PROTOCOL,
            counts=None,
            unit=None,
            overload=status is SicsStatus.OVER,
            underload=status is SicsStatus.UNDER,
            raw=raw,
        )
    if not rest:
        return (
            None
            if ident == "S" and status in _WEIGHT_STATUS
            else SicsReply(command=ident, status=status, raw=raw)
        )
    if rest.startswith('"'):
        if not _TEXTS.fullmatch(" " + rest):
            return None
        texts = tuple(re.findall(r'"([^"]*)"', rest))
        return SicsReply(command=ident, status=status, texts=texts, raw=raw)
    parts = rest.split()
    if len(parts) != 2 or parts[1] not in _UNITS:
        return None
    number = parse_number(parts[0].encode(), sign=True)
    if number is None:
        return None
    counts, decimals = number
    unit = _UNITS[parts[1]]
    if ident == "S" and status in _WEIGHT_STATUS:
        return Reading(
            protocol=_PROTOCOL,
            counts=counts,
            decimals=decimals,
            unit=unit,
            stable=status is SicsStatus.STABLE,
            raw=raw,
        )
    return SicsReply(
        command=ident, status=status, counts=counts, decimals=decimals, unit=unit, raw=raw
    )


def _parse_line(line: bytes) -> Reading | SicsReply | SicsErrorReply | None:
    body = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    if not all(0x20 <= b < 0x7F or b == 0x09 for b in body):
        return None
    return parse_reply(body.decode("ascii"), line)


class SicsParser:
    """Feed bytes, get readings, replies, device errors and FrameErrors, one per line."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._garbage = GarbageRun(_PROTOCOL)

    def feed(self, data: bytes) -> list[Event]:
        """Events completed by ``data`` (possibly none: more bytes needed)."""
        self._buffer += data
        buf = self._buffer
        out: list[Event] = []
        errors: list[FrameError] = []
        while buf:
            end = buf.find(b"\n", 0, MAX_LINE)
            if end < 0:
                if len(buf) < MAX_LINE:
                    break
                self._garbage.flush(errors)
                cut = bytes(buf[: MAX_LINE - KEEP])
                errors.append(frame_error(_PROTOCOL, "too_long", cut, "a line without end"))
                del buf[: MAX_LINE - KEEP]
                out.extend(errors)
                errors.clear()
                continue
            line = bytes(buf[: end + 1])
            del buf[: end + 1]
            event, skipped = self._line(line)
            self._garbage.skip(skipped, errors)
            if event is not None:
                self._garbage.flush(errors)
            out.extend(errors)
            errors.clear()
            if event is not None:
                out.append(event)
        return out

    def flush(self) -> list[Event]:
        """At the end of a stream: the pending garbage and half line as errors."""
        errors: list[FrameError] = []
        self._garbage.skip(self._buffer, errors)
        self._garbage.flush(errors)
        self._buffer.clear()
        return list(errors)

    @staticmethod
    def _line(line: bytes) -> tuple[Reading | SicsReply | SicsErrorReply | None, bytes]:
        """The reply in a line and the garbage before it (the whole line if none)."""
        line = line.lstrip(b" \t")  # blanks before a reply are harmless, not part of it
        whole = _parse_line(line)
        if whole is not None and _trusted(whole):
            return whole, b""
        if line.strip(b" \t\r\n") == b"":
            return None, b""  # an empty line: nothing, and nothing wrong
        known: tuple[SicsReply | SicsErrorReply, bytes] | None = None
        other: tuple[SicsReply | SicsErrorReply, bytes] | None = None
        for start in range(1, len(line) - 1):
            if line[start] in b" \t":
                continue  # the same reply starts at the next non-blank byte
            event = _parse_line(line[start:])
            if isinstance(event, Reading):
                return event, line[:start]
            if event is not None and known is None and _trusted(event):
                known = event, line[:start]
            if event is not None and other is None:
                other = event, line[:start]
        if known is not None:
            return known
        if whole is not None:
            return whole, b""
        return other if other is not None else (None, line)


def _trusted(event: Reading | SicsReply | SicsErrorReply) -> bool:
    """A weight, a device error, or a reply to a command PROTOCOLS.md §1 names.

    A reply with any other ID is only believed when no suffix of its line is one of these:
    ``ZZ A`` is a half ``Z`` glued to ``Z A``, not a reply to a command ``ZZ``.
    """
    return not isinstance(event, SicsReply) or bool(_KNOWN.fullmatch(event.command))
