"""Readings to whole kilograms on the configured division: exact, never rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge.errors import ConfigError, ConversionError
from edge.scale.convert import Converter
from edge.scale.readings import Reading, ScaleProtocol, Unit


def reading(
    counts: int | None, decimals: int = 0, unit: Unit | None = Unit.KILOGRAM, **kw: object
) -> Reading:
    return Reading(protocol=ScaleProtocol.TOLEDO, counts=counts, decimals=decimals, unit=unit, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("division", "counts", "decimals", "unit", "kg"),
    [
        (10, 24680, 0, Unit.KILOGRAM, 24680),
        (20, 24680, 0, Unit.KILOGRAM, 24680),
        (10, -20, 0, Unit.KILOGRAM, -20),
        (10, 2468, 2, Unit.TONNE, 24680),
        (20, 4904, 2, Unit.TONNE, 49040),
        (10, 49, 0, Unit.TONNE, 49000),
        (10, 24680000, 0, Unit.GRAM, 24680),
        (10, 2468000, 2, Unit.KILOGRAM, 24680),
        (1, 4139, 3, Unit.TONNE, 4139),
        (10, 0, 0, Unit.KILOGRAM, 0),
    ],
)
def test_converts_exactly(division: int, counts: int, decimals: int, unit: Unit, kg: int) -> None:
    assert Converter(division_kg=division).convert(reading(counts, decimals, unit)).kg == kg


@pytest.mark.parametrize(
    ("division", "counts", "decimals", "unit", "reason"),
    [
        (20, 24670, 0, Unit.KILOGRAM, "not_multiple"),
        (10, 24685, 0, Unit.KILOGRAM, "not_multiple"),
        (1, 41395, 4, Unit.TONNE, "not_whole_kg"),
        (10, 24681, 3, Unit.KILOGRAM, "not_whole_kg"),
        (1, -1500, 0, Unit.GRAM, "not_whole_kg"),
        (1, 100, 0, Unit.POUND, "unit"),
        (1, 100, 0, Unit.OUNCE, "unit"),
    ],
)
def test_refuses_what_is_not_on_the_grid(
    division: int, counts: int, decimals: int, unit: Unit, reason: str
) -> None:
    with pytest.raises(ConversionError) as caught:
        Converter(division_kg=division).convert(reading(counts, decimals, unit))
    assert caught.value.reason == reason


def test_tare_and_flags_carry_over() -> None:
    weight = Converter(division_kg=20).convert(
        reading(1124, 1, Unit.TONNE, tare=1344, net=True, stable=False)
    )
    assert (weight.kg, weight.tare_kg, weight.net, weight.stable) == (112400, 134400, True, False)


def test_frame_without_number() -> None:
    weight = Converter(division_kg=10).convert(reading(None, unit=None, overload=True))
    assert (weight.kg, weight.overload) == (None, True)


@pytest.mark.parametrize(
    "division", [Decimal("0.5"), "2.5", 0, -10, "ten", 10.0, True, Decimal("NaN")]
)
def test_division_not_whole_kg_is_refused_at_construction(division: object) -> None:
    with pytest.raises(ConfigError) as caught:
        Converter(division_kg=division)  # type: ignore[arg-type]
    assert caught.value.option == "division"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("division", [10, Decimal(20), "50", Decimal("10.0")])
def test_whole_divisions_are_accepted(division: int | Decimal | str) -> None:
    assert Converter(division_kg=division).division_kg in (10, 20, 50)
