"""The weighbridge physics: a deck, trucks that drive on axle by axle, settle, stand and leave.

Pure: no clock, no I/O, no hidden state. A ``Scene`` is a value; the load on the deck at any
moment is a function of the scene and ``now_ms`` (milliseconds on the simulator's own clock).
Noise is derived from a hash of (seed, time slot), so the same scene and seed give the same
weights whenever and however often they are asked for.

Positions are metres along the lane: the deck runs from 0 (entry edge) to ``deck.length_m``
(exit edge); a truck's position is that of its front axle.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from firmware_sim.errors import ConfigError

# Axle positions behind the front axle (metres), typical of Chinese coal haulers.
_AXLE_LAYOUTS: dict[tuple[str, int], tuple[float, ...]] = {
    ("rigid", 2): (0.0, 5.0),
    ("rigid", 3): (0.0, 4.0, 5.35),
    ("rigid", 4): (0.0, 1.9, 6.0, 7.35),
    ("combination", 3): (0.0, 3.6, 11.6),
    ("combination", 4): (0.0, 3.6, 10.6, 11.9),
    ("combination", 5): (0.0, 3.2, 4.55, 11.3, 12.6),
    ("combination", 6): (0.0, 3.2, 4.55, 10.7, 12.0, 13.3),
}
_STEER_SHARE = 0.6  # a steer axle carries about 60 % of what another axle carries
_FRONT_OVERHANG_M = 1.4
_REAR_OVERHANG_M = 1.0
_NOISE_CLIP = 3.0  # noise is a Gaussian truncated at ±3 sigma, so bands are exact
_SETTLED_AFTER_TAUS = 12.0  # after this many time constants an oscillation term is dropped
# Far above any road vehicle or deck, yet small enough that float arithmetic stays exact and
# a typo (or a hostile control request) cannot overflow the model and stop the simulator.
MAX_KG = 10_000_000


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


class TruckKind(StrEnum):
    """Rigid truck or tractor with semi-trailer (GB 1589 limits differ)."""

    RIGID = "rigid"
    COMBINATION = "combination"


@dataclass(frozen=True, slots=True, kw_only=True)
class Deck:
    """The weighbridge platform and its load cells."""

    length_m: float = 18.0
    capacity_kg: int = 60_000
    division_kg: int = 10
    noise_kg: float = 2.0  # standard deviation of the load-cell noise (truncated at 3 sigma)
    noise_period_ms: int = 50  # the noise is constant within a slot of this length
    zero_drift_kg_per_h: float = 0.0
    settle_tau_ms: float = 600.0  # decay time of the deck's oscillation
    settle_hz: float = 1.6
    bounce: float = 0.1  # oscillation amplitude as a fraction of each axle's step
    brake_bounce: float = 0.02  # oscillation when a truck stops or starts, of its weight
    ramp_m: float = 0.4  # a wheel's load moves onto the deck over this distance
    # Photo-eyes: the deck pair sits just outside each edge (broken = a truck overhangs the
    # edge, so it is not wholly on the deck); entry and exit stand further out in the lane.
    deck_beam_margin_m: float = 0.2
    lane_beam_distance_m: float = 4.0

    def __post_init__(self) -> None:
        if not _finite(
            self.length_m,
            self.noise_kg,
            self.zero_drift_kg_per_h,
            self.settle_tau_ms,
            self.settle_hz,
            self.bounce,
            self.brake_bounce,
            self.ramp_m,
            self.deck_beam_margin_m,
            self.lane_beam_distance_m,
        ):
            raise ConfigError("deck settings must be finite numbers")
        if self.length_m <= 0 or self.capacity_kg <= 0 or self.division_kg <= 0:
            raise ConfigError("deck length, capacity and division must be positive")
        if self.capacity_kg > MAX_KG or abs(self.zero_drift_kg_per_h) > MAX_KG:
            raise ConfigError(f"deck capacity and drift must be at most {MAX_KG} kg")
        if self.noise_kg < 0 or self.noise_period_ms <= 0 or self.ramp_m <= 0:
            raise ConfigError("deck noise must be >= 0, its period and the ramp > 0")

    @property
    def noise_band_kg(self) -> float:
        """The largest deviation noise alone can cause."""
        return _NOISE_CLIP * self.noise_kg

    @property
    def beam_positions_m(self) -> tuple[float, float, float, float]:
        """Entry, deck-rear, deck-front and exit photo-eye positions along the lane."""
        return (
            -self.lane_beam_distance_m,
            -self.deck_beam_margin_m,
            self.length_m + self.deck_beam_margin_m,
            self.length_m + self.lane_beam_distance_m,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Truck:
    """A vehicle: identity, axles and mass (integers in kg)."""

    plate: str
    axles: int
    kind: TruckKind = TruckKind.COMBINATION
    tare_kg: int
    load_kg: int = 0

    def __post_init__(self) -> None:
        if (self.kind.value, self.axles) not in _AXLE_LAYOUTS:
            known = ", ".join(f"{k}/{n}" for k, n in _AXLE_LAYOUTS)
            raise ConfigError(
                f"no axle layout for {self.kind.value} with {self.axles} axles (known: {known})"
            )
        if not self.plate:
            raise ConfigError("a truck needs a plate")
        if self.tare_kg <= 0 or self.load_kg < 0:
            raise ConfigError("tare must be > 0 kg and load >= 0 kg")
        if self.tare_kg > MAX_KG or self.load_kg > MAX_KG:
            raise ConfigError(f"tare and load must be at most {MAX_KG} kg")

    @property
    def axle_offsets_m(self) -> tuple[float, ...]:
        """Distance of each axle behind the front axle."""
        return _AXLE_LAYOUTS[(self.kind.value, self.axles)]

    @property
    def wheelbase_m(self) -> float:
        """Front axle to rearmost axle."""
        return self.axle_offsets_m[-1]

    def axle_loads_kg(self, load_kg: int | None = None) -> tuple[float, ...]:
        """Weight on each axle for the given load (default: the truck's own)."""
        total = self.tare_kg + (self.load_kg if load_kg is None else load_kg)
        shares = (_STEER_SHARE,) + (1.0,) * (self.axles - 1)
        whole = sum(shares)
        return tuple(total * s / whole for s in shares)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadChange:
    """The load of a standing truck changed at ``at_ms`` (a loading chute, a dump)."""

    at_ms: int
    load_kg: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Visit:
    """One truck's pass over the deck: arrive, drive on, stand at ``stop_m``, drive off."""

    truck: Truck
    arrive_ms: int
    stop_m: float
    start_m: float = -(_FRONT_OVERHANG_M + 4.5)
    speed_mps: float = 1.5
    depart_ms: int | None = None
    load_changes: tuple[LoadChange, ...] = ()

    def __post_init__(self) -> None:
        if not _finite(self.speed_mps, self.stop_m, self.start_m):
            raise ConfigError("truck speed and positions must be finite numbers")
        if self.speed_mps <= 0:
            raise ConfigError("truck speed must be > 0")
        if self.stop_m < self.start_m:
            raise ConfigError("a truck cannot stop behind where it starts")

    @property
    def stop_ms(self) -> float:
        """When the truck comes to a stand."""
        return self.arrive_ms + (self.stop_m - self.start_m) / self.speed_mps * 1000.0

    @property
    def go_ms(self) -> float | None:
        """When the truck starts to drive off (never before it stopped)."""
        if self.depart_ms is None:
            return None
        return max(float(self.depart_ms), self.stop_ms)

    def front_m(self, now_ms: float) -> float | None:
        """Front-axle position, or None before arrival."""
        if now_ms < self.arrive_ms:
            return None
        if now_ms <= self.stop_ms:
            return self.start_m + self.speed_mps * (now_ms - self.arrive_ms) / 1000.0
        go = self.go_ms
        if go is None or now_ms <= go:
            return self.stop_m
        return self.stop_m + self.speed_mps * (now_ms - go) / 1000.0

    def time_at_front(self, x_m: float) -> float | None:
        """When the front axle passes ``x_m`` (None if it never does)."""
        if x_m < self.start_m:
            return None
        if x_m <= self.stop_m:
            return self.arrive_ms + (x_m - self.start_m) / self.speed_mps * 1000.0
        go = self.go_ms
        if go is None:
            return None
        return go + (x_m - self.stop_m) / self.speed_mps * 1000.0

    def load_at(self, now_ms: float) -> int:
        """The truck's load at a moment, after any load changes so far."""
        load = self.truck.load_kg
        for change in self.load_changes:
            if change.at_ms <= now_ms:
                load = change.load_kg
        return load

    def body_m(self, front_m: float) -> tuple[float, float]:
        """Rear and front end of the body for a front-axle position."""
        rear = front_m - self.truck.wheelbase_m - _REAR_OVERHANG_M
        return rear, front_m + _FRONT_OVERHANG_M


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """A sudden offset in the load-cell signal (a remote-control cheat device)."""

    at_ms: int
    kg: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Beams:
    """Photo-eyes; True while something interrupts the beam."""

    entry: bool
    deck_rear: bool
    deck_front: bool
    exit: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Scene:
    """Everything on and around the deck, as a value. Changes return a new scene."""

    deck: Deck = field(default_factory=Deck)
    seed: int = 0
    visits: tuple[Visit, ...] = ()
    steps: tuple[Step, ...] = ()

    # --- what the load cells see -------------------------------------------------------------

    def static_kg(self, now_ms: float) -> float:
        """Weight resting on the deck, without oscillation, noise, drift or steps."""
        return sum(self._visit_static_kg(v, now_ms) for v in self.visits)

    def raw_kg(self, now_ms: float) -> float:
        """What the load cells measure: load + oscillation + noise + drift + steps."""
        total = self.static_kg(now_ms)
        total += self._oscillation_kg(now_ms)
        total += self._noise_kg(now_ms)
        total += self.deck.zero_drift_kg_per_h * now_ms / 3_600_000.0
        total += sum(s.kg for s in self.steps if s.at_ms <= now_ms)
        return total

    def beams(self, now_ms: float) -> Beams:
        """Photo-eye states derived from where each truck's body is."""
        spans = []
        for visit in self.visits:
            front = visit.front_m(now_ms)
            if front is not None:
                spans.append(visit.body_m(front))
        entry, deck_rear, deck_front, exit_ = (
            any(rear <= at_m <= front for rear, front in spans)
            for at_m in self.deck.beam_positions_m
        )
        return Beams(entry=entry, deck_rear=deck_rear, deck_front=deck_front, exit=exit_)

    def trucks_on(self, now_ms: float) -> tuple[str, ...]:
        """Plates of trucks with at least one wheel on the deck."""
        return tuple(v.truck.plate for v in self.visits if self._visit_static_kg(v, now_ms) > 0)

    # --- changes -----------------------------------------------------------------------------

    def arrive(
        self,
        truck: Truck,
        now_ms: int,
        *,
        stop_m: float | None = None,
        speed_mps: float = 1.5,
        settled: bool = False,
    ) -> Scene:
        """A truck starts to drive on now (or, with ``settled``, has long stood at its stop)."""
        if any(v.truck.plate == truck.plate for v in self.visits):
            raise ConfigError(f"truck {truck.plate} is already on the scene")
        stop = self.default_stop_m(truck) if stop_m is None else stop_m
        visit = Visit(truck=truck, arrive_ms=now_ms, stop_m=stop, speed_mps=speed_mps)
        if settled:
            # Arrived long enough ago that every oscillation has died away.
            travel_ms = (stop - visit.start_m) / speed_mps * 1000.0
            settle_ms = _SETTLED_AFTER_TAUS * self.deck.settle_tau_ms
            visit = replace(visit, arrive_ms=now_ms - math.ceil(travel_ms + settle_ms))
        return replace(self, visits=(*self.visits, visit))

    def depart(self, plate: str, now_ms: int) -> Scene:
        """The truck with ``plate`` starts to drive off now."""
        visit = self._visit(plate)
        if visit.depart_ms is not None:
            raise ConfigError(f"truck {plate} is already leaving")
        return self._replace_visit(visit, replace(visit, depart_ms=now_ms))

    def set_load(self, plate: str, load_kg: int, now_ms: int) -> Scene:
        """The load of the truck with ``plate`` becomes ``load_kg`` now."""
        if not 0 <= load_kg <= MAX_KG:
            raise ConfigError(f"load must be 0-{MAX_KG} kg")
        visit = self._visit(plate)
        change = LoadChange(at_ms=now_ms, load_kg=load_kg)
        return self._replace_visit(
            visit, replace(visit, load_changes=(*visit.load_changes, change))
        )

    def step(self, kg: int, now_ms: int) -> Scene:
        """The signal jumps by ``kg`` now (negative to remove an earlier step)."""
        if abs(kg) > MAX_KG:
            raise ConfigError(f"a step must be at most {MAX_KG} kg either way")
        return replace(self, steps=(*self.steps, Step(at_ms=now_ms, kg=kg)))

    def prune(self, now_ms: int) -> Scene:
        """Forget trucks that have left the lane and whose oscillation has died away."""
        keep = []
        for visit in self.visits:
            front = visit.front_m(now_ms)
            gone = (
                front is not None and visit.body_m(front)[0] > self.deck.beam_positions_m[3] + 1.0
            )
            if gone:
                left = visit.time_at_front(self.deck.length_m + visit.truck.wheelbase_m)
                quiet = (
                    left is not None
                    and now_ms - left > _SETTLED_AFTER_TAUS * self.deck.settle_tau_ms
                )
                if quiet:
                    continue
            keep.append(visit)
        return replace(self, visits=tuple(keep))

    def default_stop_m(self, truck: Truck) -> float:
        """Centred on the deck when it is free, else close behind the last truck."""
        probe = Visit(truck=truck, arrive_ms=0, stop_m=0.0, start_m=0.0)
        rear_overhang = -probe.body_m(0.0)[0]
        standing = [v for v in self.visits if v.depart_ms is None]
        if not standing:
            body = rear_overhang + _FRONT_OVERHANG_M
            return self.deck.length_m / 2.0 + body / 2.0 - _FRONT_OVERHANG_M
        last = standing[-1]
        last_rear = last.body_m(last.stop_m)[0]
        return last_rear - 1.0 - _FRONT_OVERHANG_M

    # --- internals ---------------------------------------------------------------------------

    def _visit(self, plate: str) -> Visit:
        for visit in self.visits:
            if visit.truck.plate == plate:
                return visit
        raise ConfigError(f"no truck {plate} on the scene")

    def _replace_visit(self, old: Visit, new: Visit) -> Scene:
        return replace(self, visits=tuple(new if v is old else v for v in self.visits))

    def _on_fraction(self, axle_m: float) -> float:
        ramp = self.deck.ramp_m
        entering = min(max(axle_m / ramp, 0.0), 1.0)
        leaving = min(max((self.deck.length_m - axle_m) / ramp, 0.0), 1.0)
        return entering * leaving

    def _visit_static_kg(self, visit: Visit, now_ms: float) -> float:
        front = visit.front_m(now_ms)
        if front is None:
            return 0.0
        loads = visit.truck.axle_loads_kg(visit.load_at(now_ms))
        return sum(
            load * self._on_fraction(front - offset)
            for load, offset in zip(loads, visit.truck.axle_offsets_m, strict=True)
        )

    def _events(self, visit: Visit) -> list[tuple[float, float]]:
        """(time, amplitude) of every jolt: axles crossing onto/off the deck, stop, start, load."""
        deck = self.deck
        events: list[tuple[float, float]] = []
        loads = visit.truck.axle_loads_kg()
        half_ramp = deck.ramp_m / 2.0
        for load, offset in zip(loads, visit.truck.axle_offsets_m, strict=True):
            on = visit.time_at_front(offset + half_ramp)
            if on is not None:
                events.append((on, deck.bounce * load))
            off = visit.time_at_front(offset + deck.length_m - half_ramp)
            if off is not None:
                events.append((off, -deck.bounce * load))
        stop = visit.stop_ms
        events.append((stop, deck.brake_bounce * self._visit_static_kg(visit, stop)))
        go = visit.go_ms
        if go is not None:
            events.append((go, -deck.brake_bounce * self._visit_static_kg(visit, go)))
        previous = visit.truck.load_kg
        for change in visit.load_changes:
            events.append((float(change.at_ms), deck.bounce * (change.load_kg - previous)))
            previous = change.load_kg
        return events

    def _oscillation_kg(self, now_ms: float) -> float:
        deck = self.deck
        horizon = _SETTLED_AFTER_TAUS * deck.settle_tau_ms
        omega = 2.0 * math.pi * deck.settle_hz / 1000.0
        total = 0.0
        for visit in self.visits:
            for at, amplitude in self._events(visit):
                age = now_ms - at
                if 0.0 <= age <= horizon:
                    total += amplitude * math.exp(-age / deck.settle_tau_ms) * math.sin(omega * age)
        return total

    def _noise_kg(self, now_ms: float) -> float:
        if self.deck.noise_kg == 0:
            return 0.0
        slot = math.floor(now_ms / self.deck.noise_period_ms)
        digest = hashlib.blake2b(f"{self.seed}:{slot}".encode(), digest_size=16).digest()
        u1 = (int.from_bytes(digest[:8], "big") + 1) / 2.0**64
        u2 = int.from_bytes(digest[8:], "big") / 2.0**64
        gauss = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
        return self.deck.noise_kg * max(-_NOISE_CLIP, min(_NOISE_CLIP, gauss))


def quantise(kg: float, division_kg: int) -> int:
    """Round to the nearest division, as an indicator's display does (half away from zero)."""
    steps = math.floor(abs(kg) / division_kg + 0.5)
    return int(math.copysign(steps * division_kg, kg)) if steps else 0
