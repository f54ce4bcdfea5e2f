"""Register maps of Modbus weight transmitters: where the values live and how they decode. Pure.

A map (PROTOCOLS.md §4) names the area (FC03 holding or FC04 input registers), the wire
addresses (0-based) of gross, net, tare, displayed, status, error flags, division and the
calibration counter, the value type and word order, the decimals (register = kg x 10^decimals),
the status bits, and the command register with its codes. The edge ships the two presets,
``hr-int32`` and ``ir-c500``; an integrator writes the mine's own transmitter as TOML in the
same format the simulator takes (docs/hardware-testing.md, docs/edge-drivers.md)::

    name = "laumas-tlu"
    area = "holding"                 # or "input"
    gross = 7                        # required; the rest is optional
    net = 9
    type = "int32"                   # int32, uint32, float32, int16
    word_order = "big"               # or "little" (low word first)
    decimals = 0
    status = 6
    status_words = 1                 # 1 or 2
    status_bits = { motion = 0, overload = 1, underload = 2, net = 3, zero = 4 }
    command = 5                      # always a holding register
    commands = { 1 = "zero", 2 = "tare", 3 = "clear-tare" }

This is an independent implementation: the simulator stands in for third-party hardware and
shares no code with the edge (DESIGN.md).
"""

from __future__ import annotations

import struct
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Final, TypeVar

from edge.errors import ConfigError
from edge.modbus.line import MAX_REGISTERS

E = TypeVar("E", bound=StrEnum)


class Area(StrEnum):
    """Where the values live."""

    HOLDING = "holding"  # FC03
    INPUT = "input"  # FC04


class ValueType(StrEnum):
    """How one weight is encoded."""

    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    INT16 = "int16"

    @property
    def words(self) -> int:
        """Registers one value takes."""
        return 1 if self is ValueType.INT16 else 2


class WordOrder(StrEnum):
    """Which word of a 32-bit value comes first on the wire."""

    BIG = "big"  # high word first
    LITTLE = "little"  # low word first


class Command(StrEnum):
    """What a code written to the command register asks for."""

    ZERO = "zero"
    TARE = "tare"
    CLEAR_TARE = "clear-tare"


#: Status flags a map may place (``net`` and ``gross`` are the two ways of saying the mode).
STATUS_FLAGS: Final = frozenset({"motion", "overload", "underload", "net", "gross", "zero"})


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
    decimals: int = 0
    status: int | None = None
    status_words: int = 1
    status_bits: Mapping[str, int] = field(default_factory=dict)
    errors: int | None = None  # two registers of error flags
    division: int | None = None  # uint16, kg
    calibration: int | None = None  # uint16 counter
    command: int | None = None  # a holding register, written with FC06
    commands: Mapping[Command, int] = field(default_factory=dict)  # action → code

    def __post_init__(self) -> None:
        where = f"register map {self.name!r}"
        if not 0 <= self.decimals <= 3:
            raise ConfigError(f"{where}: decimals must be 0-3", option="decimals")
        if self.status_words not in (1, 2):
            raise ConfigError(f"{where}: status_words must be 1 or 2", option="status_words")
        unknown = set(self.status_bits) - STATUS_FLAGS
        if unknown:
            raise ConfigError(
                f"{where}: unknown status flag(s) {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(STATUS_FLAGS))})",
                option="status_bits",
            )
        if self.status_bits and self.status is None:
            raise ConfigError(f"{where}: status_bits need a status register", option="status")
        top = 16 * self.status_words
        for flag, bit in self.status_bits.items():
            if not 0 <= bit < top:
                raise ConfigError(
                    f"{where}: status bit {flag} = {bit} is outside the status (0-{top - 1})",
                    option="status_bits",
                )
        used = [address for start, words in self.spans() for address in range(start, start + words)]
        if len(used) != len(set(used)):
            raise ConfigError(f"{where}: two values share a register", option="gross")
        if max(used) > 0xFFFF:
            raise ConfigError(f"{where}: a value runs past register 65535", option="gross")
        if self.commands and self.command is None:
            raise ConfigError(f"{where}: commands need a command register", option="command")
        if self.area is Area.HOLDING and self.command is not None and self.command in used:
            raise ConfigError(f"{where}: the command register overlaps a value", option="command")

    def spans(self) -> list[tuple[int, int]]:
        """(start, registers) of every value the map reads, in address order."""
        words = self.value_type.words
        spans = [
            (a, words) for a in (self.gross, self.net, self.tare, self.displayed) if a is not None
        ]
        if self.status is not None:
            spans.append((self.status, self.status_words))
        if self.errors is not None:
            spans.append((self.errors, 2))
        spans += [(a, 1) for a in (self.division, self.calibration) if a is not None]
        return sorted(spans)

    def read_plan(self, *, max_gap: int = 8) -> list[tuple[int, int]]:
        """The reads (start, count) that cover every value: neighbours merged into one read
        when the registers between them are few (``max_gap``) and the read stays within the
        Modbus limit. A gap may hold addresses the device does not map (exception 02), so a
        driver that gets 02 for a merged read falls back to ``read_plan(max_gap=0)``."""
        plan: list[tuple[int, int]] = []
        for start, words in self.spans():
            if plan:
                first, count = plan[-1]
                end = first + count
                if start - end <= max_gap and start + words - first <= MAX_REGISTERS:
                    plan[-1] = (first, max(end, start + words) - first)
                    continue
            plan.append((start, words))
        return plan


