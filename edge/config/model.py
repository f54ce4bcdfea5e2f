"""The site file's shape: typed, strict settings (pydantic), one model per TOML table.

Strict: TOML already has types, so ``"10"`` is not a number and ``true`` not 1; unknown keys
are refused (a typo must not pass silently). Rules that concern one value live here; rules
across values and files (key files, duplicate lanes, shared ports) live in ``edge.config.load``.
Relative paths are taken from the site file's directory (``context={"base": Path}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    InstanceOf,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from edge.camera.reads import CameraSpot, Side
from edge.errors import ConfigError
from edge.modbus.line import LineAddress, parse_url
from edge.modbus.regmap import PRESETS, RegisterMap, load_register_map
from edge.scale.readings import ScaleProtocol
from wire.ids import CENTRAL_PREFIX, is_valid_id

#: Highest coil or discrete-input number (one FC01/FC02 read covers 2000 bits).
MAX_CHANNEL: Final = 1999
#: OIML R76 class III: a truck scale has 500 to 10 000 verification divisions.
MIN_DIVISIONS: Final = 500
MAX_DIVISIONS: Final = 10_000
_SERIAL_SCHEMES: Final = ("socket", "rfc2217", "loop", "spy", "alt", "hwgrep")


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _base(info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, Mapping) else {}
    base = context.get("base")
    return base if isinstance(base, Path) else Path()


def _path(value: object, info: ValidationInfo) -> Path:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise PydanticCustomError("path", "must be a file path (text)")
    return _base(info) / Path(value).expanduser()


def _id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError(f"{value!r} is not an id (a-z, 0-9 and '-', at most 63)")
    return value


def _device_id(value: str) -> str:
    _id(value)
    if value.startswith(CENTRAL_PREFIX):
        raise ValueError(f"{value!r} uses the prefix {CENTRAL_PREFIX!r}, reserved for central")
    return value


def _division(value: int) -> int:
    mantissa = value
    while mantissa >= 10 and mantissa % 10 == 0:
        mantissa //= 10
    if value <= 0 or mantissa not in (1, 2, 5):
        raise ValueError(f"must be 1, 2 or 5 \N{MULTIPLICATION SIGN} 10^n kg (got {value})")
    return value


def _modbus_url(value: str) -> str:
    try:
        parse_url(value)
    except ConfigError as exc:
        raise ValueError(exc.message) from None
    return value


def _serial_url(value: str) -> str:
    if not value.strip() or "\x00" in value:
        raise ValueError("must be a serial port, a pty path or socket://host:port")
    if "://" in value:
        scheme = value.split("://", 1)[0]
        if scheme not in _SERIAL_SCHEMES:
            raise ValueError(
                f"{value!r}: a serial URL is a device path or one of "
                f"{', '.join(s + '://' for s in _SERIAL_SCHEMES)}"
            )
    return value


def _camera_name(value: str) -> str:
    if not value or len(value) > 80 or not value.isprintable() or value != value.strip():
        raise ValueError(f"{value!r} is not a camera name (printable, 1-80 characters)")
    return value


def _status_url(value: str) -> str:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018  # raises for a port that is not a number
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be an http:// or https:// URL")
    return value


def _register_map(value: object, info: ValidationInfo) -> RegisterMap:
    # A preset name, a map file (relative to the site file) or an inline table.
    where = "modbus"
    if isinstance(value, str):
        spec: str | Mapping[str, object] = (
            value if value in PRESETS or not value else str(_base(info) / value)
        )
    elif isinstance(value, Mapping):
        spec = value
    else:
        raise PydanticCustomError(
            "register_map",
            "must be a preset ({presets}), a map file or a table",
            {"presets": ", ".join(PRESETS)},
        )
    try:
        return load_register_map(spec, where=where)
    except ConfigError as exc:
        message, subkey = exc.message, ""
        if message.startswith(f"{where}."):
            subkey, _, message = message[len(where) + 1 :].partition(": ")
        elif message.startswith(f"{where}: "):
            message = message[len(where) + 2 :]
        raise PydanticCustomError(
            "register_map", "{detail}", {"detail": message, "subkey": subkey}
        ) from None


Id = Annotated[str, AfterValidator(_id)]
FilePath = Annotated[Path, BeforeValidator(_path)]
Seconds = Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]
Millis = Annotated[int, Field(ge=1, le=3_600_000)]
UnitId = Annotated[int, Field(ge=1, le=247)]
Channel = Annotated[int, Field(ge=0, le=MAX_CHANNEL)]


class SiteSection(_Table):
    """``[site]``: who this edge is, its keys and where it keeps its data."""

    id: Id
    device: Annotated[str, AfterValidator(_device_id)]
    device_key: FilePath
    """The device's Ed25519 private key (PKCS#8 PEM, mode 0600)."""
    central_keys: FilePath
    """Central's public keys: a PEM, a directory of ``*.pub``, a JWKS or a COSE_KeySet."""
    data_dir: FilePath
    """The journal (``journal.db``) and other state live here."""

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.db"


