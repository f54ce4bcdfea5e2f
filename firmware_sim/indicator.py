"""A scale indicator's brain: what it displays, zero, tare, power, faults. Pure.

The indicator samples the scene's load-cell signal, subtracts its zero, quantises to the
division and decides motion the way indicators do ("no motion within +/-1 d over about 1 s",
PROTOCOLS.md §6). State is a frozen value; every operation returns a new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from firmware_sim.display import Display, Reading, Unit
from firmware_sim.errors import ConfigError
from firmware_sim.faults import FOREVER, Faults
from firmware_sim.model import MAX_KG, Scene, quantise
from firmware_sim.protocols import toledo, xk3190

_STABLE_SAMPLE_MS = 100
_UNDERLOAD_DIVISIONS = 20  # below -20 d the display shows underload (PROTOCOLS.md §3)
_OVERLOAD_DIVISIONS = 9  # above Max + 9 e the display blanks (OIML R76)


class Protocol(StrEnum):
    """The serial formats the simulator speaks."""

    MT_SICS = "mt-sics"
    TOLEDO = "toledo"
    XK3190_A9 = "xk3190-a9"
    XK3190_A12 = "xk3190-a12"
    XK3190_EQ = "xk3190-eq"

    @property
    def streams(self) -> bool:
        """Continuous output (everything but MT-SICS, which answers requests)."""
        return self is not Protocol.MT_SICS

    @property
    def has_checksum(self) -> bool:
        """Frames carry a checksum that a fault can break."""
        return self in (Protocol.TOLEDO, Protocol.XK3190_A9, Protocol.XK3190_A12)


class Outcome(StrEnum):
    """Result of zero or tare."""

    DONE = "done"
    UNSTABLE = "unstable"
    ABOVE = "above"
    BELOW = "below"


@dataclass(frozen=True, slots=True, kw_only=True)
class IndicatorConfig:
    """Settings of one simulated indicator."""

    protocol: Protocol
    display: Display = field(default_factory=Display)
    capacity_kg: int = 60_000
    serial_number: str = "SIM0000001"
    stable_window_ms: int = 1000
    stable_band_d: int = 1
    rate_hz: float = 10.0  # continuous frames (and SIR lines) per second
    zero_range_pct: float = 2.0  # zero key works within +/- this share of Max
    power_up_zero_pct: float = 10.0  # zeroed at power-up within +/- this share of Max
    cal_command: str = "M27"  # MT-SICS command that reports the calibration counter
    cal_line_every: int = 0  # streams: a "CAL <n>" line every n frames (0 = never)
    toledo_tare: bool = True  # 18-byte frames with tare; False = 12-byte short frames
    eq_order: xk3190.DigitOrder = xk3190.DigitOrder.REVERSED

    def __post_init__(self) -> None:
        if not 0 < self.rate_hz <= 100:  # written so that NaN fails too
            raise ConfigError("rate must be between 0 and 100 Hz", option="rate")
        if not 0 < self.capacity_kg <= MAX_KG:
            raise ConfigError(f"capacity must be 1-{MAX_KG} kg", option="capacity")
        if self.cal_line_every < 0:
            raise ConfigError("cal-line-every must be >= 0", option="cal-line-every")
        if not (self.cal_command.isalnum() and self.cal_command.isascii()):
            raise ConfigError("the calibration command must be letters and digits")
        if self.protocol is Protocol.TOLEDO:
            toledo.decimal_code(
                decimals=self.display.decimals, division=self.display.division_counts
            )
        if self.protocol is Protocol.XK3190_A9 and self.display.decimals > 4:
            raise ConfigError("XK3190-A9 shows at most 4 decimals", option="decimals")
        if self.protocol is Protocol.XK3190_A12 and self.display.unit is not Unit.KILOGRAM:
            # The A12 frame always says "kg"; showing tonnes would mislabel the value.
            raise ConfigError("XK3190-A12 frames are labelled kg; use --unit kg", option="unit")
        digits = self._weight_digits()
        largest = self.capacity_kg + _OVERLOAD_DIVISIONS * self.display.division_kg
        if digits is not None and self.display.counts(largest) >= 10**digits:
            # The encoders would clip silently: a frame showing less than the deck carries.
            raise ConfigError(
                f"{self.protocol.value} frames hold {digits} digits, too few for Max "
                f"{self.capacity_kg} kg in {self.display.unit.value} with "
                f"{self.display.decimals} decimals",
                option="decimals",
            )

    def _weight_digits(self) -> int | None:
        """How many digits the protocol's weight field holds (None: no practical limit)."""
        match self.protocol:
            case Protocol.TOLEDO | Protocol.XK3190_A9:
                return 6
            case Protocol.XK3190_A12 | Protocol.XK3190_EQ:
                return 7 if self.display.decimals == 0 else 6  # seven characters with the point
            case Protocol.MT_SICS:
                return None


@dataclass(frozen=True, slots=True, kw_only=True)
class IndicatorState:
    """Everything that changes while an indicator runs."""

    scene: Scene
    zero_kg: float = 0.0
    tare_kg: int = 0
    net_mode: bool = False
    calibration_count: int = 0
    powered_off_until_ms: int | None = None
    power_up_not_zeroed: bool = False
    faults: Faults = field(default_factory=Faults)
    frames_sent: int = 0


def gross_kg(config: IndicatorConfig, state: IndicatorState, now_ms: int) -> int:
    """The gross weight the display would show, quantised to the division."""
    raw = state.scene.raw_kg(now_ms) - state.zero_kg
    return quantise(raw, config.display.division_kg)


