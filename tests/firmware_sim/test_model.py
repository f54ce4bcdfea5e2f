"""Properties of the deck physics and of the indicator's view of it (pure, model time)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.display import Display
from firmware_sim.indicator import (
    IndicatorConfig,
    IndicatorState,
    Outcome,
    Protocol,
    gross_kg,
    is_stable,
    power_loss,
    power_up_if_due,
    reading,
    tare,
    zero,
)
from firmware_sim.model import Deck, Scene, Truck, TruckKind

LAYOUTS = [
    (TruckKind.RIGID, 2),
    (TruckKind.RIGID, 3),
    (TruckKind.RIGID, 4),
    (TruckKind.COMBINATION, 3),
    (TruckKind.COMBINATION, 4),
    (TruckKind.COMBINATION, 5),
    (TruckKind.COMBINATION, 6),
]


@st.composite
def trucks(draw: st.DrawFn) -> Truck:
    kind, axles = draw(st.sampled_from(LAYOUTS))
    return Truck(
        plate="陕K" + draw(st.from_regex(r"[0-9A-HJ-NP-Z]{5}", fullmatch=True)),
        axles=axles,
        kind=kind,
        tare_kg=draw(st.integers(4_000, 20_000)),
        load_kg=draw(st.integers(0, 36_000)),
    )


def config_for(deck: Deck) -> IndicatorConfig:
    return IndicatorConfig(
        protocol=Protocol.TOLEDO,
        display=Display(division_kg=deck.division_kg),
        capacity_kg=deck.capacity_kg,
    )


@given(
    truck=trucks(), seed=st.integers(0, 2**32), noise=st.floats(0, 5), when=st.integers(0, 600_000)
)
@settings(max_examples=40, deadline=None)
def test_standing_truck_reads_tare_plus_load_within_the_noise_band(
    truck: Truck, seed: int, noise: float, when: int
) -> None:
    deck = Deck(noise_kg=noise)
    scene = Scene(deck=deck, seed=seed).arrive(truck, 0, settled=True)
    full = truck.tare_kg + truck.load_kg
    assert abs(scene.raw_kg(when) - full) <= deck.noise_band_kg + 0.5
    config = config_for(deck)
    shown = gross_kg(config, IndicatorState(scene=scene), when)
    assert abs(shown - full) <= deck.noise_band_kg + deck.division_kg / 2 + 0.5
    assert is_stable(config, IndicatorState(scene=scene), when) or noise > deck.division_kg / 6
    beams = scene.beams(when)
    assert not beams.deck_rear, "a centred truck is wholly on the deck"
    assert not beams.deck_front


@given(truck=trucks(), seed=st.integers(0, 2**32), share=st.floats(0.05, 0.95))
@settings(max_examples=40, deadline=None)
def test_partly_on_the_deck_never_reads_the_full_weight(
    truck: Truck, seed: int, share: float
) -> None:
    deck = Deck()
    # The front axle stops on the deck, the rearmost axle short of its entry edge.
    stop = max(deck.ramp_m, share * truck.wheelbase_m)
    scene = Scene(deck=deck, seed=seed).arrive(truck, 0, stop_m=stop, speed_mps=2.0)
    full = truck.tare_kg + truck.load_kg
    config = config_for(deck)
    state = IndicatorState(scene=scene)
    end = int(scene.visits[0].stop_ms) + 15_000
    for now in range(0, end, 97):
        assert gross_kg(config, state, now) < full - deck.noise_band_kg - deck.division_kg
    assert scene.beams(end).deck_rear, "the rear overhangs the entry edge: its beam is broken"


@given(truck=trucks(), seed=st.integers(0, 2**32))
@settings(max_examples=15, deadline=None)
def test_same_seed_same_weights_other_seed_other_noise(truck: Truck, seed: int) -> None:
    def run(s: int) -> list[float]:
        scene = Scene(seed=s).arrive(truck, 0).depart(truck.plate, 20_000)
        scene = scene.step(500, 25_000).set_load(truck.plate, 0, 10_000)
        return [scene.raw_kg(t) for t in range(0, 40_000, 250)]

    first = run(seed)
    assert first == run(seed)
    assert first != run(seed + 1)


def test_drive_on_stand_drive_off() -> None:
    truck = Truck(plate="陕K12345", axles=6, tare_kg=15_000, load_kg=34_000)
    scene = Scene(seed=3).arrive(truck, 0).depart(truck.plate, 30_000)
    visit = scene.visits[0]
    assert scene.raw_kg(0) < 10  # still on the approach
    assert scene.beams(1_500).entry
    rising = [scene.static_kg(t) for t in range(0, int(visit.stop_ms), 500)]
    assert rising == sorted(rising), "axles only add weight while driving on"
    assert abs(scene.raw_kg(25_000) - 49_000) < 10
    assert scene.beams(38_000).exit
    assert scene.static_kg(60_000) == 0
    assert scene.prune(120_000).visits == ()


def test_settling_is_unstable_then_stable() -> None:
    truck = Truck(plate="陕K12345", axles=6, tare_kg=15_000, load_kg=34_000)
    scene = Scene(seed=1).arrive(truck, 0)
    config = config_for(scene.deck)
    state = IndicatorState(scene=scene)
    stop = int(scene.visits[0].stop_ms)
    assert not is_stable(config, state, stop + 300)
    assert is_stable(config, state, stop + 8_000)


def test_two_trucks_stand_one_behind_the_other() -> None:
    first = Truck(plate="陕K11111", axles=2, kind=TruckKind.RIGID, tare_kg=6_000, load_kg=4_000)
    second = Truck(plate="陕K22222", axles=2, kind=TruckKind.RIGID, tare_kg=7_000, load_kg=5_000)
    scene = Scene(seed=2).arrive(first, 0, stop_m=16.4, settled=True)
    scene = scene.arrive(second, 0, settled=True)
    assert scene.visits[1].stop_m < scene.visits[0].stop_m - first.wheelbase_m
    assert abs(scene.raw_kg(1_000) - 22_000) < 10
    assert set(scene.trucks_on(1_000)) == {"陕K11111", "陕K22222"}


def test_zero_tare_and_power_loss() -> None:
    deck = Deck(noise_kg=0.5)
    config = config_for(deck)
    truck = Truck(plate="陕K12345", axles=3, tare_kg=12_000)
    state = IndicatorState(scene=Scene(deck=deck).arrive(truck, 0, settled=True))
    _, outcome = zero(config, state, 1_000)
    assert outcome is Outcome.ABOVE  # 12 t is far outside the 2 % zero range
    state, outcome = tare(config, state, 1_000)
    assert outcome is Outcome.DONE
    shown = reading(config, state, 1_000)
    assert shown is not None
    assert shown.net_mode
    assert shown.net_kg == 0
    state = power_loss(state, 2_000, 500)
    assert reading(config, state, 2_200) is None
    state, up = power_up_if_due(config, state, 2_600)
    assert up
    assert state.tare_kg == 0
    assert state.power_up_not_zeroed  # 12 t on the deck: no power-up zero
    assert state.scene.raw_kg(2_600) > 11_000
