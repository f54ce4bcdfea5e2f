"""The pure send window: order, window bound, resend on reconnect and on a stalled ack."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.uplink.window import AckVerdict, SendRange, SendWindow


def test_publishes_in_order_within_the_window() -> None:
    window = SendWindow(window=5, resend_after_ms=1000)
    assert window.due(highest=3, now_ms=0) == SendRange(first=1, last=3, resend=False)
    assert window.due(highest=3, now_ms=1) is None
    assert window.due(highest=12, now_ms=2) == SendRange(first=4, last=5, resend=False)
    assert window.on_ack(seq=2, reject=None, highest=12, now_ms=3) is AckVerdict.ADVANCED
    assert window.due(highest=12, now_ms=4) == SendRange(first=6, last=7, resend=False)
    assert window.in_flight == 5


def test_reconnect_resends_everything_above_the_ack() -> None:
    window = SendWindow(window=10, resend_after_ms=1000)
    window.due(highest=8, now_ms=0)
    window.on_ack(seq=3, reject=None, highest=8, now_ms=1)
    window.connected(now_ms=2)
    assert window.due(highest=8, now_ms=3) == SendRange(first=4, last=8, resend=False)


def test_a_stalled_ack_triggers_a_resend_after_resend_after() -> None:
    window = SendWindow(window=10, resend_after_ms=1000)
    window.due(highest=4, now_ms=0)
    assert window.next_check_ms(now_ms=400) == 600
    assert window.due(highest=4, now_ms=999) is None
    assert window.due(highest=4, now_ms=1000) == SendRange(first=1, last=4, resend=True)
    window.on_ack(seq=2, reject=None, highest=4, now_ms=1500)
    assert window.due(highest=4, now_ms=2400) is None  # the ack moved: the clock restarts
    assert window.due(highest=4, now_ms=2500) == SendRange(first=3, last=4, resend=True)
    assert window.resends == 2


def test_no_resend_clock_runs_while_nothing_is_in_flight() -> None:
    window = SendWindow(window=10, resend_after_ms=1000)
    window.due(highest=2, now_ms=0)
    window.on_ack(seq=2, reject=None, highest=2, now_ms=10)
    assert window.next_check_ms(now_ms=50_000) is None
    # a record written long after: sent once, not resent at once
    assert window.due(highest=3, now_ms=60_000) == SendRange(first=3, last=3, resend=False)
    assert window.due(highest=3, now_ms=60_001) is None


def test_acks_keep_the_maximum_ignore_beyond_and_reject_stops_everything() -> None:
    window = SendWindow(window=10, resend_after_ms=1000)
    window.due(highest=6, now_ms=0)
    assert window.on_ack(seq=5, reject=None, highest=6, now_ms=1) is AckVerdict.ADVANCED
    assert window.on_ack(seq=4, reject=None, highest=6, now_ms=2) is AckVerdict.STALE
    assert window.on_ack(seq=7, reject=None, highest=6, now_ms=3) is AckVerdict.BEYOND
    assert window.acked == 5
    assert window.on_ack(seq=5, reject="revoked", highest=6, now_ms=4) is AckVerdict.REJECTED
    assert window.due(highest=20, now_ms=10_000) is None
    window.connected(now_ms=10_001)
    assert window.due(highest=20, now_ms=10_002) is None
    assert window.next_check_ms(now_ms=10_003) is None


def test_a_refused_publish_is_sent_again() -> None:
    window = SendWindow(window=10, resend_after_ms=1000)
    window.due(highest=6, now_ms=0)
    window.unsent(last=2)
    assert window.due(highest=6, now_ms=1) == SendRange(first=3, last=6, resend=False)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="window"):
        SendWindow(window=0)
    with pytest.raises(ValueError, match="resend_after_ms"):
        SendWindow(resend_after_ms=0)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(1, 50)),
        st.tuples(st.just("ack"), st.integers(0, 400)),
        st.tuples(st.just("tick"), st.integers(0, 3000)),
        st.tuples(st.just("connect"), st.just(0)),
        st.tuples(st.just("refuse"), st.integers(0, 400)),
    ),
    max_size=60,
)


@given(window_size=st.integers(1, 40), script=steps)
def test_invariants(window_size: int, script: list[tuple[str, int]]) -> None:
    """Whatever happens: ranges are contiguous and in bounds, never beyond ack + window, the
    ack never goes down nor above the highest written, and after a connect or a stall the
    next range starts right above the ack."""
    window = SendWindow(window=window_size, resend_after_ms=1000)
    highest = 0
    now = 0
    last_ack = 0
    for action, value in script:
        restart = False
        if action == "write":
            highest += value
        elif action == "ack":
            window.on_ack(seq=value, reject=None, highest=highest, now_ms=now)
        elif action == "tick":
            now += value
        elif action == "connect":
            window.connected(now_ms=now)
            restart = True
        else:
            window.unsent(last=value)
        assert last_ack <= window.acked <= highest
        last_ack = window.acked
        sent_before = window.sent
        due = window.due(highest=highest, now_ms=now)
        if due is not None:
            assert window.acked < due.first <= due.last <= min(highest, window.acked + window_size)
            assert due.first == (window.acked + 1 if due.resend or restart else sent_before + 1)
            assert window.sent == due.last
        assert window.acked <= window.sent <= max(window.acked, highest)
