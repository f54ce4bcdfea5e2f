"""A Modbus relay/IO module at the gate and the barrier it drives. Pure.

Coils (relays) and discrete inputs (opto inputs) follow a configurable ``IoMap``; the default is
PROTOCOLS.md §4: coils 0 barrier, 1 red, 2 green, 3 horn; inputs 0 entry beam, 1 on-deck front,
2 on-deck rear, 3 exit beam, 4 barrier-up limit switch. The module has 16 of each.

The barrier is physical: it takes ``travel_ms`` to rise or fall, and the limit switch closes
only once it is fully up. In pulse mode a pulse on the barrier coil raises it, and it falls
again once a truck has passed the exit beam (or after ``hold_ms``); in level mode it is up while
the coil is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from firmware_sim.errors import ConfigError
from firmware_sim.model import Beams

CHANNELS = 16


class BarrierMode(StrEnum):
    """How the controller drives the barrier coil."""

    PULSE = "pulse"
    LEVEL = "level"


@dataclass(frozen=True, slots=True, kw_only=True)
class IoMap:
    """Coil and input numbers of each signal."""

    barrier: int = 0
    red: int = 1
    green: int = 2
    horn: int = 3
    entry: int = 0
    deck_front: int = 1
    deck_rear: int = 2
    exit: int = 3
    barrier_up: int = 4

    def __post_init__(self) -> None:
        coils = (self.barrier, self.red, self.green, self.horn)
        inputs = (self.entry, self.deck_front, self.deck_rear, self.exit, self.barrier_up)
        for group in (coils, inputs):
            if len(set(group)) != len(group) or not all(0 <= n < CHANNELS for n in group):
                raise ConfigError(f"IO map channels must be distinct and 0-{CHANNELS - 1}")


def io_map_from_text(text: str) -> IoMap:
    """An IO map from ``signal=channel`` pairs, e.g. ``exit=5,barrier_up=6``; unnamed signals
    keep the default map of PROTOCOLS.md §4."""
    values: dict[str, int] = {}
    known = set(IoMap.__dataclass_fields__)
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, number = part.partition("=")
        name = name.strip()
        if not sep or name not in known or not number.strip().isdigit():
            raise ConfigError(
                f"IO map {part!r}: write signal=channel with a signal among "
                f"{', '.join(sorted(known))}",
                option="io-map",
            )
        values[name] = int(number)
    return IoMap(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Barrier:
    """The exit barrier; position 0.0 = down, 1.0 = up; changes are computed from times."""

    mode: BarrierMode = BarrierMode.PULSE
    travel_ms: int = 1500
    hold_ms: int = 60_000  # pulse mode: falls after this long even if no truck passed
    pulse_min_ms: int = 200  # shorter coil closures do not trigger the controller
    # The movement in progress: from ``start`` towards ``target`` since ``since_ms``.
    start: float = 0.0
    target: float = 0.0
    since_ms: int = 0
    raised_at_ms: int | None = None  # pulse mode: when the last raise began
    broken: bool = False  # a truck went through it; it stays down and the switch stays open

    def position(self, now_ms: int) -> float:
        """How far up the arm is."""
        if self.broken:
            return 0.0
        moved = (now_ms - self.since_ms) / self.travel_ms if self.travel_ms else 1.0
        if self.target > self.start:
            return min(self.target, self.start + moved)
        return max(self.target, self.start - moved)

    def is_up(self, now_ms: int) -> bool:
        """Fully up: the limit switch is closed and a truck may pass."""
        return self.position(now_ms) >= 1.0

    def move(self, target: float, now_ms: int) -> Barrier:
        """Start moving towards ``target`` now."""
        if self.broken or target == self.target:
            return self
        return replace(self, start=self.position(now_ms), target=target, since_ms=now_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class IoState:
    """Relays, the barrier and what the last tick saw."""

    coils: tuple[bool, ...] = (False,) * CHANNELS
    coil_on_since_ms: int | None = None  # barrier coil closed since
    barrier: Barrier = field(default_factory=Barrier)
    exit_seen: bool = False  # pulse mode: a truck has broken the exit beam since the raise


def write_coils(
    io_map: IoMap, state: IoState, start: int, values: list[bool], now_ms: int
) -> IoState:
    """The host switches relays (FC05/FC0F)."""
    coils = list(state.coils)
    coils[start : start + len(values)] = values
    new = replace(state, coils=tuple(coils))
    was, now_on = state.coils[io_map.barrier], new.coils[io_map.barrier]
    barrier = new.barrier
    if now_on and not was:
        new = replace(new, coil_on_since_ms=now_ms)
        if barrier.mode is BarrierMode.LEVEL:
            barrier = replace(barrier.move(1.0, now_ms), raised_at_ms=None)  # the coil rules
    elif was and not now_on:
        held = now_ms - (state.coil_on_since_ms or now_ms)
        new = replace(new, coil_on_since_ms=None)
        if barrier.mode is BarrierMode.LEVEL:
            barrier = barrier.move(0.0, now_ms)
        elif held >= barrier.pulse_min_ms:
            barrier = replace(barrier.move(1.0, now_ms), raised_at_ms=now_ms)
            new = replace(new, exit_seen=False)
    return replace(new, barrier=barrier)


def tick(state: IoState, beams: Beams, now_ms: int) -> IoState:
    """After a pulse, the barrier falls behind a truck that has cleared the exit beam.

    In level mode the coil alone moves it, unless it was raised like a pulse (``raise_now``).
    """
    barrier = state.barrier
    pulsed = barrier.mode is BarrierMode.PULSE or barrier.raised_at_ms is not None
    if not pulsed or barrier.target < 1.0:
        return state
    if beams.exit:
        return replace(state, exit_seen=True)
    raised = barrier.raised_at_ms if barrier.raised_at_ms is not None else now_ms
    if state.exit_seen or now_ms - raised >= barrier.hold_ms:
        lowered = replace(barrier.move(0.0, now_ms), raised_at_ms=None)
        return replace(state, barrier=lowered, exit_seen=False)
    return state


def raise_now(state: IoState, now_ms: int) -> IoState:
    """Raised as by a pulse, whatever the mode (an operator's button, ``auto_barrier``)."""
    barrier = state.barrier
    if barrier.broken or barrier.target >= 1.0:
        return state
    return replace(
        state, barrier=replace(barrier.move(1.0, now_ms), raised_at_ms=now_ms), exit_seen=False
    )


def break_through(state: IoState) -> IoState:
    """A truck drives through the closed barrier: the arm is broken off."""
    return replace(state, barrier=replace(state.barrier, broken=True))


def inputs(io_map: IoMap, state: IoState, beams: Beams, now_ms: int) -> tuple[bool, ...]:
    """The discrete inputs now."""
    out = [False] * CHANNELS
    out[io_map.entry] = beams.entry
    out[io_map.deck_front] = beams.deck_front
    out[io_map.deck_rear] = beams.deck_rear
    out[io_map.exit] = beams.exit
    out[io_map.barrier_up] = state.barrier.is_up(now_ms)
    return tuple(out)
