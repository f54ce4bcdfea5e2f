"""The pure fault detectors: silence and a stuck weight, with time as an argument."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.scale.faults import SilenceDetector, StuckDetector, Transition


def test_silence_raises_once_and_clears_on_the_next_frame() -> None:
    silence = SilenceDetector(timeout_ms=1000, last_frame_ms=0)
    assert silence.tick(now_ms=999) is None
    assert silence.tick(now_ms=1000) is Transition.RAISED
    assert silence.tick(now_ms=5000) is None  # raised once, not again and again
    assert silence.frame(now_ms=5001) is Transition.CLEARED
    assert silence.frame(now_ms=5002) is None
    assert silence.due_ms() == 6002
    assert silence.tick(now_ms=6001) is None


def test_frames_keep_silence_away() -> None:
    silence = SilenceDetector(timeout_ms=500, last_frame_ms=0)
    for now in range(0, 10_000, 400):
        assert silence.frame(now_ms=now) is None
        assert silence.tick(now_ms=now + 399) is None


def test_unchanged_weight_while_a_truck_moves_is_stuck() -> None:
    stuck = StuckDetector(window_ms=2000, tolerance_kg=20)
    assert stuck.update(kg=12_000, moving=True, now_ms=0) is None
    assert stuck.update(kg=12_010, moving=True, now_ms=1500) is None  # within tolerance
    assert stuck.update(kg=12_000, moving=True, now_ms=2000) is Transition.RAISED
    assert stuck.update(kg=12_000, moving=True, now_ms=3000) is None
    assert stuck.update(kg=18_000, moving=True, now_ms=3100) is Transition.CLEARED
    assert stuck.update(kg=18_000, moving=True, now_ms=4000) is None


def test_movement_stopping_clears_and_restarts_the_window() -> None:
    stuck = StuckDetector(window_ms=1000)
    stuck.update(kg=5000, moving=True, now_ms=0)
    assert stuck.update(kg=5000, moving=True, now_ms=1000) is Transition.RAISED
    assert stuck.update(kg=5000, moving=False, now_ms=1100) is Transition.CLEARED
    assert stuck.update(kg=5000, moving=True, now_ms=1200) is None
    assert stuck.update(kg=5000, moving=True, now_ms=2100) is None
    assert stuck.update(kg=5000, moving=True, now_ms=2200) is Transition.RAISED


def test_a_frame_without_a_number_is_not_stuck() -> None:
    stuck = StuckDetector(window_ms=1000)
    stuck.update(kg=None, moving=True, now_ms=0)
    assert stuck.update(kg=None, moving=True, now_ms=5000) is None


@given(st.lists(st.integers(0, 60_000), min_size=1, max_size=200))
def test_a_stable_deck_for_hours_is_never_stuck(weights: list[int]) -> None:
    stuck = StuckDetector(window_ms=1000)
    for index, kg in enumerate(weights):
        now = index * 3_600_000
        assert stuck.update(kg=kg, moving=False, now_ms=now) is None
        assert stuck.update(kg=kg, moving=False, now_ms=now + 3_599_999) is None
    assert not stuck.stuck