class BrokerSection(_Table):
    """``[broker]``: ``mqtt://`` or ``mqtts://`` (then the CA, client certificate and key)."""

    url: str
    mqtt_version: Literal["5", "3.1.1"] = "5"
    ca_file: FilePath | None = None
    cert_file: FilePath | None = None
    key_file: FilePath | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"{value!r} must look like mqtt://host:port or mqtts://host:port")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port") from None
        if port == 0 or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"{value!r} must look like mqtt://host:port or mqtts://host:port")
        return value

    @property
    def tls(self) -> bool:
        return self.url.startswith("mqtts:")


class UplinkSection(_Table):
    """``[uplink]``: records in flight, resend and heartbeat timing (WIRE.md "Acks")."""

    window: Annotated[int, Field(ge=1, le=10_000)] = 200
    resend_after_s: Seconds = 10.0
    heartbeat_s: Seconds = 300.0


class HttpSection(_Table):
    """``[http]``: where the local server (console, camera pushes, metrics) listens."""

    bind: str = "127.0.0.1:8080"

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{value!r} must be HOST:PORT with a port 1-65535")
        return value

    @property
    def host(self) -> str:
        return self.bind.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.bind.rpartition(":")[2])


class _ScaleTable(_Table):
    division_kg: Annotated[int, AfterValidator(_division)]
    capacity_kg: Annotated[int, Field(gt=0)]
    poll_interval_s: Seconds = 0.1
    silent_after_s: Seconds = 2.0

    @field_validator("capacity_kg")
    @classmethod
    def _capacity(cls, value: int, info: ValidationInfo) -> int:
        division = info.data.get("division_kg")
        if not isinstance(division, int):
            return value
        if value % division:
            raise ValueError(f"must be a multiple of division_kg {division} (got {value})")
        divisions = value // division
        if not MIN_DIVISIONS <= divisions <= MAX_DIVISIONS:
            raise ValueError(
                f"{value} kg is {divisions} divisions of {division} kg; a class III truck "
                f"scale has {MIN_DIVISIONS}-{MAX_DIVISIONS} (OIML R76)"
            )
        return value


class SerialScale(_ScaleTable):
    """``[lane.scale]`` of a serial indicator (PROTOCOLS.md §1-3)."""

    protocol: Literal["mt-sics", "toledo", "xk3190-a9", "xk3190-a12", "xk3190-eq"]
    url: Annotated[str, AfterValidator(_serial_url)]
    baud: Annotated[int, Field(ge=50, le=4_000_000)] = 9600
    unit: Literal["kg", "t", "g"] = "kg"
    """The unit of formats that send none (xk3190-a9, xk3190-eq)."""
    eq_order: Literal["reversed", "forward"] = "reversed"
    """Digit order of the xk3190-eq ("=") format."""

    @property
    def scale_protocol(self) -> ScaleProtocol:
        return ScaleProtocol(self.protocol)


class ModbusScale(_ScaleTable):
    """``[lane.scale]`` of a Modbus weight transmitter (PROTOCOLS.md §4)."""

    modbus: Annotated[InstanceOf[RegisterMap], BeforeValidator(_register_map)]
    """A preset (``hr-int32``, ``ir-c500``), a map file, or an inline table."""
    url: Annotated[str, AfterValidator(_modbus_url)]
    unit_id: UnitId = 2

    @property
    def address(self) -> LineAddress:
        return parse_url(self.url)