PRESETS: Final[Mapping[str, RegisterMap]] = {
    "hr-int32": RegisterMap(
        name="hr-int32",
        area=Area.HOLDING,
        command=0,
        commands={Command.ZERO: 1, Command.TARE: 2, Command.CLEAR_TARE: 3},
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
        commands={Command.ZERO: 1, Command.TARE: 2},
    ),
}

_KEYS: Final = frozenset(
    {
        "name", "area", "gross", "net", "tare", "displayed", "type", "word_order", "decimals",
        "status", "status_words", "status_bits", "errors", "division", "calibration", "command",
        "commands",
    }
)  # fmt: skip


def load_register_map(spec: str | Mapping[str, object], *, where: str) -> RegisterMap:
    """A preset by name, a map TOML file by path, or an inline table (parsed TOML).

    Anything wrong is a ``ConfigError`` whose message starts with ``where`` and names the key.
    """
    if isinstance(spec, Mapping):
        return map_from_table(spec, where=where)
    if spec in PRESETS:
        return PRESETS[spec]
    path = Path(spec)
    if path.suffix != ".toml":
        raise ConfigError(
            f"{where}: {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a .toml map file",
            option="modbus",
        )
    try:
        with path.open("rb") as file:
            table = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {spec}: {exc.strerror}", option="modbus") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {spec}: {exc}", option="modbus") from exc
    return map_from_table(table, where=str(spec))


def map_from_table(table: Mapping[str, object], *, where: str) -> RegisterMap:
    """A register map from a parsed TOML table; see the module docstring for the keys."""
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}", option=min(unknown)
        )

    def address(key: str) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if type(value) is not int or not 0 <= value <= 0xFFFF:
            raise ConfigError(f"{where}.{key}: must be a register address 0-65535", option=key)
        return value

    def choice(key: str, kind: type[E], default: E) -> E:
        value = str(table.get(key, default.value))
        try:
            return kind(value)
        except ValueError:
            known = ", ".join(member.value for member in kind)
            raise ConfigError(f"{where}.{key}: must be one of {known}", option=key) from None

    def small_int(key: str, default: int) -> int:
        value = table.get(key, default)
        if type(value) is not int:
            raise ConfigError(f"{where}.{key}: must be an integer", option=key)
        return value

    name = table.get("name", "custom")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: must be text", option="name")
    gross = address("gross")
    if gross is None:
        raise ConfigError(f"{where}.gross: required (the gross weight's address)", option="gross")
    bits = table.get("status_bits", {})
    if not isinstance(bits, Mapping) or not all(type(v) is int for v in bits.values()):
        raise ConfigError(
            f"{where}.status_bits: must map flags to bit numbers", option="status_bits"
        )
    codes = table.get("commands", {})
    if not isinstance(codes, Mapping):
        raise ConfigError(f"{where}.commands: must map codes to actions", option="commands")
    commands: dict[Command, int] = {}
    for code, action in codes.items():
        if not str(code).isdigit() or not 0 <= int(code) <= 0xFFFF:
            raise ConfigError(f"{where}.commands: code {code!r} is not 0-65535", option="commands")
        try:
            commands[Command(action)] = int(code)
        except ValueError:
            raise ConfigError(
                f"{where}.commands.{code}: must be zero, tare or clear-tare", option="commands"
            ) from None
    # every key checked on its own first, so that its message names it
    area = choice("area", Area, Area.HOLDING)
    value_type = choice("type", ValueType, ValueType.INT32)
    word_order = choice("word_order", WordOrder, WordOrder.BIG)
    decimals = small_int("decimals", 0)
    status_words = small_int("status_words", 1)
    addresses = {
        key: address(key)
        for key in ("net", "tare", "displayed", "status", "errors", "division", "calibration")
    }
    command = address("command")
    try:
        return RegisterMap(
            name=name,
            area=area,
            gross=gross,
            net=addresses["net"],
            tare=addresses["tare"],
            displayed=addresses["displayed"],
            value_type=value_type,
            word_order=word_order,
            decimals=decimals,
            status=addresses["status"],
            status_words=status_words,
            status_bits=dict(bits),
            errors=addresses["errors"],
            division=addresses["division"],
            calibration=addresses["calibration"],
            command=command,
            commands=commands,
        )
    except ConfigError as exc:  # a whole-map problem: say where the map came from
        raise ConfigError(f"{where}: {exc.message.split(': ', 1)[-1]}", option=exc.option) from None


