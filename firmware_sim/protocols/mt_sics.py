"""MT-SICS wire level (PROTOCOLS.md §1): command lines in, reply lines out. Sans-IO.

Replies end with CR LF; a weight reply is ``ID ␣ Status ␣ Value ␣ Unit`` with the value
right-aligned in ten characters and its sign directly before the first digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CRLF = b"\r\n"
MAX_LINE = 64  # longer lines are answered with ES and thrown away


class Status(StrEnum):
    """Status character of a reply."""

    STABLE = "S"
    DYNAMIC = "D"
    ACK = "A"
    NOT_NOW = "I"
    OVER = "+"
    UNDER = "-"
    PARAM = "L"  # command understood, parameter wrong


class LineError(StrEnum):
    """Whole-line error replies."""

    SYNTAX = "ES"
    TRANSMISSION = "ET"
    LOGICAL = "EL"


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """A parsed command line: its name and space-separated arguments (quotes kept)."""

    name: str
    args: tuple[str, ...] = ()


def format_value(counts: int, decimals: int) -> str:
    """The 10-character value field: right-aligned, sign next to the first digit."""
    magnitude = abs(counts)
    text = (
        str(magnitude)
        if decimals == 0
        else f"{magnitude // 10**decimals}.{magnitude % 10**decimals:0{decimals}d}"
    )
    if counts < 0:
        text = "-" + text
    return text.rjust(10)


def weight_reply(ident: str, status: Status, counts: int, decimals: int, unit: str) -> bytes:
    """``S S     100.00 g`` and the like."""
    return f"{ident} {status.value} {format_value(counts, decimals)} {unit}".encode() + CRLF


def status_reply(ident: str, status: Status, *extra: str) -> bytes:
    """``Z A``, ``S I``, ``I4 A "B123"`` and the like."""
    return " ".join((ident, status.value, *extra)).encode() + CRLF


def error_reply(error: LineError) -> bytes:
    """``ES``, ``ET`` or ``EL``."""
    return error.value.encode() + CRLF


class LineSplitter:
    """Splits the byte stream from the host into command lines.

    A line ends at CR, LF or CR LF (CR alone too, so a terminal that sends CR works); empty
    lines are ignored. A line over ``MAX_LINE`` bytes is reported once as ``None`` and the
    rest of it is dropped up to its end.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overflowed = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete lines found so far (``None`` for an overlong one)."""
        lines: list[bytes | None] = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._overflowed:
                    self._overflowed = False
                elif self._buffer:
                    lines.append(bytes(self._buffer))
                self._buffer.clear()
            elif self._overflowed:
                continue
            elif len(self._buffer) >= MAX_LINE:
                self._buffer.clear()
                self._overflowed = True
                lines.append(None)
            else:
                self._buffer.append(byte)
        return lines


def parse_line(line: bytes) -> Command | LineError:
    """A command, or ET for bytes no terminal sends (our stand-in for a framing error), or ES."""
    if any(b >= 0x7F or (b < 0x20 and b != 0x09) for b in line):
        return LineError.TRANSMISSION
    text = line.decode("ascii").strip(" \t")
    if not text:
        return LineError.SYNTAX
    name, _, rest = text.partition(" ")
    if not (name == "@" or (name.isalnum() and name.isascii() and name[0].isupper())):
        return LineError.SYNTAX
    return Command(name=name, args=tuple(rest.split()))
