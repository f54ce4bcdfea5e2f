"""Readings to integer kilograms on the configured division (WIRE.md: weights are whole kg).

Exact integer arithmetic throughout: a value that is not whole kilograms, or not a multiple of
the division, is a ConversionError, never rounded. A division that is not a positive whole
number of kilograms is a ConfigError when the Converter is built, i.e. at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from edge.errors import ConfigError, ConversionError
from edge.scale.readings import Reading, Unit

#: Powers of ten from each metric unit to kilograms.
_KG_EXPONENT: Final = {Unit.MILLIGRAM: -6, Unit.GRAM: -3, Unit.KILOGRAM: 0, Unit.TONNE: 3}


@dataclass(frozen=True, slots=True, kw_only=True)
class Weight:
    """A reading in whole kilograms. ``kg`` is None only for a frame without a number
    (overload/underload frames); the flags are the reading's."""

    kg: int | None
    tare_kg: int | None
    stable: bool | None
    net: bool | None
    overload: bool
    underload: bool
    reading: Reading


def whole_division(division_kg: int | Decimal | str) -> int:
    """The configured division as a positive whole number of kg, or ConfigError."""
    if isinstance(division_kg, bool) or not isinstance(division_kg, int | Decimal | str):
        raise ConfigError(
            f"division {division_kg!r} must be given as an integer number of kg",
            option="division",
        )
    try:
        exact = Decimal(division_kg)
    except InvalidOperation:
        raise ConfigError(f"division {division_kg!r} is not a number", option="division") from None
    if not exact.is_finite() or exact <= 0 or exact != exact.to_integral_value():
        raise ConfigError(
            f"a division of {division_kg} kg cannot be represented in whole kilograms",
            option="division",
        )
    return int(exact)


def counts_to_kg(counts: int, *, decimals: int, unit: Unit) -> int:
    """Exact kilograms of ``counts`` shown with ``decimals`` in ``unit``, or ConversionError."""
    shown = f"{Decimal(counts).scaleb(-decimals)} {unit.value}"
    if unit not in _KG_EXPONENT:
        raise ConversionError(f"{shown} is not in a metric mass unit", reason="unit", value=shown)
    exponent = _KG_EXPONENT[unit] - decimals
    scale: int = 10 ** abs(exponent)
    if exponent >= 0:
        return counts * scale
    whole, rest = divmod(counts, scale)
    if rest:
        raise ConversionError(f"{shown} is not whole kilograms", reason="not_whole_kg", value=shown)
    return whole


class Converter:
    """Turns readings into kilograms for a scale whose division is ``division_kg``."""

    def __init__(self, *, division_kg: int | Decimal | str) -> None:
        self.division_kg = whole_division(division_kg)

    def kilograms(self, counts: int, *, decimals: int, unit: Unit) -> int:
        """Whole kg on the division grid, or ConversionError."""
        kg = counts_to_kg(counts, decimals=decimals, unit=unit)
        if kg % self.division_kg:
            raise ConversionError(
                f"{kg} kg is not a multiple of the {self.division_kg} kg division",
                reason="not_multiple",
                value=f"{kg} kg",
            )
        return kg

    def convert(self, reading: Reading) -> Weight:
        """The reading in kg (weight and tare), or ConversionError."""
        kg = tare_kg = None
        if reading.counts is not None and reading.unit is not None:
            kg = self.kilograms(reading.counts, decimals=reading.decimals, unit=reading.unit)
        if reading.tare is not None and reading.unit is not None:
            tare_kg = self.kilograms(reading.tare, decimals=reading.decimals, unit=reading.unit)
        return Weight(
            kg=kg,
            tare_kg=tare_kg,
            stable=reading.stable,
            net=reading.net,
            overload=reading.overload,
            underload=reading.underload,
            reading=reading,
        )
