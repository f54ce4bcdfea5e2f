"""Pure parts of the IO side: the IO map, motion from beam snapshots, and stuck detection
(``ScaleWatch``) on simulated time."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.errors import ConfigError
from edge.io.events import BeamsChanged
from edge.io.iomap import DEFAULT_IO_MAP, IoMap, io_map_from_table, io_map_from_text
from edge.io.motion import MotionTracker
from edge.scale.events import FaultKind, ScaleFault
from edge.scale.watch import ScaleWatch

HOUR_MS = 3_600_000


def beams(
    at_ms: int,
    *,
    entry: bool = False,
    rear: bool = False,
    front: bool = False,
    exit: bool = False,  # noqa: A002 - the beam's name
    barrier_up: bool = False,
) -> BeamsChanged:
    return BeamsChanged(
        entry=entry, front=front, rear=rear, exit=exit, barrier_up=barrier_up, at_ms=at_ms
    )


# --- IO map ------------------------------------------------------------------------------


def test_default_map_is_protocols_md() -> None:
    m = DEFAULT_IO_MAP
    assert (m.barrier, m.red, m.green, m.horn) == (0, 1, 2, 3)
    assert (m.entry, m.deck_front, m.deck_rear, m.exit, m.barrier_up) == (0, 1, 2, 3, 4)
    assert m.coil_span == (0, 4)
    assert m.input_span == (0, 5)


def test_map_from_table_moves_signals_and_keeps_the_rest() -> None:
    m = io_map_from_table({"exit": 5, "barrier_up": 6}, where="lane[1].io")
    assert (m.exit, m.barrier_up, m.entry, m.barrier) == (5, 6, 0, 0)
    assert m.input_span == (0, 7)
    assert io_map_from_text("exit=5, barrier_up=6") == m


@pytest.mark.parametrize(
    ("table", "option", "words"),
    [
        ({"exitt": 5}, "lane[1].io.exitt", "unknown signal"),
        ({"exit": 2}, "lane[1].io.exit", "both deck_rear and exit"),
        ({"red": 0}, "lane[1].io.red", "both barrier and red"),
        ({"horn": -1}, "lane[1].io.horn", "not 0-1999"),
        ({"horn": 2000}, "lane[1].io.horn", "not 0-1999"),
        ({"horn": "3"}, "lane[1].io.horn", "integer"),
        ({"horn": True}, "lane[1].io.horn", "integer"),
    ],
)
def test_map_from_table_errors_name_the_key(
    table: dict[str, object], option: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        io_map_from_table(table, where="lane[1].io")
    assert caught.value.option == option


def test_map_from_text_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        io_map_from_text("exit:5")
    assert caught.value.option == "io-map"
    with pytest.raises(ConfigError) as caught:
        io_map_from_text("door=5")
    assert caught.value.option == "io-map.door"
    with pytest.raises(ValueError, match="no coil"):
        IoMap().coil("entry")


# --- motion --------------------------------------------------------------------------------


def test_motion_is_a_beam_change_within_the_window() -> None:
    motion = MotionTracker(window_ms=1000)
    motion.update(beams(0, entry=True))  # the first snapshot only sets the scene
    assert not motion.moving(now_ms=0)
    motion.update(beams(5000, entry=True, barrier_up=True))  # the barrier is not a beam
    assert not motion.moving(now_ms=5000)
    motion.update(beams(6000, entry=True, rear=True))
    assert motion.moving(now_ms=6000)
    assert motion.moving(now_ms=6999)
    assert not motion.moving(now_ms=7000)


@given(st.lists(st.booleans(), min_size=4, max_size=4), st.integers(0, 10 * HOUR_MS))
def test_a_beam_that_stays_broken_is_no_motion(start: list[bool], later_ms: int) -> None:
    motion = MotionTracker(window_ms=2000)
    entry, rear, front, exit_ = start
    for at in (0, later_ms):
        motion.update(beams(at, entry=entry, rear=rear, front=front, exit=exit_))
        assert not motion.moving(now_ms=at)


# --- stuck ---------------------------------------------------------------------------------


def feed(watch: ScaleWatch, events: Iterable[tuple[int, int | None] | BeamsChanged]) -> list:
    """Weights as (at_ms, kg) and beam snapshots, in order; the faults the watch raised."""
    faults: list[ScaleFault] = []
    for event in events:
        if isinstance(event, BeamsChanged):
            fault = watch.beams(event)
        else:
            fault = watch.weight(event[1], at_ms=event[0])
        if fault is not None:
            faults.append(fault)
    return faults


def drive_on(start_ms: int, step_ms: int = 2000) -> list[BeamsChanged]:
    """Beam snapshots of a truck rolling onto the deck, one change every ``step_ms``."""
    scenes = [
        {"entry": True},
        {"entry": True, "rear": True},
        {"rear": True},
        {},
    ]
    return [beams(start_ms + i * step_ms, **scene) for i, scene in enumerate(scenes)]


def merged(
    beam_events: list[BeamsChanged], weight_at: dict[int, int] | None, until_ms: int, kg: int
) -> list[tuple[int, int | None] | BeamsChanged]:
    """Weights every 100 ms (``kg``, or as ``weight_at`` changes it) merged with the beams."""
    out: list[tuple[int, int | None] | BeamsChanged] = []
    pending = sorted(beam_events, key=lambda b: b.at_ms)
    current = kg
    for at in range(0, until_ms, 100):
        while pending and pending[0].at_ms <= at:
            out.append(pending.pop(0))
        if weight_at and at in weight_at:
            current = weight_at[at]
        out.append((at, current))
    return out


def test_a_frozen_weight_while_a_truck_rolls_on_is_stuck_then_clears() -> None:
    watch = ScaleWatch(stuck_after_ms=5000, motion_window_ms=3000)
    scene = [beams(0), *drive_on(1000)]  # changes at 1000, 3000, 5000, 7000
    faults = feed(watch, merged(scene, None, 15_000, kg=0))
    assert [f.kind for f in faults] == [FaultKind.STUCK, FaultKind.UNSTUCK]
    assert faults[0].at_ms == 6000  # moving since 1000, unchanged for 5000 ms
    assert faults[1].at_ms == 10_000  # the last change (7000) is 3000 ms old: no more movement
    assert faults[1].detail == "no more movement"
    assert not watch.stuck


def test_a_weight_that_follows_the_axles_is_not_stuck() -> None:
    watch = ScaleWatch(stuck_after_ms=5000, motion_window_ms=3000)
    scene = [beams(0), *drive_on(1000)]
    axles = {3000: 6000, 3100: 6100, 6500: 14_000, 6600: 14_050, 7500: 14_000}
    assert feed(watch, merged(scene, axles, 30_000, kg=0)) == []


def test_a_stable_deck_for_hours_is_never_stuck() -> None:
    watch = ScaleWatch()
    events: list[tuple[int, int | None] | BeamsChanged] = [beams(0)]
    events += [(at, 49_000) for at in range(0, 10 * HOUR_MS, 1000)]
    assert feed(watch, events) == []


def test_the_next_truck_waiting_in_the_entry_beam_is_no_movement() -> None:
    watch = ScaleWatch(stuck_after_ms=5000, motion_window_ms=3000)
    scene = [beams(0), beams(1000, entry=True)]  # arrives, then waits for an hour
    faults = feed(watch, merged(scene, None, HOUR_MS // 10, kg=49_000))
    assert faults == []


def test_an_unchanged_weight_then_a_change_clears_stuck() -> None:
    watch = ScaleWatch(stuck_after_ms=5000, motion_window_ms=3000, tolerance_kg=10)
    scene = [beams(0), *drive_on(1000, step_ms=1000), *drive_on(5000, step_ms=1000)]
    # changes every 1000 ms from 1000 to 8000; the weight moves within the tolerance only
    wobble = {at: 20_000 + (10 if at % 200 else 0) for at in range(0, 7000, 100)}
    wobble[7000] = 26_000
    faults = feed(watch, merged(scene, wobble, 9000, kg=20_000))
    assert [f.kind for f in faults] == [FaultKind.STUCK, FaultKind.UNSTUCK]
    assert faults[1].detail == "the weight changes"
    assert watch.stuck is False


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.one_of(st.none(), st.integers(0, 60_000))),
        max_size=200,
    )
)
def test_without_beam_changes_any_weights_are_never_stuck(
    weights: list[tuple[int, int | None]],
) -> None:
    watch = ScaleWatch()
    events: list[tuple[int, int | None] | BeamsChanged] = [beams(0, entry=True)]
    at = 0
    for gap, kg in weights:
        at += gap
        events.append((at, kg))
    assert feed(watch, events) == []


def test_watch_settings_are_checked() -> None:
    with pytest.raises(ConfigError):
        ScaleWatch(stuck_after_ms=3000, motion_window_ms=3000)
    with pytest.raises(ConfigError):
        ScaleWatch(tolerance_kg=-1)
