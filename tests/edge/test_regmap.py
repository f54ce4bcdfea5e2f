"""Register maps: random values encoded with ``struct`` per the map decode back exactly; read
plans cover every value within the Modbus limits; a bad map is one line naming the key.

The encoder here is written from PROTOCOLS.md §4 with ``struct`` (not the simulator's, not
the edge's): a shared codec would hide a shared misreading.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.errors import ConfigError
from edge.modbus.line import MAX_REGISTERS
from edge.modbus.regmap import (
    PRESETS,
    Area,
    Command,
    RegisterMap,
    ValueType,
    WordOrder,
    decode,
    load_register_map,
    map_from_table,
)

_FORMAT = {
    ValueType.INT32: ">i",
    ValueType.UINT32: ">I",
    ValueType.FLOAT32: ">f",
    ValueType.INT16: ">h",
}
_RANGE = {
    ValueType.INT32: (-(2**31), 2**31 - 1),
    ValueType.UINT32: (0, 2**32 - 1),
    ValueType.INT16: (-(2**15), 2**15 - 1),
}


def encode(regmap: RegisterMap, raw: int | float) -> list[int]:
    """One value as the registers a transmitter with this map sends."""
    data = struct.pack(_FORMAT[regmap.value_type], raw)
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return words[::-1] if regmap.word_order is WordOrder.LITTLE else words


@st.composite
def maps(draw: st.DrawFn) -> RegisterMap:
    """A map with gross, net, tare and a status word at random, non-overlapping addresses."""
    value_type = draw(st.sampled_from(list(ValueType)))
    words = value_type.words
    status_words = draw(st.sampled_from([1, 2]))
    gaps = draw(st.lists(st.integers(0, 12), min_size=4, max_size=4))
    order = draw(st.permutations(["gross", "net", "tare", "status"]))
    start = draw(st.integers(0, 60000))
    where: dict[str, int] = {}
    cursor = start
    for name, gap in zip(order, gaps, strict=True):
        cursor += gap
        where[name] = cursor
        cursor += status_words if name == "status" else words
    bits = draw(st.permutations(range(16 * status_words)))
    return RegisterMap(
        name="drawn",
        area=draw(st.sampled_from(list(Area))),
        value_type=value_type,
        word_order=draw(st.sampled_from(list(WordOrder))),
        decimals=draw(st.integers(0, 3)),
        status_words=status_words,
        status_bits=dict(
            zip(["motion", "overload", "underload", "net", "zero"], bits, strict=False)
        ),
        gross=where["gross"],
        net=where["net"],
        tare=where["tare"],
        status=where["status"],
    )


def values(value_type: ValueType) -> st.SearchStrategy[int | float]:
    if value_type is ValueType.FLOAT32:
        return st.floats(width=32, allow_nan=False, allow_infinity=False)
    low, high = _RANGE[value_type]
    return st.integers(low, high)


@given(data=st.data())
def test_values_encoded_per_the_map_decode_back_exactly(data: st.DataObject) -> None:
    regmap = data.draw(maps())
    raws = {
        name: data.draw(values(regmap.value_type), label=name) for name in ("gross", "net", "tare")
    }
    status = data.draw(st.integers(0, 2 ** (16 * regmap.status_words) - 1), label="status")
    registers: dict[int, int] = {}
    for name, raw in raws.items():
        start = getattr(regmap, name)
        registers.update(enumerate(encode(regmap, raw), start=start))
    assert regmap.status is not None
    status_registers = [status >> 16, status & 0xFFFF] if regmap.status_words == 2 else [status]
    registers.update(enumerate(status_registers, start=regmap.status))

    sample = decode(regmap, registers)

    for name, raw in raws.items():
        assert getattr(sample, name) == Decimal(raw).scaleb(-regmap.decimals), name
    for flag in ("motion", "overload", "underload", "zero"):
        assert getattr(sample, flag) == bool(status >> regmap.status_bits[flag] & 1)
    assert sample.net_mode == bool(status >> regmap.status_bits["net"] & 1)
    assert (sample.displayed, sample.errors, sample.division_kg, sample.calibration) == (None,) * 4


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_decode_as_non_finite(value: float) -> None:
    regmap = map_from_table({"gross": 0, "type": "float32"}, where="t")
    assert not decode(regmap, dict(enumerate(encode(regmap, value)))).gross.is_finite()


@given(regmap=maps(), max_gap=st.integers(0, 20))
def test_read_plans_cover_every_value_within_the_limit(regmap: RegisterMap, max_gap: int) -> None:
    plan = regmap.read_plan(max_gap=max_gap)
    covered = {a for start, count in plan for a in range(start, start + count)}
    needed = {a for start, words in regmap.spans() for a in range(start, start + words)}
    assert needed <= covered
    assert all(1 <= count <= MAX_REGISTERS for _, count in plan)
    assert [start for start, _ in plan] == sorted({start for start, _ in plan})
    if max_gap == 0:  # one read per run of adjacent values: nothing unmapped is asked for
        assert covered == needed


def test_presets_read_in_one_request_each() -> None:
    assert PRESETS["hr-int32"].read_plan() == [(1, 9)]
    assert PRESETS["ir-c500"].read_plan() == [(0, 10)]
    assert PRESETS["hr-int32"].commands == {Command.ZERO: 1, Command.TARE: 2, Command.CLEAR_TARE: 3}


def test_the_presets_decode_a_real_answer() -> None:
    hr = PRESETS["hr-int32"]
    answer = [0b1001, 0, 49000, 0, 34000, 0, 15000, 10, 3]  # motion, net mode
    sample = decode(hr, dict(enumerate(answer, start=1)))
    assert (sample.gross, sample.net, sample.tare) == (
        Decimal(49000),
        Decimal(34000),
        Decimal(15000),
    )
    assert (sample.motion, sample.net_mode, sample.overload, sample.zero) == (
        True,
        True,
        False,
        False,
    )
    assert (sample.division_kg, sample.calibration) == (10, 3)
    c500 = PRESETS["ir-c500"]
    answer = [0, 49000, 0, 49000, 0, 49000, 0, 0b1000, 0, 5]  # gross mode, error flags 5
    sample = decode(c500, dict(enumerate(answer)))
    assert (sample.gross, sample.displayed, sample.net_mode, sample.errors) == (
        Decimal(49000),
        Decimal(49000),
        False,
        5,
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "site.toml.gross: required (the gross weight's address)"),
        ({"gross": 2, "bogus": 1}, "site.toml: unknown key(s) bogus"),
        ({"gross": -1}, "site.toml.gross: must be a register address 0-65535"),
        ({"gross": "2"}, "site.toml.gross: must be a register address 0-65535"),
        (
            {"gross": 2, "type": "int64"},
            "site.toml.type: must be one of int32, uint32, float32, int16",
        ),
        ({"gross": 2, "word_order": "middle"}, "site.toml.word_order: must be one of big, little"),
        ({"gross": 2, "area": "coils"}, "site.toml.area: must be one of holding, input"),
        ({"gross": 2, "decimals": 4}, "site.toml: decimals must be 0-3"),
        ({"gross": 2, "decimals": "1"}, "site.toml.decimals: must be an integer"),
        ({"gross": 2, "status": 1, "status_words": 3}, "site.toml: status_words must be 1 or 2"),
        (
            {"gross": 2, "status_bits": {"motion": 0}},
            "site.toml: status_bits need a status register",
        ),
        (
            {"gross": 2, "status": 1, "status_bits": {"moving": 0}},
            "site.toml: unknown status flag(s) moving "
            "(known: gross, motion, net, overload, underload, zero)",
        ),
        (
            {"gross": 2, "status": 1, "status_bits": {"motion": 16}},
            "site.toml: status bit motion = 16 is outside the status (0-15)",
        ),
        (
            {"gross": 2, "status": 1, "status_bits": "motion"},
            "site.toml.status_bits: must map flags to bit numbers",
        ),
        ({"gross": 2, "net": 3}, "site.toml: two values share a register"),
        ({"gross": 65535}, "site.toml: a value runs past register 65535"),
        ({"gross": 2, "commands": {"1": "zero"}}, "site.toml: commands need a command register"),
        ({"gross": 2, "command": 3}, "site.toml: the command register overlaps a value"),
        (
            {"gross": 2, "command": 0, "commands": {"x": "zero"}},
            "site.toml.commands: code 'x' is not 0-65535",
        ),
        (
            {"gross": 2, "command": 0, "commands": {"1": "print"}},
            "site.toml.commands.1: must be zero, tare or clear-tare",
        ),
        (
            {"gross": 2, "command": 0, "commands": "zero"},
            "site.toml.commands: must map codes to actions",
        ),
        ({"gross": 2, "name": ""}, "site.toml.name: must be text"),
    ],
)
def test_bad_maps_are_one_line_naming_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        map_from_table(table, where="site.toml")
    assert caught.value.message == message
    assert "\n" not in message


def test_an_input_map_may_command_a_holding_register_at_a_value_address() -> None:
    regmap = map_from_table({"area": "input", "gross": 0, "command": 0}, where="t")
    assert (regmap.area, regmap.command) == (Area.INPUT, 0)


def test_maps_by_preset_file_or_table(tmp_path: Path) -> None:
    assert load_register_map("ir-c500", where="--modbus") is PRESETS["ir-c500"]
    path = tmp_path / "laumas.toml"
    path.write_text('name = "laumas-tlu"\ngross = 7\nnet = 9\ntype = "uint32"\n')
    loaded = load_register_map(str(path), where="--modbus")
    assert (loaded.name, loaded.gross, loaded.net, loaded.value_type) == (
        "laumas-tlu", 7, 9, ValueType.UINT32,
    )  # fmt: skip
    assert load_register_map({"gross": 7}, where="lane[1].scale.map").gross == 7


@pytest.mark.parametrize(
    ("spec", "content", "message"),
    [
        (
            "nope",
            None,
            "--modbus: 'nope' is neither a preset (hr-int32, ir-c500) nor a .toml map file",
        ),
        ("missing.toml", None, "--modbus: cannot read {path}: No such file or directory"),
        ("bad.toml", "gross = = 2\n", "--modbus: {path}: Invalid value (at line 1, column 9)"),
        ("wrong.toml", "gross = 2\nnet = 2\n", "{path}: two values share a register"),
    ],
)
def test_map_files_that_cannot_work(
    spec: str, content: str | None, message: str, tmp_path: Path
) -> None:
    path = tmp_path / spec if spec.endswith(".toml") else Path(spec)
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_register_map(str(path), where="--modbus")
    assert caught.value.message == message.format(path=path)
