"""Independent frame builders for the parser tests, written from PROTOCOLS.md §1-3.

Deliberately not firmware_sim's encoders (nor edge's code): a shared codec would hide a
shared misreading of the manual.
"""

from __future__ import annotations

from dataclasses import dataclass


def _xor(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def _hex2(value: int) -> bytes:
    return f"{value:02X}".encode()


@dataclass(frozen=True, kw_only=True)
class ToledoFields:
    weight: int  # 0..999999, the six digits as sent
    tare: int | None = 0
    position: int = 2  # status A bits 0-2
    increment: int = 0b01  # status A bits 3-4
    net: bool = False
    negative: bool = False
    out_of_range: bool = False
    motion: bool = False
    kg: bool = True
    unit_code: int = 0  # status C bits 0-2
    zero_pending: bool = False
    print_request: bool = False
    expanded: bool = False


def toledo(fields: ToledoFields, *, parity: bool = False) -> bytes:
    """A Toledo continuous frame; with ``parity``, bit 7 of each byte carries even parity."""
    swa = 0x20 | fields.position | fields.increment << 3
    swb = 0x20 | (
        fields.net
        | fields.negative << 1
        | fields.out_of_range << 2
        | fields.motion << 3
        | fields.kg << 4
        | fields.zero_pending << 6
    )
    swc = 0x20 | fields.unit_code | fields.print_request << 3 | fields.expanded << 4
    body = bytes([0x02, swa, swb, swc]) + f"{fields.weight:06d}".encode()
    if fields.tare is not None:
        body += f"{fields.tare:06d}".encode()
    body += b"\r"
    total = 0
    for byte in body:
        total += byte
    frame = body + bytes([(128 - total % 128) % 128])
    if parity:
        frame = bytes(b | 0x80 if b.bit_count() % 2 else b for b in frame)
    return frame


def a9(counts: int, decimals: int) -> bytes:
    """XK3190-A9 continuous frame."""
    inner = (b"-" if counts < 0 else b"+") + f"{abs(counts):06d}{decimals}".encode()
    return b"\x02" + inner + _hex2(_xor(inner)) + b"\x03"


def seven(counts: int, decimals: int) -> str:
    """Seven value characters, MSD first, with the point when there are decimals."""
    if decimals == 0:
        return f"{abs(counts):07d}"
    digits = f"{abs(counts):06d}"
    return digits[:-decimals] + "." + digits[-decimals:]


def a12(counts: int, decimals: int, *, net: bool = False) -> bytes:
    """XK3190-A12(E) frame; a negative value has '-' as its first value character."""
    value = seven(counts, decimals)
    if counts < 0:
        value = "-" + value[1:]
    body = ("WN" if net else "WG").encode() + value.encode() + b"kg"
    return body + _hex2(_xor(body)) + b"\r\n"


def a12_limit(code: str) -> bytes:
    """XK3190-A12(E) OL or LO frame."""
    body = b" " * 9 + code.encode()
    return body + _hex2(_xor(body)) + b"\r\n"


def eq(counts: int, decimals: int, *, forward: bool = False) -> bytes:
    """The "=" format, reversed (default) or forward."""
    value = seven(counts, decimals)
    sign = "-" if counts < 0 else "0"
    if forward:
        return f"={sign}{value}".encode()
    return f"={value[::-1]}{sign}".encode()


def sics_value(counts: int, decimals: int) -> str:
    """A ten-character MT-SICS value field, sign before the first digit."""
    text = str(abs(counts)).rjust(decimals + 1, "0")
    if decimals:
        text = text[:-decimals] + "." + text[-decimals:]
    return ("-" + text if counts < 0 else text).rjust(10)


def sics_weight(status: str, counts: int, decimals: int, unit: str, ident: str = "S") -> bytes:
    """``S S     100.00 g`` and the like."""
    return f"{ident} {status} {sics_value(counts, decimals)} {unit}\r\n".encode()
