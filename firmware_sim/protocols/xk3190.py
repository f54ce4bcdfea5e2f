"""Yaohua XK3190 continuous formats (PROTOCOLS.md §3): A9 tF=0, A12(E), and "=" format.

Values are display counts (the weight with its decimal point removed) and a number of
decimal places. Pure functions of their arguments.
"""

from __future__ import annotations

from enum import StrEnum
from functools import reduce

STX = 0x02
ETX = 0x03
_HEX = b"0123456789ABCDEF"


class A12Mode(StrEnum):
    """A12(E) second byte: gross or net."""

    GROSS = "G"
    NET = "N"


class A12Limit(StrEnum):
    """A12(E) out-of-range frames."""

    OVERLOAD = "OL"
    UNDERLOAD = "LO"  # below -20 d


class DigitOrder(StrEnum):
    """Digit order of the "=" format: reversed (least significant first) or forward."""

    REVERSED = "reversed"
    FORWARD = "forward"


def xor(data: bytes) -> int:
    """XOR of every byte."""
    return reduce(lambda acc, b: acc ^ b, data, 0)


def _hex_pair(value: int) -> bytes:
    return bytes((_HEX[value >> 4], _HEX[value & 0x0F]))


def encode_a9(*, counts: int, decimals: int) -> bytes:
    """A9 continuous ("tF=0"), 12 bytes: STX sign 6 digits decimals XH XL ETX."""
    if not 0 <= decimals <= 4:
        raise ValueError("XK3190-A9 sends 0-4 decimal places")
    magnitude = min(abs(counts), 999_999)
    body = (b"-" if counts < 0 else b"+") + b"%06d" % magnitude + b"%d" % decimals
    return bytes((STX,)) + body + _hex_pair(xor(body)) + bytes((ETX,))


def seven_chars(counts: int, decimals: int) -> bytes:
    """Seven characters of the value: digits with the point, zero-padded, MSD first.

    With no decimals there is no point and seven digits (our reading; PROTOCOLS.md shows only
    values with a point).
    """
    magnitude = abs(counts)
    width = 7 if decimals == 0 else 6
    digits = b"%0*d" % (width, min(magnitude, 10**width - 1))
    if decimals == 0:
        return digits
    return digits[: width - decimals] + b"." + digits[width - decimals :]


def encode_a12(*, counts: int, decimals: int, mode: A12Mode = A12Mode.GROSS) -> bytes:
    """A12(E), 15 bytes: W G|N seven chars kg XH XL CR LF; '-' replaces the first character."""
    value = seven_chars(counts, decimals)
    if counts < 0:
        value = b"-" + value[1:]
    body = b"W" + mode.value.encode() + value + b"kg"
    return body + _hex_pair(xor(body)) + b"\r\n"


def encode_a12_limit(limit: A12Limit) -> bytes:
    """A12(E) overload / underload frame: nine spaces, OL or LO, check, CR LF."""
    body = b" " * 9 + limit.value.encode()
    return body + _hex_pair(xor(body)) + b"\r\n"


def encode_eq(*, counts: int, decimals: int, order: DigitOrder = DigitOrder.REVERSED) -> bytes:
    """ "=" format, 9 bytes, no checksum.

    Reversed: ``=`` + the seven characters least significant first + sign (``0`` or ``-``).
    Forward: ``=`` + sign + the seven characters most significant first (the whole reversed
    frame read backwards; our reading of the one example in PROTOCOLS.md).
    """
    value = seven_chars(counts, decimals)
    sign = b"-" if counts < 0 else b"0"
    if order is DigitOrder.REVERSED:
        return b"=" + value[::-1] + sign
    return b"=" + sign + value


def corrupt_a9(frame: bytes) -> bytes:
    """An A9 frame whose check characters do not match."""
    return frame[:9] + _hex_pair(xor(frame[1:9]) ^ 0x5A) + frame[11:]


def corrupt_a12(frame: bytes) -> bytes:
    """An A12 frame whose check characters do not match."""
    return frame[:11] + _hex_pair(xor(frame[:11]) ^ 0x5A) + frame[13:]