# --- decoding ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One poll's values, decoded. Weights are exact Decimals in kg (``decimals`` applied; a
    float32 register gives its exact binary value) — the driver turns them into whole kg on
    the division grid and refuses any that are not (never rounds). Flags are ``None`` when
    the map does not carry them."""

    gross: Decimal
    net: Decimal | None
    tare: Decimal | None
    displayed: Decimal | None
    motion: bool | None
    overload: bool | None
    underload: bool | None
    net_mode: bool | None
    zero: bool | None
    errors: int | None
    division_kg: int | None
    calibration: int | None


def decode(regmap: RegisterMap, registers: Mapping[int, int]) -> Sample:
    """Decode a poll (address → register value); every address the map reads must be there."""

    def value(start: int | None) -> Decimal | None:
        if start is None:
            return None
        words = [registers[start + i] for i in range(regmap.value_type.words)]
        if regmap.word_order is WordOrder.LITTLE:
            words.reverse()
        raw = b"".join(word.to_bytes(2, "big") for word in words)
        number: int | float = struct.unpack(_FORMATS[regmap.value_type], raw)[0]
        # a float is taken exactly (its binary value); NaN/inf stay non-finite for the driver
        # to refuse. Floats carry the decimals too: register = kg x 10^decimals
        return Decimal(number).scaleb(-regmap.decimals)

    status: int | None = None
    if regmap.status is not None:
        status = registers[regmap.status]
        if regmap.status_words == 2:  # high word first, as the C500 sends it
            status = status << 16 | registers[regmap.status + 1]

    def flag(name: str) -> bool | None:
        bit = regmap.status_bits.get(name)
        if bit is None or status is None:
            return None
        return bool(status >> bit & 1)

    net_mode = flag("net")
    if net_mode is None and (gross_mode := flag("gross")) is not None:
        net_mode = not gross_mode
    gross = value(regmap.gross)
    assert gross is not None  # the map always has gross
    errors = None
    if regmap.errors is not None:
        errors = registers[regmap.errors] << 16 | registers[regmap.errors + 1]
    return Sample(
        gross=gross,
        net=value(regmap.net),
        tare=value(regmap.tare),
        displayed=value(regmap.displayed),
        motion=flag("motion"),
        overload=flag("overload"),
        underload=flag("underload"),
        net_mode=net_mode,
        zero=flag("zero"),
        errors=errors,
        division_kg=None if regmap.division is None else registers[regmap.division],
        calibration=None if regmap.calibration is None else registers[regmap.calibration],
    )


_FORMATS: Final = {
    ValueType.INT32: ">i",
    ValueType.UINT32: ">I",
    ValueType.FLOAT32: ">f",
    ValueType.INT16: ">h",
}
