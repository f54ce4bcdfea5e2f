"""What every frame parser shares: the garbage run between frames, and exact number fields.

Determinism rule (STYLE.md: whole or byte by byte, the same events): a parser decides only on
bytes it already holds, never on where a chunk happened to end. Skipped bytes are gathered into
one ``garbage`` error, emitted before the next event or whenever ``GARBAGE_CAP`` bytes pile up,
so the error sequence, too, depends only on the bytes.
"""

from __future__ import annotations

from typing import Final

from edge.errors import FrameError

#: A garbage run is reported in pieces of at most this many bytes.
GARBAGE_CAP: Final = 256
_DIGITS: Final = frozenset(b"0123456789")


class GarbageRun:
    """Bytes that belong to no frame, gathered until something else happens."""

    def __init__(self, protocol: str) -> None:
        self._protocol = protocol
        self._run = bytearray()

    def skip(self, data: bytes | bytearray, out: list[FrameError]) -> None:
        """Count ``data`` as garbage; report each full ``GARBAGE_CAP`` piece into ``out``."""
        for start in range(0, len(data), GARBAGE_CAP):
            piece = data[start : start + GARBAGE_CAP]
            room = GARBAGE_CAP - len(self._run)
            self._run += piece[:room]
            if len(self._run) == GARBAGE_CAP:
                out.append(self._error())
                self._run = bytearray(piece[room:])

    def flush(self, out: list[FrameError]) -> None:
        """Report the run so far, if any (before a frame or a frame error is reported)."""
        if self._run:
            out.append(self._error())
            self._run = bytearray()

    def _error(self) -> FrameError:
        return FrameError(
            f"{len(self._run)} bytes outside any frame",
            protocol=self._protocol,
            reason="garbage",
            data=bytes(self._run),
        )


def parse_number(field: bytes, *, sign: bool) -> tuple[int, int] | None:
    """``(counts, decimals)`` of a right-aligned number field, or None if it is not one.

    Leading spaces are allowed; then, if ``sign``, one ``+`` or ``-``; then digits with at most
    one decimal point and at least one digit. ``b"  -12.50"`` → ``(-1250, 2)``.
    """
    text = field.lstrip(b" ")
    negative = False
    if sign and text[:1] in (b"+", b"-"):
        negative = text[:1] == b"-"
        text = text[1:]
    whole, _, fraction = text.partition(b".")
    digits = whole + fraction
    if not digits or not all(b in _DIGITS for b in digits):
        return None
    counts = int(digits)
    return (-counts if negative else counts), len(fraction)


def frame_error(protocol: str, reason: str, data: bytes | bytearray, message: str) -> FrameError:
    """A FrameError with this parser's protocol."""
    return FrameError(message, protocol=protocol, reason=reason, data=bytes(data))
