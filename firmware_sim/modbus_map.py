"""Register maps of a Modbus weight transmitter, and the register image of a reading. Pure.

A map says where each value lives (holding or input registers), its type and word order, the
status bits and the command register (PROTOCOLS.md §4). ``image`` turns a reading into the
register values the map defines; addresses the map leaves out are not there at all, so a read
of them gets exception 02 (illegal data address).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import StrEnum

from firmware_sim.display import Reading
from firmware_sim.errors import ConfigError


class Area(StrEnum):
    """Where the weights live: FC03 holding or FC04 input registers."""

    HOLDING = "holding"
    INPUT = "input"


class ValueType(StrEnum):
    """How a weight is encoded."""

    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    INT16 = "int16"

    @property
    def words(self) -> int:
        """Registers one value takes."""
        return 1 if self is ValueType.INT16 else 2


class WordOrder(StrEnum):
    """Which 16-bit word of a 32-bit value comes first."""

    BIG = "big"
    LITTLE = "little"


class Command(StrEnum):
    """What a write to the command register asks for."""

    ZERO = "zero"
    TARE = "tare"
    CLEAR_TARE = "clear-tare"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterMap:
    """Where a transmitter keeps its values (wire addresses, 0-based)."""

    name: str
    area: Area
    gross: int
    net: int | None = None
    tare: int | None = None
    displayed: int | None = None
    value_type: ValueType = ValueType.INT32
    word_order: WordOrder = WordOrder.BIG
    decimals: int = 0  # register = kg x 10**decimals (a transmitter showing tenths of kg)
    status: int = 0
    status_words: int = 1
    status_bits: dict[str, int] = field(default_factory=dict)
    errors: int | None = None  # error flags (two registers), 0 unless a fault says otherwise
    division: int | None = None
    calibration: int | None = None
    command: int = 0  # always a holding register (FC06/FC16)
    commands: dict[int, Command] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= 3:
            raise ConfigError("register map decimals must be 0-3", option="decimals")
        if self.status_words not in (1, 2):
            raise ConfigError("the status takes 1 or 2 registers")
        unknown = set(self.status_bits) - _STATUS_FLAGS
        if unknown:
            raise ConfigError(f"unknown status bit(s): {', '.join(sorted(unknown))}")
        addresses = sorted(self.read_addresses())
        if len(addresses) != len(set(addresses)):
            raise ConfigError(f"register map {self.name}: values overlap")
        if self.area is Area.HOLDING and self.command in addresses:
            raise ConfigError(f"register map {self.name}: the command register overlaps a value")

    def _spans(self) -> list[tuple[int, int]]:
        weights = [self.gross, self.net, self.tare, self.displayed]
        spans = [(a, self.value_type.words) for a in weights if a is not None]
        spans.append((self.status, self.status_words))
        spans += [(a, 2) for a in (self.errors,) if a is not None]
        spans += [(a, 1) for a in (self.division, self.calibration) if a is not None]
        return spans

    def read_addresses(self) -> list[int]:
        """Every register address of the value area (command register not included)."""
        return [start + i for start, words in self._spans() for i in range(words)]


_STATUS_FLAGS = {"motion", "overload", "underload", "net", "gross", "zero"}

PRESETS: dict[str, RegisterMap] = {
    "hr-int32": RegisterMap(
        name="hr-int32",
        area=Area.HOLDING,
        command=0,
        commands={1: Command.ZERO, 2: Command.TARE, 3: Command.CLEAR_TARE},
        status=1,
        status_bits={"motion": 0, "overload": 1, "underload": 2, "net": 3, "zero": 4},
        gross=2,
        net=4,
        tare=6,
        division=8,
        calibration=9,
    ),
    "ir-c500": RegisterMap(
        name="ir-c500",
        area=Area.INPUT,
        gross=0,
        net=2,
        displayed=4,
        status=6,
        status_words=2,
        status_bits={"underload": 0, "overload": 1, "motion": 2, "gross": 3, "zero": 6},
        errors=8,
        command=0,
        commands={1: Command.ZERO, 2: Command.TARE},
    ),
}


def preset(name: str) -> RegisterMap:
    """A preset by name, or ConfigError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r} (known: {', '.join(PRESETS)})", option="preset"
        ) from None


_MAP_KEYS = {
    "name", "area", "gross", "net", "tare", "displayed", "type", "word_order", "decimals",
    "status", "status_words", "status_bits", "errors", "division", "calibration", "command",
    "commands",
}  # fmt: skip


