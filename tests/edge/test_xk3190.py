"""XK3190-A9, A12(E) and "=": PROTOCOLS.md §3's worked frames byte for byte, OL/LO, faults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge.errors import FrameError
from edge.scale.readings import Reading, ScaleProtocol, Unit
from edge.scale.xk3190 import A9Parser, A12Parser, EqOrder, EqParser
from tests.edge.builders import a9, a12, a12_limit, eq

A9_PLUS = bytes.fromhex("02 2B 30 31 32 33 34 30 30 31 46 03")
A9_MINUS = bytes.fromhex("02 2D 30 30 30 31 30 30 32 31 45 03")
A12_FRAME = b"WG004.139kg3D\r\n"


def test_a9_worked_frames() -> None:
    assert A9Parser().feed(A9_PLUS + A9_MINUS) == [
        Reading(protocol=ScaleProtocol.XK3190_A9, counts=12340, raw=A9_PLUS),
        Reading(protocol=ScaleProtocol.XK3190_A9, counts=-100, decimals=2, raw=A9_MINUS),
    ]
    assert (a9(12340, 0), a9(-100, 2)) == (A9_PLUS, A9_MINUS)


def test_a9_bad_check_and_garbage() -> None:
    bad = A9_PLUS[:9] + b"00" + A9_PLUS[11:]
    events = A9Parser().feed(b"\x02+01" + bad + A9_MINUS)
    assert [getattr(e, "reason", None) for e in events] == ["syntax", "checksum", None]
    assert isinstance(events[2], Reading)
    assert events[2].value == Decimal("-1.00")


def test_a12_worked_frame() -> None:
    [reading] = A12Parser().feed(A12_FRAME)
    assert reading == Reading(
        protocol=ScaleProtocol.XK3190_A12,
        counts=4139,
        decimals=3,
        unit=Unit.KILOGRAM,
        net=False,
        raw=A12_FRAME,
    )
    assert a12(4139, 3) == A12_FRAME


def test_a12_net_and_negative() -> None:
    [net, negative] = A12Parser().feed(a12(25000, 0, net=True) + a12(-20, 1))
    assert isinstance(net, Reading)
    assert isinstance(negative, Reading)
    assert (net.counts, net.decimals, net.net) == (25000, 0, True)
    assert (negative.counts, negative.decimals, negative.net) == (-20, 1, False)


@pytest.mark.parametrize(("code", "over", "under"), [("OL", True, False), ("LO", False, True)])
def test_a12_overload_and_underload(code: str, over: bool, under: bool) -> None:
    frame = a12_limit(code)
    assert len(frame) == 15
    assert frame.startswith(b" " * 9 + code.encode())
    [reading] = A12Parser().feed(frame)
    assert isinstance(reading, Reading)
    assert (reading.counts, reading.unit, reading.overload, reading.underload) == (
        None,
        None,
        over,
        under,
    )


def test_a12_half_frame_on_the_same_line_is_garbage() -> None:
    events = A12Parser().feed(A12_FRAME[:6] + A12_FRAME)
    assert events[0] == FrameError(
        "6 bytes outside any frame", protocol="xk3190-a12", reason="garbage", data=A12_FRAME[:6]
    )
    assert isinstance(events[1], Reading)


def test_a12_bad_check() -> None:
    [error] = A12Parser().feed(A12_FRAME.replace(b"3D", b"3E"))
    assert isinstance(error, FrameError)
    assert error.reason == "checksum"


def test_eq_worked_frames() -> None:
    events = EqParser().feed(b"=000.3000=00.1000-")
    assert [(e.counts, e.decimals) for e in events if isinstance(e, Reading)] == [
        (3000, 3),
        (-100, 2),
    ]
    assert (eq(3000, 3), eq(-100, 2)) == (b"=000.3000", b"=00.1000-")


def test_eq_forward_order() -> None:
    [reading] = EqParser(order=EqOrder.FORWARD).feed(b"=0003.000")
    assert isinstance(reading, Reading)
    assert reading.value == Decimal("3.000")
    assert eq(3000, 3, forward=True) == b"=0003.000"


def test_eq_half_frame_resynchronises() -> None:
    events = EqParser().feed(b"=00.1=000.3000")
    assert isinstance(events[0], FrameError)
    assert (events[0].reason, events[0].data) == ("syntax", b"=00.1")
    assert isinstance(events[1], Reading)


def test_unit_of_unitless_formats_is_configured() -> None:
    [a9_reading] = A9Parser(unit=Unit.TONNE).feed(a9(4900, 2))
    [eq_reading] = EqParser(unit=Unit.TONNE).feed(eq(4900, 2))
    assert isinstance(a9_reading, Reading)
    assert isinstance(eq_reading, Reading)
    assert (a9_reading.unit, eq_reading.unit) == (Unit.TONNE, Unit.TONNE)
