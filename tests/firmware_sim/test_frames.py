"""Frames byte for byte against the worked frames of PROTOCOLS.md §1-3, and their checksums."""

from __future__ import annotations

from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.display import Display, Reading, Unit
from firmware_sim.errors import ConfigError
from firmware_sim.frames import encode_frame
from firmware_sim.indicator import IndicatorConfig, Protocol
from firmware_sim.protocols import mt_sics, toledo, xk3190
from firmware_sim.protocols.mt_sics import Status

# --- Toledo continuous (§2) ----------------------------------------------------------------------


def test_toledo_worked_frame_gross_stable() -> None:
    frame = toledo.encode(toledo.ToledoFrame(weight=24680, tare=0, division=2))
    assert frame == bytes.fromhex("02 32 30 20 30 32 34 36 38 30 30 30 30 30 30 30 0D 1B")


def test_toledo_worked_frame_net_moving() -> None:
    frame = toledo.encode(
        toledo.ToledoFrame(weight=11240, tare=13440, division=2, net=True, motion=True)
    )
    assert frame == b"\x02\x32\x39\x20" + b"011240" + b"013440" + b"\x0d\x12"


def test_toledo_status_a_for_a_ten_kg_division() -> None:
    # e = 10 kg on a kg display is "XXXXX0" (code 1) with increment x1.
    frame = toledo.encode(toledo.ToledoFrame(weight=49000, division=10))
    assert frame[1] == 0x20 | 0b001 | 0b01 << 3


def test_toledo_short_frame_is_twelve_bytes() -> None:
    frame = toledo.encode(toledo.ToledoFrame(weight=24680, division=2, with_tare=False))
    assert len(frame) == 12
    assert frame[-2] == 0x0D
    assert sum(b & 0x7F for b in frame) & 0x7F == 0


@given(
    weight=st.integers(0, 999_999),
    tare=st.integers(0, 999_999),
    flags=st.tuples(*(st.booleans() for _ in range(5))),
)
@settings(max_examples=60, deadline=None)
def test_toledo_checksum_always_balances(
    weight: int, tare: int, flags: tuple[bool, bool, bool, bool, bool]
) -> None:
    net, negative, out_of_range, motion, not_zeroed = flags
    frame = toledo.encode(
        toledo.ToledoFrame(
            weight=weight,
            tare=tare,
            net=net,
            negative=negative,
            out_of_range=out_of_range,
            motion=motion,
            power_up_not_zeroed=not_zeroed,
        )
    )
    assert len(frame) == 18
    assert sum(b & 0x7F for b in frame) & 0x7F == 0
    assert sum(b & 0x7F for b in toledo.corrupt_checksum(frame)) & 0x7F != 0


def test_toledo_refuses_a_display_it_cannot_describe() -> None:
    with pytest.raises(ConfigError):
        toledo.decimal_code(decimals=2, division=10)


# --- Yaohua XK3190 (§3) --------------------------------------------------------------------------


def test_a9_worked_frames() -> None:
    assert xk3190.encode_a9(counts=12340, decimals=0) == bytes.fromhex(
        "02 2B 30 31 32 33 34 30 30 31 46 03"
    )
    assert xk3190.encode_a9(counts=-100, decimals=2) == bytes.fromhex(
        "02 2D 30 30 30 31 30 30 32 31 45 03"
    )


def test_a9_corrupted_check_differs() -> None:
    frame = xk3190.encode_a9(counts=12340, decimals=0)
    bad = xk3190.corrupt_a9(frame)
    assert len(bad) == 12
    assert bad[:9] == frame[:9]
    assert bad[9:11] != frame[9:11]


def test_a12_worked_frame() -> None:
    assert xk3190.encode_a12(counts=4139, decimals=3) == b"WG004.139kg3D\r\n"