def map_from_table(table: object, *, where: str) -> RegisterMap:
    """A register map from a parsed TOML table (a hardware tester's vendor map), e.g.::

        name = "laumas-tlu"
        area = "holding"            # or "input"
        gross = 7                   # wire addresses, 0-based
        net = 9
        type = "int32"              # int32, uint32, float32, int16
        word_order = "big"          # or "little"
        status = 6
        status_bits = { motion = 0, overload = 1 }
        command = 5
        commands = { 1 = "zero", 2 = "tare" }

    Anything wrong is a ``ConfigError`` naming ``where`` and the key.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: a register map is a table")
    unknown = set(table) - _MAP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")

    def address(key: str, *, required: bool = False) -> int | None:
        value = table.get(key)
        if value is None and not required:
            return None
        if type(value) is not int or not 0 <= value <= 0xFFFF:
            raise ConfigError(f"{where}.{key}: must be a register address 0-65535")
        return value

    def choice(key: str, kind: type[StrEnum], default: str) -> str:
        value = table.get(key, default)
        if value not in {member.value for member in kind}:
            known = ", ".join(member.value for member in kind)
            raise ConfigError(f"{where}.{key}: must be one of {known}")
        return str(value)

    bits = table.get("status_bits", {})
    commands = table.get("commands", {})
    if not isinstance(bits, dict) or not all(type(v) is int and 0 <= v < 32 for v in bits.values()):
        raise ConfigError(f"{where}.status_bits: must map flags to bit numbers 0-31")
    if not isinstance(commands, dict):
        raise ConfigError(f"{where}.commands: must map codes to zero, tare or clear-tare")
    try:
        codes = {int(code): Command(action) for code, action in commands.items()}
    except ValueError:
        raise ConfigError(f"{where}.commands: must map codes to zero, tare or clear-tare") from None
    name = table.get("name", "custom")
    decimals = table.get("decimals", 0)
    status_words = table.get("status_words", 1)
    if not isinstance(name, str) or type(decimals) is not int or type(status_words) is not int:
        raise ConfigError(f"{where}: name must be text, decimals and status_words integers")
    gross = address("gross", required=True)
    assert gross is not None
    return RegisterMap(
        name=name,
        area=Area(choice("area", Area, "holding")),
        gross=gross,
        net=address("net"),
        tare=address("tare"),
        displayed=address("displayed"),
        value_type=ValueType(choice("type", ValueType, "int32")),
        word_order=WordOrder(choice("word_order", WordOrder, "big")),
        decimals=decimals,
        status=address("status") or 0,
        status_words=status_words,
        status_bits=dict(bits),
        errors=address("errors"),
        division=address("division"),
        calibration=address("calibration"),
        command=address("command") or 0,
        commands=codes,
    )


def encode_value(kg: float, value_type: ValueType, word_order: WordOrder) -> list[int]:
    """One value as registers; integers saturate at their type's range instead of wrapping."""
    if value_type is ValueType.FLOAT32:
        raw = struct.pack(">f", kg)
    else:
        low, high, fmt = {
            ValueType.INT32: (-(2**31), 2**31 - 1, ">i"),
            ValueType.UINT32: (0, 2**32 - 1, ">I"),
            ValueType.INT16: (-(2**15), 2**15 - 1, ">h"),
        }[value_type]
        raw = struct.pack(fmt, max(low, min(high, round(kg))))
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return words[::-1] if word_order is WordOrder.LITTLE else words


def status_word(regmap: RegisterMap, shown: Reading, *, zero_band_kg: int) -> int:
    """The status bits for a reading."""
    flags = {
        "motion": not shown.stable,
        "overload": shown.overload,
        "underload": shown.underload,
        "net": shown.net_mode,
        "gross": not shown.net_mode,
        "zero": abs(shown.gross_kg) <= zero_band_kg,
    }
    return sum(1 << bit for name, bit in regmap.status_bits.items() if flags[name])


def image(
    regmap: RegisterMap,
    shown: Reading,
    *,
    division_kg: int,
    calibration_count: int,
    error_flags: int = 0,
) -> dict[int, int]:
    """Register address → value for everything the map's value area holds."""
    scale = 10**regmap.decimals
    net = shown.gross_kg - shown.tare_kg
    out: dict[int, int] = {}

    def put(address: int | None, kg: float) -> None:
        if address is not None:
            words = encode_value(kg * scale, regmap.value_type, regmap.word_order)
            for i, word in enumerate(words):
                out[address + i] = word

    put(regmap.gross, shown.gross_kg)
    put(regmap.net, net)
    put(regmap.tare, shown.tare_kg)
    put(regmap.displayed, net if shown.net_mode else shown.gross_kg)
    status = status_word(regmap, shown, zero_band_kg=division_kg // 4)
    for i, word in enumerate(_u32_words(status)[-regmap.status_words :]):
        out[regmap.status + i] = word
    if regmap.errors is not None:
        out[regmap.errors], out[regmap.errors + 1] = _u32_words(error_flags)
    if regmap.division is not None:
        out[regmap.division] = division_kg & 0xFFFF
    if regmap.calibration is not None:
        out[regmap.calibration] = calibration_count & 0xFFFF
    return out


def _u32_words(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]