def _scale_kind(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    serial, modbus = "protocol" in value, "modbus" in value
    if serial == modbus:
        return None
    return "serial" if serial else "modbus"


Scale = Annotated[
    Annotated[SerialScale, Tag("serial")] | Annotated[ModbusScale, Tag("modbus")],
    Discriminator(
        _scale_kind,
        custom_error_type="scale_kind",
        custom_error_message="needs either protocol (a serial indicator) or modbus (a Modbus "
        "transmitter), not both",
    ),
]


class IoChannels(_Table):
    """``[lane.io.map]``: coil and discrete-input numbers (0-based) of each signal; the
    defaults are PROTOCOLS.md §4's map."""

    barrier: Channel = 0
    red: Channel = 1
    green: Channel = 2
    horn: Channel = 3
    entry: Channel = 0
    deck_front: Channel = 1
    deck_rear: Channel = 2
    exit: Channel = 3
    barrier_up: Channel = 4

    @model_validator(mode="after")
    def _distinct(self) -> IoChannels:
        for kind, names in (("coil", COIL_SIGNALS), ("input", INPUT_SIGNALS)):
            seen: dict[int, str] = {}
            for name in names:
                channel = getattr(self, name)
                if channel in seen:
                    raise ValueError(
                        f"{kind} {channel} is given to both {seen[channel]} and {name}"
                    )
                seen[channel] = name
        return self

    def channels(self) -> dict[str, int]:
        """``{signal: channel}`` — the keyword arguments of ``edge.io.iomap.IoMap``."""
        return self.model_dump()


COIL_SIGNALS: Final = ("barrier", "red", "green", "horn")
INPUT_SIGNALS: Final = ("entry", "deck_front", "deck_rear", "exit", "barrier_up")


class IoSettings(_Table):
    """``[lane.io]``: the Modbus relay/IO module (barrier, lights, photo-eyes)."""

    url: Annotated[str, AfterValidator(_modbus_url)]
    unit_id: UnitId = 1
    barrier: Literal["pulse", "level"] = "pulse"
    pulse_ms: Annotated[int, Field(ge=50, le=10_000)] = 500
    poll_interval_s: Seconds = 0.1
    map: IoChannels = IoChannels()

    @model_validator(mode="after")
    def _pulse(self) -> IoSettings:
        if self.barrier == "level" and "pulse_ms" in self.model_fields_set:
            raise PydanticCustomError(
                "pulse_level", 'pulse_ms is for barrier = "pulse"; this barrier is "level"'
            )
        return self

    @property
    def address(self) -> LineAddress:
        return parse_url(self.url)


class Cameras(_Table):
    """``[lane.cameras]``: the camera names of the lane's pushes (default ``<lane>-entry`` and
    ``<lane>-exit``, as the simulator names them) and how their health is watched."""

    entry: Annotated[str, AfterValidator(_camera_name)] | None = None
    exit: Annotated[str, AfterValidator(_camera_name)] | None = None
    no_read_s: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 15.0
    """A truck at a camera (entry beam or weight; exit beam) with no read this long before or
    after: that camera is at fault (``no_read``) until it reads again; 0 turns the watch off
    (``edge.camera.health``)."""
    entry_status: Annotated[str, AfterValidator(_status_url)] | None = None
    """The entry camera's status page, polled (``edge.camera.status``); none: not polled."""
    exit_status: Annotated[str, AfterValidator(_status_url)] | None = None
    status_every_s: Annotated[float, Field(ge=0.1, le=3600, allow_inf_nan=False)] = 10.0
    """How often a status page is polled …"""
    status_timeout_s: Annotated[float, Field(ge=0.1, le=60, allow_inf_nan=False)] = 2.0
    """… and how long each poll may take."""


class Thresholds(_Table):
    """``[lane.thresholds]``: names and defaults as ``edge.gate.config.LaneConfig``."""

    band_e: Annotated[int, Field(ge=0, le=100)] = 1
    """Stability: readings within ±band_e divisions …"""
    window_ms: Annotated[int, Field(ge=100, le=60_000)] = 1000
    """… for window_ms (PROTOCOLS.md §6: ±1 d over about 1 s)."""
    zero_band_e: Annotated[int, Field(ge=0, le=100)] = 2
    """Zero before the transaction: the empty deck within ±zero_band_e divisions."""
    tare_tolerance_kg: Annotated[int, Field(ge=0, le=100_000)] = 300
    """A weighed tare may differ this much from the truck's stored or last tare."""
    min_plate_conf: Annotated[int, Field(ge=0, le=100)] = 80
    """Plate reads below this confidence are not used."""
    settle_timeout_ms: Annotated[int, Field(ge=2000, le=600_000)] = 30_000
    """No stable reading this long after the truck is wholly on: held ``unstable``."""
    position_timeout_ms: Annotated[int, Field(ge=5000, le=600_000)] = 60_000
    """Not wholly on the deck this long after arriving: held ``not_positioned``."""
    step_kg: Annotated[int, Field(ge=100, le=100_000)] = 2000
    """tamper_step: a jump of more than this between readings while the truck stands still."""

    @model_validator(mode="after")
    def _settle_after_window(self) -> Thresholds:
        if self.settle_timeout_ms <= self.window_ms:
            raise PydanticCustomError(
                "settle_window",
                "settle_timeout_ms ({settle}) must be longer than window_ms ({window})",
                {"settle": self.settle_timeout_ms, "window": self.window_ms},
            )
        return self


class LaneSettings(_Table):
    """One ``[[lane]]``."""

    id: Id
    direction: Literal["out", "in"]
    """``out`` dispatches loaded trucks (a seller), ``in`` receives them (a destination)."""
    passes: Literal["single", "two"] = "two"
    """``single`` weighs once against the stored tare; ``two`` weighs tare and gross."""
    scale: Scale
    io: IoSettings
    cameras: Cameras = Cameras()
    thresholds: Thresholds = Thresholds()

    @property
    def entry_camera(self) -> str:
        return self.cameras.entry or f"{self.id}-entry"

    @property
    def exit_camera(self) -> str:
        return self.cameras.exit or f"{self.id}-exit"


class SiteConfig(_Table):
    """A whole site file; ``lanes`` are its ``[[lane]]`` tables in file order."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False)

    site: SiteSection
    broker: BrokerSection
    uplink: UplinkSection = UplinkSection()
    http: HttpSection = HttpSection()
    lanes: Annotated[tuple[LaneSettings, ...], Field(alias="lane", min_length=1, strict=False)]

    def cameras(self) -> dict[str, CameraSpot]:
        """Camera name → lane and side: what ``edge.camera.router.camera_router`` takes."""
        return {
            name: CameraSpot(lane=lane.id, side=side)
            for lane in self.lanes
            for name, side in ((lane.entry_camera, Side.ENTRY), (lane.exit_camera, Side.EXIT))
        }
