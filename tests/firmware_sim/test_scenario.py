"""Scenario files: the shipped ones load, bad ones are one line naming file, field and line;
register maps are exactly the presets of PROTOCOLS.md §4; the commands refuse bad options."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_sim import scenario
from firmware_sim.display import Reading
from firmware_sim.lane_config import Device
from firmware_sim.modbus_map import (
    PRESETS,
    Area,
    Command,
    ValueType,
    WordOrder,
    encode_value,
    image,
)
from firmware_sim.scenario import ScenarioError

SHIPPED = sorted((Path(scenario.__file__).parent / "scenarios").glob("*.toml"))


def test_presets_are_exactly_protocols_md() -> None:
    hr = PRESETS["hr-int32"]
    assert (hr.area, hr.command, hr.status, hr.gross, hr.net, hr.tare) == (
        Area.HOLDING, 0, 1, 2, 4, 6,
    )  # fmt: skip
    assert (hr.division, hr.calibration) == (8, 9)
    assert hr.status_bits == {"motion": 0, "overload": 1, "underload": 2, "net": 3, "zero": 4}
    assert hr.commands == {1: Command.ZERO, 2: Command.TARE, 3: Command.CLEAR_TARE}
    assert sorted(hr.read_addresses()) == list(range(1, 10))
    ir = PRESETS["ir-c500"]
    assert (ir.area, ir.gross, ir.net, ir.displayed, ir.status, ir.errors) == (
        Area.INPUT, 0, 2, 4, 6, 8,
    )  # fmt: skip
    assert ir.status_words == 2
    assert ir.status_bits == {"underload": 0, "overload": 1, "motion": 2, "gross": 3, "zero": 6}
    assert ir.commands == {1: Command.ZERO, 2: Command.TARE}
    assert sorted(ir.read_addresses()) == list(range(10))


def test_values_encode_in_every_type_and_word_order() -> None:
    assert encode_value(-2, ValueType.INT32, WordOrder.BIG) == [0xFFFF, 0xFFFE]
    assert encode_value(70_000, ValueType.UINT32, WordOrder.LITTLE) == [70_000 & 0xFFFF, 1]
    assert encode_value(-5, ValueType.UINT32, WordOrder.BIG) == [0, 0]  # saturates, no wrap
    assert encode_value(40_000, ValueType.INT16, WordOrder.BIG) == [0x7FFF]
    high, low = encode_value(49_000.0, ValueType.FLOAT32, WordOrder.BIG)
    assert struct.unpack(">f", struct.pack(">HH", high, low))[0] == 49_000.0
    shown = Reading(gross_kg=20, tare_kg=0, stable=False)
    regs = image(PRESETS["hr-int32"], shown, division_kg=10, calibration_count=7)
    assert regs[1] == 0b1  # motion; 20 kg is not within a quarter division of zero
    assert regs[9] == 7
    shown = Reading(gross_kg=0, tare_kg=0)
    regs = image(PRESETS["ir-c500"], shown, division_kg=10, calibration_count=0)
    assert (regs[6], regs[7]) == (0, (1 << 3) | (1 << 6))  # gross mode, centre of zero


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_load(path: Path) -> None:
    config = scenario.load(path)
    assert config.trucks
    assert config.transmitter is not None or config.camera is not None


def test_shipped_scenarios_cover_every_cheat_and_fault() -> None:
    configs = [scenario.load(p) for p in SHIPPED]
    trucks = [t for c in configs for t in c.trucks]
    assert any(t.partly_on_deck for t in trucks)
    assert any(t.tailgate for t in trucks)
    assert any(t.force_barrier for t in trucks)
    assert any(t.exit_plate for t in trucks)
    assert any(len(c.trucks) > 1 and not any(t.tailgate for t in c.trucks) for c in configs)
    kinds = {(f.device, f.kind) for c in configs for f in c.faults}
    assert {
        (Device.TRANSMITTER, "step"),
        (Device.TRANSMITTER, "exception"),
        (Device.TRANSMITTER, "timeout"),
        (Device.TRANSMITTER, "disconnect"),
        (Device.CAMERA, "down"),
    } <= kinds


BAD = [
    ("[lane\n", "day.toml: not valid TOML: ", "(line 1)"),
    ("[lane]\nspeed = 'fast'\n", "day.toml: lane.speed: must be a number", "(line 2)"),
    ("[lane]\nspeed = 0\n", "day.toml: lane.speed: must be 0.01-1000", "(line 2)"),
    ("[lanes]\n", "day.toml: lanes: unknown table", "(line 1)"),
    ("[transmitter]\npreset = 'hr-float'\n", "transmitter.preset: unknown preset", "(line 2)"),
    ("[io]\nbarrier = 'swing'\n", "day.toml: io.barrier: must be 'pulse' or 'level'", "(line 2)"),
    ("[camera]\nurl = 'ftp://x'\n", "camera.url: must be an http", "(line 2)"),
    (
        "[[truck]]\nplate='A'\naxles=2\nkind='rigid'\ntare_kg=5\n\n[[truck]]\nplate='B'\n"
        "axles='two'\ntare_kg=5\n",
        "day.toml: truck[2].axles: must be an integer",
        "(line 9)",
    ),
    ("[[truck]]\nplate='A'\ntare_kg=5\n", "day.toml: truck[1].axles: missing", "(line 1)"),
    ("[[truck]]\nplate='A'\naxles=2\ntare_kg=5\ncolour='red'\n", "truck[1].colour", "(line 5)"),
    (
        "[[truck]]\nplate='A'\naxles=7\ntare_kg=5\n",
        "truck[1]: no axle layout for combination with 7 axles",
        "(line 1)",
    ),
    (
        "[[fault]]\nat_s=1\ndevice='camera'\nkind='down'\n",
        "fault[1].device: the lane has no [camera] table",
        "(line 3)",
    ),
    ("[transmitter]\n[[fault]]\ndevice='transmitter'\nkind='melt'\n", "fault[1].kind", "(line 4)"),
    (
        "[transmitter]\n[[fault]]\ndevice='transmitter'\nkind='disconnect'\n",
        "fault[1].duration_s: a disconnect needs a duration",
        "(line 2)",
    ),
]


@pytest.mark.parametrize(("text", "start", "end"), BAD)
def test_bad_scenarios_name_file_field_and_line(text: str, start: str, end: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario.parse(text, path="day.toml")
    message = caught.value.message
    assert start in message
    assert message.endswith(end), message
    assert "\n" not in message


def sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coalgate", "sim", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_commands_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "day.toml"
    bad.write_text("[lane]\nspeed = 'fast'\n", encoding="utf-8")
    cases = [
        (["lane", "--scenario", str(bad)], f"{bad}: lane.speed: must be a number (line 2)"),
        (["modbus", "--preset", "hr-float", "--pty"], "Invalid value for '--preset'"),
        (["io", "--tcp", "nowhere"], "expected HOST:PORT"),
        (["camera", "--url", "ftp://x/camera"], "must be an http:// or https:// URL"),
    ]
    for args, message in cases:
        result = sim(*args)
        assert result.returncode in (1, 2), result
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert len(lines) == 1, lines
        assert message in lines[0]
