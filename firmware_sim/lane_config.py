"""What a lane runs: its devices, trucks, cheats and faults, as frozen values. Pure.

Built by a scenario file (``scenario.py``), the command line or a test, and run by
``lane.LaneSimulator``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from firmware_sim import camera as camera_mod
from firmware_sim.errors import ConfigError
from firmware_sim.indicator import IndicatorConfig
from firmware_sim.io_module import Barrier, IoMap
from firmware_sim.modbus_map import RegisterMap
from firmware_sim.model import Deck, Truck


class Device(StrEnum):
    """The devices of a lane, as faults name them."""

    TRANSMITTER = "transmitter"
    IO = "io"
    CAMERA = "camera"
    INDICATOR = "indicator"


TRANSMITTER, IO, CAMERA, INDICATOR = (
    Device.TRANSMITTER,
    Device.IO,
    Device.CAMERA,
    Device.INDICATOR,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TruckPlan:
    """One truck's visit and the cheats it tries."""

    truck: Truck
    arrive_ms: int = 0
    stand_ms: int = 20_000  # how long it stands on the deck before it wants to leave
    speed_mps: float = 1.5
    settled: bool = False  # already standing on the deck when the lane starts
    partly_on_deck: bool = False
    tailgate: bool = False  # follows the truck ahead under the same barrier raise
    force_barrier: bool = False  # drives through the barrier if it is not up
    exit_plate: str | None = None  # plate swap: the exit camera sees these plates


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultPlan:
    """A fault or cheat at a time: see ``LaneSimulator.inject``."""

    at_ms: int
    device: Device
    kind: str
    duration_ms: int | None = None
    count: int = 1
    code: int = 4
    delay_ms: int = 0
    kg: int = 0
    nbytes: int = 16  # indicator garbage
    channel: int = 0  # IO relay-stuck: the coil whose relay no longer follows writes


@dataclass(frozen=True, slots=True, kw_only=True)
class TransmitterConfig:
    """The Modbus weight transmitter."""

    regmap: RegisterMap
    unit_id: int = 2
    division_kg: int = 10
    calibration_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class IoConfig:
    """The Modbus relay/IO module."""

    io_map: IoMap = field(default_factory=IoMap)
    barrier: Barrier = field(default_factory=Barrier)
    unit_id: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraSetup:
    """The plate cameras (entry and exit) and where they push."""

    config: camera_mod.CameraConfig
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneConfig:
    """Everything a lane runs."""

    deck: Deck = field(default_factory=Deck)
    seed: int = 0
    speed: float = 1.0
    auto_barrier: bool = False
    transmitter: TransmitterConfig | None = None
    io: IoConfig | None = None
    camera: CameraSetup | None = None
    indicator: IndicatorConfig | None = None  # a serial indicator on a line of its own
    trucks: tuple[TruckPlan, ...] = ()
    faults: tuple[FaultPlan, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.speed <= 1000:  # written so that NaN fails too
            raise ConfigError("speed must be > 0 and at most 1000", option="speed")
        units = [d.unit_id for d in (self.transmitter, self.io) if d is not None]
        if not all(1 <= u <= 247 for u in units):
            raise ConfigError("Modbus unit ids are 1-247", option="unit-id")
        if len(set(units)) != len(units):
            raise ConfigError("the transmitter and the IO module need different unit ids")
