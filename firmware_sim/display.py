"""What an indicator shows: unit, decimals and division, and one reading. Pure values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from firmware_sim.errors import ConfigError

_GRAMS = {"g": 1, "kg": 1000, "t": 1_000_000}


class Unit(StrEnum):
    """Display unit."""

    GRAM = "g"
    KILOGRAM = "kg"
    TONNE = "t"


@dataclass(frozen=True, slots=True, kw_only=True)
class Display:
    """How kilograms become displayed digits.

    A display *count* is one unit of the last digit: 24.68 t with two decimals is 2468 counts.
    The division must be a whole number of counts and, as OIML requires, 1, 2 or 5 x 10^n.
    """

    unit: Unit = Unit.KILOGRAM
    decimals: int = 0
    division_kg: int = 10

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= 4:
            raise ConfigError("decimals must be 0-4", option="decimals")
        if self.division_kg <= 0:
            raise ConfigError("division must be > 0 kg", option="division")
        division = self._counts_exact(self.division_kg)
        if division.denominator != 1:
            raise ConfigError(
                f"a division of {self.division_kg} kg cannot be shown in {self.unit.value} "
                f"with {self.decimals} decimals",
                option="decimals",
            )
        mantissa = division.numerator
        while mantissa % 10 == 0:
            mantissa //= 10
        if mantissa not in (1, 2, 5):
            raise ConfigError("division must be 1, 2 or 5 x 10^n", option="division")

    def _counts_exact(self, kg: int) -> Fraction:
        return Fraction(kg * 1000 * 10**self.decimals, _GRAMS[self.unit.value])

    def counts(self, kg: int) -> int:
        """Kilograms as display counts (rounded half away from zero when not exact)."""
        exact = self._counts_exact(abs(kg))
        whole = int(exact + Fraction(1, 2))
        return -whole if kg < 0 else whole

    def kg(self, counts: int) -> int:
        """Display counts as kilograms (rounded)."""
        exact = Fraction(abs(counts) * _GRAMS[self.unit.value], 1000 * 10**self.decimals)
        whole = int(exact + Fraction(1, 2))
        return -whole if counts < 0 else whole

    @property
    def division_counts(self) -> int:
        """The division in display counts."""
        return self.counts(self.division_kg)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What the indicator shows at one moment. Weights are integers in kg, quantised."""

    gross_kg: int
    tare_kg: int = 0
    net_mode: bool = False
    stable: bool = True
    overload: bool = False
    underload: bool = False
    power_up_not_zeroed: bool = False

    @property
    def net_kg(self) -> int:
        """Gross less tare."""
        return self.gross_kg - self.tare_kg

    @property
    def shown_kg(self) -> int:
        """Net in net mode, else gross."""
        return self.net_kg if self.net_mode else self.gross_kg