def is_stable(config: IndicatorConfig, state: IndicatorState, now_ms: int) -> bool:
    """No sample in the last window strays more than the band from the current value."""
    band = config.stable_band_d * config.display.division_kg
    current = gross_kg(config, state, now_ms)
    start = now_ms - config.stable_window_ms
    return all(
        abs(gross_kg(config, state, t) - current) <= band
        for t in range(start, now_ms, _STABLE_SAMPLE_MS)
    )


def reading(config: IndicatorConfig, state: IndicatorState, now_ms: int) -> Reading | None:
    """What the display shows now; None while the power is off."""
    if powered_off(state, now_ms):
        return None
    frozen = state.faults.frozen_reading(now_ms)
    if frozen is not None:
        return frozen
    gross = gross_kg(config, state, now_ms)
    division = config.display.division_kg
    return Reading(
        gross_kg=gross,
        tare_kg=state.tare_kg,
        net_mode=state.net_mode,
        stable=is_stable(config, state, now_ms),
        overload=gross > config.capacity_kg + _OVERLOAD_DIVISIONS * division,
        underload=gross < -_UNDERLOAD_DIVISIONS * division,
        power_up_not_zeroed=state.power_up_not_zeroed,
    )


def powered_off(state: IndicatorState, now_ms: int) -> bool:
    """The power is off now."""
    return state.powered_off_until_ms is not None and now_ms < state.powered_off_until_ms


def zero(
    config: IndicatorConfig, state: IndicatorState, now_ms: int
) -> tuple[IndicatorState, Outcome]:
    """The zero key: only when stable and within the zero-setting range of Max."""
    if not is_stable(config, state, now_ms):
        return state, Outcome.UNSTABLE
    raw = state.scene.raw_kg(now_ms)
    limit = config.capacity_kg * config.zero_range_pct / 100.0
    if raw > limit:
        return state, Outcome.ABOVE
    if raw < -limit:
        return state, Outcome.BELOW
    return replace(state, zero_kg=raw, power_up_not_zeroed=False), Outcome.DONE


def zero_now(
    config: IndicatorConfig, state: IndicatorState, now_ms: int
) -> tuple[IndicatorState, Outcome]:
    """Zero immediately, stable or not (MT-SICS ZI); the outcome tells whether it was stable."""
    stable = is_stable(config, state, now_ms)
    raw = state.scene.raw_kg(now_ms)
    limit = config.capacity_kg * config.zero_range_pct / 100.0
    if raw > limit:
        return state, Outcome.ABOVE
    if raw < -limit:
        return state, Outcome.BELOW
    new = replace(state, zero_kg=raw, power_up_not_zeroed=False)
    return new, Outcome.DONE if stable else Outcome.UNSTABLE


def tare(
    config: IndicatorConfig, state: IndicatorState, now_ms: int
) -> tuple[IndicatorState, Outcome]:
    """The tare key: the current stable gross becomes the tare."""
    if not is_stable(config, state, now_ms):
        return state, Outcome.UNSTABLE
    gross = gross_kg(config, state, now_ms)
    if gross > config.capacity_kg:
        return state, Outcome.ABOVE
    if gross <= 0:
        return state, Outcome.BELOW
    return replace(state, tare_kg=gross, net_mode=True), Outcome.DONE


def preset_tare(config: IndicatorConfig, state: IndicatorState, tare_kg: int) -> IndicatorState:
    """A tare entered as a number; 0 clears it."""
    if not 0 <= tare_kg <= config.capacity_kg:
        raise ConfigError(f"tare must be 0-{config.capacity_kg} kg")
    snapped = quantise(tare_kg, config.display.division_kg)
    return replace(state, tare_kg=snapped, net_mode=snapped > 0)


def clear_tare(state: IndicatorState) -> IndicatorState:
    """Back to gross."""
    return replace(state, tare_kg=0, net_mode=False)


def power_loss(state: IndicatorState, now_ms: int, duration_ms: int) -> IndicatorState:
    """Mains off now for ``duration_ms``; faults die with the power."""
    return replace(state, powered_off_until_ms=now_ms + duration_ms, faults=Faults())


def power_up_if_due(
    config: IndicatorConfig, state: IndicatorState, now_ms: int
) -> tuple[IndicatorState, bool]:
    """Bring the power back when its time has come: tare lost, zero re-acquired if in range.

    Returns the new state and whether it just powered up.
    """
    if state.powered_off_until_ms is None or now_ms < state.powered_off_until_ms:
        return state, False
    raw = state.scene.raw_kg(now_ms)
    in_range = abs(raw) <= config.capacity_kg * config.power_up_zero_pct / 100.0
    new = replace(
        state,
        powered_off_until_ms=None,
        tare_kg=0,
        net_mode=False,
        zero_kg=raw if in_range else 0.0,
        power_up_not_zeroed=not in_range,
    )
    return new, True


def freeze(
    config: IndicatorConfig, state: IndicatorState, now_ms: int, duration_ms: int | None
) -> IndicatorState:
    """The display sticks at what it shows now (a frozen value that looks stable)."""
    current = reading(config, state, now_ms)
    if current is None:
        return state
    until = FOREVER if duration_ms is None else now_ms + duration_ms
    stuck = replace(current, stable=True)
    return replace(state, faults=replace(state.faults, frozen=stuck, frozen_until_ms=until))
