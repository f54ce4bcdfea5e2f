"""A lane's settings: what it weighs, how it decides stability and when it gives up waiting.

Checked when built (i.e. at start): a setting that cannot work is a ``ConfigError``.
Weights are whole kg; tolerances given in divisions (e) scale with the indicator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edge.errors import ConfigError
from wire.bodies import SCALE_PROTOCOLS
from wire.ids import is_valid_id


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneConfig:
    """One lane. ``direction`` ``out`` dispatches loaded trucks at a seller, ``in`` receives
    them at a destination; ``passes`` ``single`` uses the stored tare, ``two`` weighs the
    truck twice (outbound: tare then gross; inbound: gross then tare)."""

    lane: str
    direction: Literal["out", "in"]
    passes: Literal["single", "two"]
    protocol: str
    division_kg: int
    capacity_kg: int
    band_e: int = 1
    """Stability: readings within ±band_e divisions …"""
    window_ms: int = 1000
    """… for window_ms (PROTOCOLS.md §6: indicators use ±1 d over about 1 s)."""
    zero_band_e: int = 2
    """Zero before the transaction: the empty deck read within ±zero_band_e divisions."""
    zero_drift_e: int = 5
    """tamper_zero_drift when the empty deck moves this far from the zero last set."""
    occupied_kg: int = 500
    """Above this the deck carries something: a truck is (at least partly) on it."""
    min_plate_conf: int = 80
    """Plate reads below this confidence are not used: the truck is held for a person."""
    tare_tolerance_kg: int = 300
    """A weighed tare may differ this much from the truck's stored or last weighed tare."""
    step_kg: int = 2000
    """tamper_step: a change this large between readings while the truck stands still."""
    settle_timeout_ms: int = 30_000
    position_timeout_ms: int = 60_000
    beams_no_weight_ms: int = 20_000
    """tamper_beams: a deck beam interrupted this long while the deck stays empty."""
    weight_timeout_ms: int = 3000
    """No reading for this long is a scale fault (the driver reports its own faults too)."""
    barrier_travel_ms: int = 5000
    """After a barrier-down command the limit switch may report up for this long."""
    first_pass_valid_ms: int = 24 * 3600 * 1000
    """How long a first pass waits for its second on a two-pass lane."""
    plate_window_ms: int = 60_000
    """Entry-camera reads this old or newer when a truck arrives belong to it."""
    camera_entry: str | None = None
    """The entry camera's name in its pushes; default ``<lane>-entry`` (PROTOCOLS.md §5)."""
    camera_exit: str | None = None
    """The exit camera's name; default ``<lane>-exit``."""

    def __post_init__(self) -> None:
        if not is_valid_id(self.lane):
            raise ConfigError(f"lane id {self.lane!r} is not a valid id", option="lane")
        if self.direction not in ("out", "in"):
            raise ConfigError("direction must be 'out' or 'in'", option="direction")
        if self.passes not in ("single", "two"):
            raise ConfigError("passes must be 'single' or 'two'", option="passes")
        if self.protocol not in SCALE_PROTOCOLS:
            known = ", ".join(sorted(SCALE_PROTOCOLS))
            raise ConfigError(f"protocol must be one of {known}", option="protocol")
        if self.division_kg <= 0 or self.capacity_kg <= self.division_kg:
            raise ConfigError("division must be > 0 kg and capacity above it", option="division_kg")
        if self.band_e < 0 or self.zero_band_e < 0 or self.zero_drift_e <= 0:
            raise ConfigError("bands must be >= 0 divisions (drift > 0)", option="band_e")
        if not 0 <= self.min_plate_conf <= 100:
            raise ConfigError("min_plate_conf must be 0-100", option="min_plate_conf")
        if not 0 < self.occupied_kg < self.capacity_kg:
            raise ConfigError(
                "occupied_kg must be above 0 and below capacity", option="occupied_kg"
            )
        for option in (
            "window_ms",
            "settle_timeout_ms",
            "position_timeout_ms",
            "beams_no_weight_ms",
            "weight_timeout_ms",
            "barrier_travel_ms",
            "first_pass_valid_ms",
            "step_kg",
        ):
            if getattr(self, option) <= 0:
                raise ConfigError(f"{option} must be above 0", option=option)
        if self.tare_tolerance_kg < 0 or self.plate_window_ms < 0:
            raise ConfigError("tolerances must be >= 0", option="tare_tolerance_kg")
        if self.entry_camera == self.exit_camera:
            raise ConfigError(
                "the entry and exit cameras need different names", option="camera_exit"
            )
        if self.settle_timeout_ms <= self.window_ms:
            raise ConfigError(
                "settle_timeout_ms must exceed the stability window", option="settle_timeout_ms"
            )

    @property
    def entry_camera(self) -> str:
        return self.camera_entry or f"{self.lane}-entry"

    @property
    def exit_camera(self) -> str:
        return self.camera_exit or f"{self.lane}-exit"
