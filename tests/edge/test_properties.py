"""Properties of every frame parser (STYLE.md, h11's fuzz rule).

(a) any bytes → only readings, replies or FrameErrors, never another exception;
(b) the same bytes fed whole, one byte at a time or in random chunks → identical events;
(c) frames built from random readings (tests/edge/builders.py, independent of edge and of
    firmware_sim) parse back to exactly those readings;
(d) garbage and a half frame before a valid frame → the valid frame is still read.

Events are compared with ``flush()``'s included: a Toledo frame whose checksum byte is an STX
is held until the next byte shows whether it was a frame cut before its checksum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.errors import FrameError
from edge.scale.mt_sics import SicsParser
from edge.scale.readings import (
    Reading,
    ScaleProtocol,
    SicsErrorCode,
    SicsErrorReply,
    SicsReply,
    SicsStatus,
    Unit,
)
from edge.scale.toledo import ToledoParser
from edge.scale.xk3190 import A9Parser, A12Parser, EqOrder, EqParser
from tests.edge.builders import (
    ToledoFields,
    a9,
    a12,
    a12_limit,
    eq,
    sics_weight,
    toledo,
)

Event = Reading | SicsReply | SicsErrorReply | FrameError
Frame = tuple[bytes, Event]  # bytes and the one event they must parse to


class Parser:
    """What every parser offers (a structural stand-in for the five classes)."""

    def feed(self, data: bytes) -> list[Event]: ...  # pragma: no cover
    def flush(self) -> list[Event]: ...  # pragma: no cover


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], object]
    frames: st.SearchStrategy[Frame]


# --- frame strategies: random readings, their bytes, the reading expected --------------------

_TOLEDO_UNITS = {1: Unit.GRAM, 2: Unit.TONNE, 3: Unit.OUNCE}


@st.composite
def toledo_frames(draw: st.DrawFn) -> Frame:
    fields = ToledoFields(
        weight=draw(st.integers(0, 999_999)),
        tare=draw(st.none() | st.integers(0, 999_999)),
        position=draw(st.integers(0, 7)),
        increment=draw(st.integers(0, 3)),
        net=draw(st.booleans()),
        negative=draw(st.booleans()),
        out_of_range=draw(st.booleans()),
        motion=draw(st.booleans()),
        kg=draw(st.booleans()),
        unit_code=draw(st.integers(0, 3)),
        zero_pending=draw(st.booleans()),
        print_request=draw(st.booleans()),
        expanded=draw(st.booleans()),
    )
    raw = toledo(fields, parity=draw(st.booleans()))
    base = {0: 100, 1: 10}.get(fields.position, 1)
    unit = _TOLEDO_UNITS.get(fields.unit_code, Unit.KILOGRAM if fields.kg else Unit.POUND)
    expected = Reading(
        protocol=ScaleProtocol.TOLEDO,
        counts=-fields.weight if fields.negative else fields.weight,
        decimals=max(fields.position - 2, 0),
        unit=unit,
        stable=not fields.motion,
        net=fields.net,
        overload=fields.out_of_range and not fields.negative,
        underload=fields.out_of_range and fields.negative,
        tare=fields.tare,
        division=None if fields.increment == 0 else (0, 1, 2, 5)[fields.increment] * base,
        zero_pending=fields.zero_pending,
        print_request=fields.print_request,
        expanded=fields.expanded,
        raw=raw,
    )
    return raw, expected


@st.composite
def a9_frames(draw: st.DrawFn) -> Frame:
    counts, decimals = draw(st.integers(-999_999, 999_999)), draw(st.integers(0, 4))
    raw = a9(counts, decimals)
    reading = Reading(protocol=ScaleProtocol.XK3190_A9, counts=counts, decimals=decimals, raw=raw)
    return raw, reading


@st.composite
def a12_frames(draw: st.DrawFn) -> Frame:
    if draw(st.integers(0, 9)) == 0:
        code = draw(st.sampled_from(["OL", "LO"]))
        raw = a12_limit(code)
        return raw, Reading(
            protocol=ScaleProtocol.XK3190_A12,
            counts=None,
            unit=None,
            overload=code == "OL",
            underload=code == "LO",
            raw=raw,
        )
    decimals = draw(st.integers(0, 4))
    bound = 99_999 if decimals else 999_999
    counts = draw(st.integers(-bound, bound * 10 + 9))
    net = draw(st.booleans())
    raw = a12(counts, decimals, net=net)
    return raw, Reading(
        protocol=ScaleProtocol.XK3190_A12, counts=counts, decimals=decimals, net=net, raw=raw
    )


def eq_frames(order: EqOrder) -> st.SearchStrategy[Frame]:
    @st.composite
    def frames(draw: st.DrawFn) -> Frame:
        decimals = draw(st.integers(0, 4))
        bound = 999_999 if decimals else 9_999_999
        counts = draw(st.integers(-bound, bound))
        raw = eq(counts, decimals, forward=order is EqOrder.FORWARD)
        return raw, Reading(
            protocol=ScaleProtocol.XK3190_EQ, counts=counts, decimals=decimals, raw=raw
        )

    return frames()


@st.composite
def sics_frames(draw: st.DrawFn) -> Frame:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        status = draw(st.sampled_from(["+", "-"]))
        raw = f"S {status}\r\n".encode()
        return raw, Reading(
            protocol=ScaleProtocol.MT_SICS,
            counts=None,
            unit=None,
            overload=status == "+",
            underload=status == "-",
            raw=raw,
        )
    if kind == 1:
        code = draw(st.sampled_from(list(SicsErrorCode)))
        raw = code.value.encode() + b"\r\n"
        return raw, SicsErrorReply(code=code, raw=raw)
    if kind == 2:
        command = draw(st.sampled_from(["Z", "T", "TAC", "ZI", "@"]))
        status = draw(st.sampled_from(list(SicsStatus)))
        raw = f"{command} {status.value}\r\n".encode()
        if command == "S":  # pragma: no cover - not drawn
            raise AssertionError
        return raw, SicsReply(command=command, status=status, raw=raw)
    if kind == 3:
        serial = draw(st.text(alphabet="ABCDEFXYZ0123456789 -", max_size=12))
        raw = f'I4 A "{serial}"\r\n'.encode()
        return raw, SicsReply(command="I4", status=SicsStatus.ACK, texts=(serial,), raw=raw)
    counts, decimals = draw(st.integers(-(10**9), 10**9)), draw(st.integers(0, 4))
    unit = draw(st.sampled_from(list(Unit)))
    status = draw(st.sampled_from(["S", "D"]))
    raw = sics_weight(status, counts, decimals, unit.value)
    return raw, Reading(
        protocol=ScaleProtocol.MT_SICS,
        counts=counts,
        decimals=decimals,
        unit=unit,
        stable=status == "S",
        raw=raw,
    )


CASES = [
    Case("toledo", ToledoParser, toledo_frames()),
    Case("xk3190-a9", A9Parser, a9_frames()),
    Case("xk3190-a12", A12Parser, a12_frames()),
    Case("xk3190-eq", EqParser, eq_frames(EqOrder.REVERSED)),
    Case("xk3190-eq-forward", lambda: EqParser(order=EqOrder.FORWARD), eq_frames(EqOrder.FORWARD)),
    Case("mt-sics", SicsParser, sics_frames()),
]
each_case = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
EVENT_TYPES = (Reading, SicsReply, SicsErrorReply, FrameError)


def new(case: Case) -> Parser:
    parser = case.make()
    assert hasattr(parser, "feed")
    return parser  # type: ignore[return-value]


def run(case: Case, chunks: list[bytes]) -> list[Event]:
    parser = new(case)
    events: list[Event] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.flush()


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, at = [], 0
    for size in sizes:
        chunks.append(data[at : at + size])
        at += size
    return [*chunks, data[at:]]


@st.composite
def streams(draw: st.DrawFn, case: Case) -> bytes:
    """Valid frames, half frames, bit flips and noise, in any order."""
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        raw, _event = draw(case.frames)
        kind = draw(st.integers(0, 3))
        if kind == 0:
            raw = raw[: draw(st.integers(0, len(raw)))]
        elif kind == 1:
            at = draw(st.integers(0, len(raw) - 1))
            raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
        elif kind == 2:
            raw = draw(st.binary(max_size=40))
        parts.append(raw)
    return b"".join(parts)


# --- (a) never another exception -----------------------------------------------------------


@each_case
@given(data=st.binary(max_size=600), sizes=st.lists(st.integers(1, 64)))
def test_any_bytes_give_only_events(case: Case, data: bytes, sizes: list[int]) -> None:
    for event in run(case, split(data, sizes)):
        assert isinstance(event, EVENT_TYPES)


@each_case
@given(data=st.data())
def test_broken_frames_give_only_events(data: st.DataObject, case: Case) -> None:
    stream = data.draw(streams(case))
    for event in run(case, [stream]):
        assert isinstance(event, EVENT_TYPES)
        if isinstance(event, FrameError):
            assert event.protocol == case.name.removesuffix("-forward")
            assert event.reason in {"checksum", "syntax", "garbage", "too_long"}
            assert len(event.data) <= 64
            assert event.size >= len(event.data) > 0


# --- (b) chunking does not matter ----------------------------------------------------------


@each_case
@given(data=st.data(), sizes=st.lists(st.integers(1, 30)))
def test_whole_byte_by_byte_and_chunked_agree(
    data: st.DataObject, case: Case, sizes: list[int]
) -> None:
    stream = data.draw(streams(case)) + data.draw(st.binary(max_size=300))
    whole = run(case, [stream])
    assert run(case, [stream[i : i + 1] for i in range(len(stream))]) == whole
    assert run(case, split(stream, sizes)) == whole


# --- (c) round trip ------------------------------------------------------------------------


@each_case
@given(data=st.data())
def test_frames_round_trip(data: st.DataObject, case: Case) -> None:
    frames = data.draw(st.lists(case.frames, min_size=1, max_size=6))
    stream = b"".join(raw for raw, _ in frames)
    assert run(case, [stream]) == [event for _, event in frames]


# --- (d) resynchronisation -----------------------------------------------------------------


@each_case
@given(data=st.data(), sizes=st.lists(st.integers(1, 30)))
def test_valid_frame_after_garbage_and_half_frame_is_read(
    data: st.DataObject, case: Case, sizes: list[int]
) -> None:
    garbage = data.draw(st.binary(max_size=300))
    half, _ = data.draw(case.frames)
    half = half[: data.draw(st.integers(0, len(half) - 1))]
    raw, expected = data.draw(case.frames)
    events = run(case, split(garbage + half + raw, sizes))
    assert events[-1] == expected  # and nothing after it, not even at flush
