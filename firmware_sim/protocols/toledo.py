"""Toledo continuous output (PROTOCOLS.md §2): 18-byte frames, or 12 bytes without tare.

``STX SWA SWB SWC wwwwww [tttttt] CR CHK``; weights are six ASCII digits of what the display
shows, without point or sign. Pure functions of their arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from firmware_sim.errors import ConfigError

STX = 0x02
CR = 0x0D
_INCREMENT_CODES = {1: 0b01, 2: 0b10, 5: 0b11}


class UnitCode(IntEnum):
    """Status C bits 0-2: which unit the weight is in (0 = as status B bit 4 says)."""

    PER_STATUS_B = 0b000
    GRAM = 0b001
    TONNE = 0b010
    OUNCE = 0b011


@dataclass(frozen=True, slots=True, kw_only=True)
class ToledoFrame:
    """The fields of one frame. Weights are display counts (no decimal point), magnitudes."""

    weight: int
    tare: int = 0
    decimals: int = 0  # places after the point, 0-5
    division: int = 1  # the display's division in counts: 1, 2 or 5 x 10^j
    net: bool = False
    negative: bool = False
    out_of_range: bool = False
    motion: bool = False
    kg: bool = True  # status B bit 4 (else lb)
    unit: UnitCode = UnitCode.PER_STATUS_B
    power_up_not_zeroed: bool = False
    with_tare: bool = True


def decimal_code(*, decimals: int, division: int) -> tuple[int, int]:
    """Status A (decimal position, increment code) for a display, or ConfigError.

    Codes 0/1 mean the display ends in two/one fixed zeros (XXXX00, XXXXX0), 2 none (XXXXXX),
    3 upwards one more decimal place each (XXXXX.X, XXXX.XX, …).
    """
    exponent = 0
    mantissa = division
    while mantissa % 10 == 0 and mantissa > 0:
        mantissa //= 10
        exponent += 1
    if mantissa not in _INCREMENT_CODES:
        raise ConfigError(f"Toledo division must be 1, 2 or 5 x 10^n counts, not {division}")
    code = 2 + decimals - exponent
    if not 0 <= code <= 7 or (decimals > 0 and exponent > 0):
        raise ConfigError(
            f"Toledo status A cannot express {decimals} decimals with a division of {division}"
        )
    return code, _INCREMENT_CODES[mantissa]


def checksum(body: bytes) -> int:
    """Two's complement of the 7-bit sum of every byte from STX to CR."""
    return (-sum(b & 0x7F for b in body)) & 0x7F


def _digits(value: int) -> bytes:
    if not 0 <= value <= 999_999:
        raise ValueError(f"Toledo weight field holds six digits, not {value}")
    return b"%06d" % value


def encode(frame: ToledoFrame) -> bytes:
    """One frame, checksum included."""
    code, increment = decimal_code(decimals=frame.decimals, division=frame.division)
    swa = 0x20 | code | increment << 3
    swb = (
        0x20
        | frame.net
        | frame.negative << 1
        | frame.out_of_range << 2
        | frame.motion << 3
        | frame.kg << 4
        | frame.power_up_not_zeroed << 6
    )
    swc = 0x20 | int(frame.unit)
    weight = min(frame.weight, 999_999)
    body = bytes((STX, swa, swb, swc)) + _digits(weight)
    if frame.with_tare:
        body += _digits(min(frame.tare, 999_999))
    body += bytes((CR,))
    return body + bytes((checksum(body),))


def corrupt_checksum(frame: bytes) -> bytes:
    """The same frame with a checksum that does not match."""
    return frame[:-1] + bytes(((frame[-1] + 1) & 0x7F,))
