"""MT-SICS replies: PROTOCOLS.md §1's examples byte for byte, statuses, errors, noise."""

from __future__ import annotations

import pytest

from edge.errors import FrameError
from edge.scale.mt_sics import MAX_LINE, SicsParser
from edge.scale.readings import (
    Reading,
    ScaleProtocol,
    SicsErrorCode,
    SicsErrorReply,
    SicsReply,
    SicsStatus,
    Unit,
)
from tests.edge.builders import sics_weight


def test_examples() -> None:
    events = SicsParser().feed(b"S S     100.00 g\r\nS D      24680 kg\r\nZ A\r\n")
    assert events == [
        Reading(
            protocol=ScaleProtocol.MT_SICS,
            counts=10000,
            decimals=2,
            unit=Unit.GRAM,
            stable=True,
            raw=b"S S     100.00 g\r\n",
        ),
        Reading(
            protocol=ScaleProtocol.MT_SICS,
            counts=24680,
            unit=Unit.KILOGRAM,
            stable=False,
            raw=b"S D      24680 kg\r\n",
        ),
        SicsReply(command="Z", status=SicsStatus.ACK, raw=b"Z A\r\n"),
    ]
    assert sics_weight("S", 10000, 2, "g") == b"S S     100.00 g\r\n"


@pytest.mark.parametrize(
    ("line", "over", "under"), [(b"S +\r\n", True, False), (b"S -\r\n", False, True)]
)
def test_overload_and_underload(line: bytes, over: bool, under: bool) -> None:
    [reading] = SicsParser().feed(line)
    assert isinstance(reading, Reading)
    assert (reading.counts, reading.overload, reading.underload) == (None, over, under)


def test_negative_weight() -> None:
    [reading] = SicsParser().feed(b"S D     -12.50 kg\r\n")
    assert isinstance(reading, Reading)
    assert (reading.counts, reading.decimals, reading.stable) == (-1250, 2, False)


@pytest.mark.parametrize("code", list(SicsErrorCode))
def test_error_replies(code: SicsErrorCode) -> None:
    raw = code.value.encode() + b"\r\n"
    assert SicsParser().feed(raw) == [SicsErrorReply(code=code, raw=raw)]


def test_replies_that_are_not_weights() -> None:
    lines = b'I4 A "SIM0000001"\r\nS I\r\nZ +\r\nT S      15000 kg\r\nTAC A\r\nZI D\r\n'
    events = SicsParser().feed(lines)
    assert all(isinstance(e, SicsReply) for e in events)
    replies = [e for e in events if isinstance(e, SicsReply)]
    assert [(r.command, r.status) for r in replies] == [
        ("I4", SicsStatus.ACK),
        ("S", SicsStatus.NOT_NOW),
        ("Z", SicsStatus.OVER),
        ("T", SicsStatus.STABLE),
        ("TAC", SicsStatus.ACK),
        ("ZI", SicsStatus.DYNAMIC),
    ]
    assert replies[0].texts == ("SIM0000001",)
    assert (replies[3].counts, replies[3].unit) == (15000, Unit.KILOGRAM)


def test_half_reply_glued_to_the_next() -> None:
    events = SicsParser().feed(b"S S    1" + b"S S     100.00 g\r\n")
    assert isinstance(events[0], FrameError)
    assert (events[0].reason, events[0].data) == ("garbage", b"S S    1")
    assert isinstance(events[1], Reading)
    assert events[1].counts == 10000


def test_noise_line_is_garbage() -> None:
    parser = SicsParser()
    assert parser.feed(b"\x00\xffxyz\r\n") == []  # garbage is reported with what follows
    [error, reading] = parser.feed(b"Z A\r\n")
    assert isinstance(error, FrameError)
    assert (error.reason, error.data) == ("garbage", b"\x00\xffxyz\r\n")
    assert isinstance(reading, SicsReply)


def test_line_too_long() -> None:
    events = SicsParser().feed(b"x" * (MAX_LINE + 10) + b"\r\nS S 5 kg\r\n")
    assert isinstance(events[0], FrameError)
    assert events[0].reason == "too_long"
    assert isinstance(events[-1], Reading)
    assert events[-1].counts == 5


def test_empty_lines_are_ignored() -> None:
    assert SicsParser().feed(b"\r\n\r\n") == []
