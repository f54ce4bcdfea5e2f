"""Stability (±band_e divisions over window_ms), zero before the transaction, tamper detectors,
and the lane's settings checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.errors import ConfigError
from edge.gate.stability import StabilityDetector, ZeroCheck
from edge.gate.tamper import BeamWatch, CalibrationWatch, StepDetector
from tests.edge.gate import builders as b


def detector(**changes: int) -> StabilityDetector:
    values = {"division_kg": 20, "band_e": 1, "window_ms": 1000}
    values.update(changes)
    return StabilityDetector(**values)


def feed(d: StabilityDetector, readings: list[tuple[int, int]]) -> None:
    for at, kg in readings:
        d.add(kg, now_ms=at)


def test_stable_only_once_the_window_is_covered() -> None:
    d = detector()
    feed(d, [(t, 49_000) for t in range(0, 1000, 100)])
    assert not d.stable(now_ms=900)
    d.add(49_000, now_ms=1000)
    assert d.stable(now_ms=1000)
    assert d.window()[0] == (0, 49_000)
    assert d.window()[-1] == (1000, 49_000)


def test_within_one_division_either_way_is_stable_two_is_not() -> None:
    d = detector()
    feed(d, [(0, 49_000), (500, 49_020), (1000, 49_000)])
    assert d.stable(now_ms=1000)
    d.add(49_040, now_ms=1100)
    assert not d.stable(now_ms=1100), "49 000 in the window is 2 e from 49 040"


def test_a_wider_band_and_longer_window_are_honoured() -> None:
    d = detector(band_e=3, window_ms=2000)
    feed(d, [(t, 49_000 + (t // 100 % 2) * 60) for t in range(0, 2100, 100)])
    assert d.stable(now_ms=2000)
    assert not detector(band_e=2, window_ms=2000).stable(now_ms=0)


def test_the_indicators_motion_flag_breaks_stability() -> None:
    d = detector()
    feed(d, [(0, 49_000), (500, 49_000)])
    d.add(49_000, now_ms=600, motion=True)
    d.add(49_000, now_ms=1000)
    assert not d.stable(now_ms=1000)
    d.add(49_000, now_ms=1700)
    assert not d.stable(now_ms=1700), "the moving reading held until 1000: still in the window"
    d.add(49_000, now_ms=2000)
    assert d.stable(now_ms=2000)


def test_time_going_back_restarts_the_window() -> None:
    d = detector()
    feed(d, [(5000, 10), (6000, 10)])
    d.add(10, now_ms=100)
    assert not d.stable(now_ms=100)


@given(
    st.lists(st.tuples(st.integers(1, 400), st.integers(-100, 100)), min_size=1, max_size=60),
    st.integers(0, 3),
)
def test_stable_means_every_window_reading_near_the_latest(
    steps: list[tuple[int, int]], band_e: int
) -> None:
    d = detector(band_e=band_e)
    now = 0
    history: list[tuple[int, int]] = []
    for dt, kg in steps:
        now += dt
        d.add(kg, now_ms=now)
        history.append((now, kg))
    anchor = max((at for at, _ in history if at <= now - 1000), default=None)
    expected = anchor is not None and all(
        abs(kg - history[-1][1]) <= band_e * 20 for at, kg in history if at >= anchor
    )
    assert d.stable(now_ms=now) == expected


def test_zero_check_needs_an_empty_reading_per_truck() -> None:
    z = ZeroCheck(division_kg=20, zero_band_e=2)
    assert not z.ok()
    z.empty_stable(40)
    assert z.truck_arrived() is True
    assert z.truck_arrived() is False, "the next truck needs the deck seen empty again"
    z.empty_stable(60)
    assert z.truck_arrived() is False, "60 kg is 3 e off zero"


def test_zero_drift_is_measured_from_the_zero_last_set() -> None:
    z = ZeroCheck(division_kg=20, zero_drift_e=5)
    assert z.empty_stable(20) is False
    assert z.empty_stable(120) is False, "exactly 5 e is still within"
    assert z.empty_stable(140) is True
    assert z.empty_stable(140) is False, "raised once"
    z.zero_set()
    assert z.empty_stable(0) is False
    assert z.reference_kg == 0


def test_step_detector_only_while_still() -> None:
    s = StepDetector(step_kg=1000)
    assert s.update(49_000, still=True) is None
    assert s.update(47_000, still=False) is None
    assert s.update(49_000, still=True) == 2000
    assert s.update(49_500, still=True) is None


def test_beam_watch_counts_from_the_first_interruption() -> None:
    w = BeamWatch(hold_ms=1000)
    assert not w.update(edge_beam=True, any_beam=True, occupied=False, now_ms=0)
    assert not w.update(edge_beam=True, any_beam=True, occupied=False, now_ms=999)
    assert w.update(edge_beam=True, any_beam=True, occupied=False, now_ms=1000)
    assert not w.update(edge_beam=True, any_beam=True, occupied=False, now_ms=5000)
    assert not w.update(edge_beam=True, any_beam=True, occupied=True, now_ms=5001)
    assert w.beams_seen
    w.update(edge_beam=False, any_beam=False, occupied=False, now_ms=6000)
    assert not w.beams_seen


def test_calibration_watch() -> None:
    c = CalibrationWatch()
    assert c.update(None) is None
    assert c.update(5) is None
    assert c.update(5) is None
    assert c.update(6) == (5, 6)


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"lane": "Lane 1"}, "lane"),
        ({"direction": "sideways"}, "direction"),
        ({"passes": "three"}, "passes"),
        ({"protocol": "morse"}, "protocol"),
        ({"division_kg": 0}, "division_kg"),
        ({"capacity_kg": 10}, "division_kg"),
        ({"band_e": -1}, "band_e"),
        ({"min_plate_conf": 101}, "min_plate_conf"),
        ({"occupied_kg": 0}, "occupied_kg"),
        ({"window_ms": 0}, "window_ms"),
        ({"step_kg": 0}, "step_kg"),
        ({"tare_tolerance_kg": -1}, "tare_tolerance_kg"),
        ({"settle_timeout_ms": 1000}, "settle_timeout_ms"),
    ],
)
def test_config_that_cannot_work_is_refused(changes: dict[str, object], option: str) -> None:
    with pytest.raises(ConfigError) as caught:
        b.config(**changes)
    assert caught.value.option == option


def test_config_names_its_cameras() -> None:
    cfg = b.config(lane="north-2")
    assert (cfg.entry_camera, cfg.exit_camera) == ("north-2-entry", "north-2-exit")
    renamed = b.config(camera_entry="cam-a", camera_exit="cam-b")
    assert (renamed.entry_camera, renamed.exit_camera) == ("cam-a", "cam-b")
    with pytest.raises(ConfigError):
        b.config(camera_entry="cam-a", camera_exit="cam-a")
