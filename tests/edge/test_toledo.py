"""Toledo continuous output: PROTOCOLS.md §2's worked frames byte for byte, every status bit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge.errors import FrameError
from edge.scale.readings import Reading, ScaleProtocol, Unit
from edge.scale.toledo import ToledoParser
from tests.edge.builders import ToledoFields, toledo

GROSS = bytes.fromhex("02 32 30 20 30 32 34 36 38 30 30 30 30 30 30 30 0D 1B")
NET = bytes.fromhex("02 32 39 20") + b"011240013440" + bytes.fromhex("0D 12")


def one(data: bytes) -> Reading:
    events = ToledoParser().feed(data)
    assert len(events) == 1
    reading = events[0]
    assert isinstance(reading, Reading)
    return reading


def test_worked_gross_frame() -> None:
    assert one(GROSS) == Reading(
        protocol=ScaleProtocol.TOLEDO,
        counts=24680,
        decimals=0,
        unit=Unit.KILOGRAM,
        stable=True,
        net=False,
        tare=0,
        division=2,
        raw=GROSS,
    )


def test_worked_net_frame() -> None:
    reading = one(NET)
    assert (reading.counts, reading.tare, reading.net, reading.stable) == (
        11240,
        13440,
        True,
        False,
    )
    assert reading.unit is Unit.KILOGRAM


def test_builder_agrees_with_worked_frames() -> None:
    assert toledo(ToledoFields(weight=24680, increment=0b10)) == GROSS
    assert (
        toledo(ToledoFields(weight=11240, tare=13440, increment=0b10, net=True, motion=True)) == NET
    )


def test_short_frame_without_tare() -> None:
    frame = toledo(ToledoFields(weight=24680, tare=None))
    assert len(frame) == 12
    reading = one(frame)
    assert (reading.counts, reading.tare) == (24680, None)


def test_parity_bit_is_ignored() -> None:
    assert one(toledo(ToledoFields(weight=1234), parity=True)).counts == 1234


@pytest.mark.parametrize(
    ("position", "decimals", "division"),
    [(0, 0, 100), (1, 0, 10), (2, 0, 1), (3, 1, 1), (4, 2, 1), (5, 3, 1), (6, 4, 1), (7, 5, 1)],
)
def test_status_a_decimal_position(position: int, decimals: int, division: int) -> None:
    reading = one(toledo(ToledoFields(weight=123400, position=position)))
    assert (reading.counts, reading.decimals, reading.division) == (123400, decimals, division)


@pytest.mark.parametrize(("code", "increment"), [(0b01, 1), (0b10, 2), (0b11, 5), (0b00, None)])
def test_status_a_increment(code: int, increment: int | None) -> None:
    assert one(toledo(ToledoFields(weight=10, increment=code))).division == increment


def test_status_a_increment_scales_with_fixed_zeros() -> None:
    assert one(toledo(ToledoFields(weight=24680, position=1, increment=0b10))).division == 20


@pytest.mark.parametrize(
    ("flag", "field", "expected"),
    [
        ("net", "net", True),
        ("motion", "stable", False),
        ("zero_pending", "zero_pending", True),
        ("print_request", "print_request", True),
        ("expanded", "expanded", True),
    ],
)
def test_status_flags(flag: str, field: str, expected: bool) -> None:
    plain = one(toledo(ToledoFields(weight=500)))
    flagged = one(toledo(ToledoFields(weight=500, **{flag: True})))
    assert getattr(plain, field) is not expected
    assert getattr(flagged, field) is expected


def test_status_b_negative_and_out_of_range() -> None:
    assert one(toledo(ToledoFields(weight=20, negative=True))).counts == -20
    over = one(toledo(ToledoFields(weight=999999, out_of_range=True)))
    assert (over.overload, over.underload) == (True, False)
    under = one(toledo(ToledoFields(weight=50, out_of_range=True, negative=True)))
    assert (under.overload, under.underload, under.counts) == (False, True, -50)


@pytest.mark.parametrize(
    ("kg", "code", "unit"),
    [
        (True, 0, Unit.KILOGRAM),
        (False, 0, Unit.POUND),
        (True, 1, Unit.GRAM),
        (True, 2, Unit.TONNE),
        (True, 3, Unit.OUNCE),
    ],
)
def test_units(kg: bool, code: int, unit: Unit) -> None:
    assert one(toledo(ToledoFields(weight=1, kg=kg, unit_code=code))).unit is unit


def test_undefined_unit_code_is_a_syntax_error() -> None:
    [error] = ToledoParser().feed(toledo(ToledoFields(weight=1, unit_code=5)))
    assert isinstance(error, FrameError)
    assert error.reason == "syntax"


def test_bad_checksum_then_good_frame() -> None:
    bad = GROSS[:-1] + bytes([GROSS[-1] ^ 1])
    error, reading = ToledoParser().feed(bad + NET)
    assert isinstance(error, FrameError)
    assert (error.reason, error.data, error.protocol) == ("checksum", bad, "toledo")
    assert isinstance(reading, Reading)
    assert reading.counts == 11240


def test_garbage_and_half_frame_then_good_frame() -> None:
    events = ToledoParser().feed(b"noise" + GROSS[:7] + NET)
    assert [type(e) for e in events] == [FrameError, FrameError, Reading]
    assert isinstance(events[0], FrameError)
    assert isinstance(events[1], FrameError)
    assert (events[0].reason, events[0].data) == ("garbage", b"noise")
    assert (events[1].reason, events[1].data) == ("syntax", GROSS[:7])


def test_value_is_exact_decimal() -> None:
    assert one(toledo(ToledoFields(weight=2468, position=4))).value == Decimal("24.68")


def test_flush_reports_a_pending_half_frame() -> None:
    parser = ToledoParser()
    assert parser.feed(GROSS[:9]) == []
    [error] = parser.flush()
    assert isinstance(error, FrameError)
    assert error.data == GROSS[:9]


def test_frame_cut_before_its_checksum_does_not_swallow_the_next_stx() -> None:
    short = toledo(ToledoFields(weight=1200, tare=None))
    events = ToledoParser().feed(short[:-1] + short)
    assert [getattr(e, "reason", None) for e in events] == ["garbage", None]
    assert events[1] == one(short)


def test_frame_whose_checksum_is_stx_waits_for_the_next_byte() -> None:
    frame = bytes.fromhex("02 39 63 33") + b"000000\r\x02"  # a valid frame, checksum 02
    parser = ToledoParser()
    assert parser.feed(frame) == []  # the 02 may yet be the next frame's STX
    [held] = parser.flush()
    assert (
        held
        == one(frame + GROSS[:1])  # an STX after the 02: not a frame, so the 02 was a checksum
        == Reading(
            protocol=ScaleProtocol.TOLEDO,
            counts=0,
            unit=Unit.OUNCE,
            stable=True,
            net=True,
            division=50,
            zero_pending=True,
            expanded=True,
            raw=frame,
        )
    )
    [reading, gross] = ToledoParser().feed(frame + GROSS)
    assert (reading, gross) == (held, one(GROSS))


def test_long_garbage_is_reported_in_capped_pieces() -> None:
    events = ToledoParser().feed(b"x" * 600 + GROSS)
    sizes = [(e.size, len(e.data)) for e in events if isinstance(e, FrameError)]
    assert sizes == [(256, 64), (256, 64), (88, 64)]
    assert isinstance(events[-1], Reading)
