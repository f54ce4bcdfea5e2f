"""What the frame parsers hand back: readings and, for MT-SICS, replies that are not weights.

Values are exact: a reading carries its display *counts* (the shown value with the decimal
point removed, signed) and the number of decimals, never a float; ``value`` gives the Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class ScaleProtocol(StrEnum):
    """Scale protocol names (WIRE.md "Identifiers and units"); all serial but ``modbus``."""

    MT_SICS = "mt-sics"
    TOLEDO = "toledo"
    XK3190_A9 = "xk3190-a9"
    XK3190_A12 = "xk3190-a12"
    XK3190_EQ = "xk3190-eq"
    MODBUS = "modbus"  # a Modbus weight transmitter, read through a register map


class Unit(StrEnum):
    """Units an indicator may name."""

    MILLIGRAM = "mg"
    GRAM = "g"
    KILOGRAM = "kg"
    TONNE = "t"
    POUND = "lb"
    OUNCE = "oz"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """One weight as the indicator sent it.

    ``counts`` is ``None`` only for frames that carry no number (XK3190-A12 ``OL``/``LO``,
    MT-SICS ``S +``/``S -``); ``unit`` is then ``None`` too. ``stable`` and ``net`` are ``None``
    when the protocol does not say (XK3190-A9 and "=" send no status; MT-SICS no gross/net).
    ``tare`` is in the same counts and unit as the weight, where the frame sends it (Toledo).
    ``division`` is the display division in counts where the frame sends it (Toledo status A).
    The Toledo-only flags stay ``False`` elsewhere. ``raw`` is the frame's bytes.
    """

    protocol: ScaleProtocol
    counts: int | None
    decimals: int = 0
    unit: Unit | None = Unit.KILOGRAM
    stable: bool | None = None
    net: bool | None = None
    overload: bool = False
    underload: bool = False
    tare: int | None = None
    division: int | None = None
    zero_pending: bool = False  # Toledo status B bit 6: powered up, not yet zeroed
    print_request: bool = False  # Toledo status C bit 3
    expanded: bool = False  # Toledo status C bit 4: display expanded x10 (not a legal weight)
    raw: bytes = b""

    @property
    def value(self) -> Decimal | None:
        """The shown value, exact, in ``unit``."""
        if self.counts is None:
            return None
        return Decimal(self.counts).scaleb(-self.decimals)

    @property
    def tare_value(self) -> Decimal | None:
        """The tare, exact, in ``unit``."""
        if self.tare is None:
            return None
        return Decimal(self.tare).scaleb(-self.decimals)


class SicsStatus(StrEnum):
    """Status character of an MT-SICS reply."""

    STABLE = "S"
    DYNAMIC = "D"
    ACK = "A"
    MORE = "B"  # more lines of this reply follow
    NOT_NOW = "I"  # understood, not executable now
    PARAMETER = "L"  # understood, parameter wrong
    OVER = "+"
    UNDER = "-"


class SicsErrorCode(StrEnum):
    """MT-SICS whole-line error replies."""

    SYNTAX = "ES"
    TRANSMISSION = "ET"
    LOGICAL = "EL"


@dataclass(frozen=True, slots=True, kw_only=True)
class SicsReply:
    """An MT-SICS reply that is not a weight reading: ``Z A``, ``S I``, ``T S 100 kg``,
    ``I4 A "B123"``. ``counts``/``decimals``/``unit`` are set when the reply carries a value
    (a tare), ``texts`` holds its quoted strings (without quotes)."""

    command: str
    status: SicsStatus
    counts: int | None = None
    decimals: int = 0
    unit: Unit | None = None
    texts: tuple[str, ...] = ()
    raw: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class SicsErrorReply:
    """``ES`` (syntax), ``ET`` (transmission) or ``EL`` (logical): the device refused a line."""

    code: SicsErrorCode
    raw: bytes = b""