def test_a12_negative_net_and_limits() -> None:
    frame = xk3190.encode_a12(counts=-4139, decimals=3, mode=xk3190.A12Mode.NET)
    assert frame[:11] == b"WN-04.139kg"
    assert len(frame) == 15
    overload = xk3190.encode_a12_limit(xk3190.A12Limit.OVERLOAD)
    assert overload[:11] == b"         OL"
    assert len(overload) == 15
    check = reduce(lambda a, b: a ^ b, overload[:11], 0)
    assert overload[11:13] == f"{check:02X}".encode()


def test_eq_worked_frames() -> None:
    assert xk3190.encode_eq(counts=3000, decimals=3) == b"=000.3000"
    assert xk3190.encode_eq(counts=-100, decimals=2) == b"=00.1000-"
    forward = xk3190.encode_eq(counts=3000, decimals=3, order=xk3190.DigitOrder.FORWARD)
    assert forward == b"=0003.000"


# --- MT-SICS (§1) --------------------------------------------------------------------------------


def test_mt_sics_worked_replies() -> None:
    assert mt_sics.weight_reply("S", Status.STABLE, 10000, 2, "g") == b"S S     100.00 g\r\n"
    assert mt_sics.weight_reply("S", Status.DYNAMIC, 24680, 0, "kg") == b"S D      24680 kg\r\n"
    assert mt_sics.status_reply("Z", Status.ACK) == b"Z A\r\n"


def test_mt_sics_sign_sits_before_the_first_digit() -> None:
    assert mt_sics.format_value(-1234, 2) == "    -12.34"


def test_line_splitter_whole_or_byte_by_byte() -> None:
    stream = b"S\r\nSI\nZ\rTA 12.5 kg\r\n\r\n"
    whole = mt_sics.LineSplitter().feed(stream)
    splitter = mt_sics.LineSplitter()
    one_by_one = [line for b in stream for line in splitter.feed(bytes([b]))]
    assert whole == one_by_one == [b"S", b"SI", b"Z", b"TA 12.5 kg"]


def test_line_splitter_reports_overlong_lines_once() -> None:
    lines = mt_sics.LineSplitter().feed(b"X" * 200 + b"\r\nS\r\n")
    assert lines == [None, b"S"]


# --- from a reading to a frame -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        (Protocol.TOLEDO, bytes.fromhex("02 32 30 20 30 32 34 36 38 30 30 30 30 30 30 30 0D 1B")),
        (
            Protocol.XK3190_A9,
            b"\x02+0246800" + b"%02X" % reduce(lambda a, b: a ^ b, b"+0246800", 0) + b"\x03",
        ),
        (Protocol.XK3190_EQ, b"=" + b"0864200" + b"0"),
    ],
)
def test_reading_becomes_the_protocols_frame(protocol: Protocol, expected: bytes) -> None:
    config = IndicatorConfig(protocol=protocol, display=Display(division_kg=2))
    assert encode_frame(config, Reading(gross_kg=24680)) == expected


def test_a12_shows_overload_frame() -> None:
    config = IndicatorConfig(protocol=Protocol.XK3190_A12, display=Display(unit=Unit.KILOGRAM))
    frame = encode_frame(config, Reading(gross_kg=70_000, overload=True))
    assert frame[:11] == b"         OL"


@pytest.mark.parametrize(
    ("protocol", "display", "capacity_kg"),
    [
        (Protocol.TOLEDO, Display(division_kg=10), 2_000_000),
        (Protocol.XK3190_A9, Display(unit=Unit.GRAM, division_kg=1), 60_000),
        (Protocol.XK3190_A9, Display(decimals=2, division_kg=10), 60_000),
        (Protocol.XK3190_EQ, Display(decimals=2, division_kg=10), 60_000),
    ],
)
def test_a_max_the_frame_cannot_hold_is_refused(
    protocol: Protocol, display: Display, capacity_kg: int
) -> None:
    # 2 000 t, or 60 t as 60 000 000 g or 60 000.00 kg: six digits cannot show it, and the
    # frame would clip silently.
    with pytest.raises(ConfigError, match="digits"):
        IndicatorConfig(protocol=protocol, display=display, capacity_kg=capacity_kg)
    assert IndicatorConfig(protocol=protocol, display=display, capacity_kg=900)
