"""The Modbus weight transmitter and relay/IO module, against pymodbus's own client.

The lane runs in a thread (lane_thread.py); the tests are the host: pymodbus's sync TCP and
serial clients over a real TCP port and a real pty, HTTP for the control interface.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from firmware_sim.errors import ConfigError
from firmware_sim.lane_config import (
    IO,
    TRANSMITTER,
    IoConfig,
    LaneConfig,
    TransmitterConfig,
    TruckPlan,
)
from firmware_sim.modbus_map import PRESETS, map_from_table
from firmware_sim.model import Deck, Truck
from firmware_sim.ports import PtyPort, TcpPort
from tests.firmware_sim.lane_thread import run_lane

TRUCK = Truck(plate="陕K12345", axles=6, tare_kg=15_000, load_kg=34_000)
STANDING = TruckPlan(truck=TRUCK, settled=True, stand_ms=3_600_000)

Client = ModbusTcpClient | ModbusSerialClient


def i32(high: int, low: int) -> int:
    value = (high << 16) | low
    return value - (1 << 32) if value >= 1 << 31 else value


def lane_config(preset: str, *, io: bool = False, speed: float = 1.0) -> LaneConfig:
    return LaneConfig(
        deck=Deck(noise_kg=0.0),
        speed=speed,
        transmitter=TransmitterConfig(regmap=PRESETS[preset]),
        io=IoConfig() if io else None,
        trucks=(STANDING,),
    )


@contextmanager
def client_for(port: PtyPort | TcpPort) -> Iterator[Client]:
    client: Client
    if isinstance(port, TcpPort):
        host, _, number = port.address.removeprefix("socket://").rpartition(":")
        client = ModbusTcpClient(host, port=int(number), timeout=2, retries=0)
    else:
        client = ModbusSerialClient(port.address, baudrate=115200, timeout=1, retries=0)
    with closing(client):
        assert client.connect()
        yield client


def make_port(kind: str, tmp_path: Path) -> PtyPort | TcpPort:
    return PtyPort(link=tmp_path / "modbus") if kind == "pty" else TcpPort(host="127.0.0.1", port=0)


def eventually(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["tcp", "pty"])
def test_hr_int32_registers_and_commands(kind: str, tmp_path: Path) -> None:
    port = make_port(kind, tmp_path)
    with run_lane(lane_config("hr-int32"), [(port, [TRANSMITTER])]), client_for(port) as client:
        regs = client.read_holding_registers(0, count=10, device_id=2).registers
        assert i32(regs[2], regs[3]) == 49_000  # gross
        assert i32(regs[4], regs[5]) == 49_000  # net (no tare)
        assert i32(regs[6], regs[7]) == 0  # tare
        assert regs[8] == 10  # division
        assert regs[1] & 0b1 == 0  # stable: motion bit clear
        assert regs[1] & 0b1000 == 0  # gross mode
        # outside the map, other function codes, other registers: exception 02
        for reply in (
            client.read_holding_registers(10, count=1, device_id=2),
            client.read_holding_registers(8, count=4, device_id=2),
            client.read_input_registers(0, count=2, device_id=2),
            client.read_coils(0, count=1, device_id=2),
            client.write_register(2, 5, device_id=2),
        ):
            assert reply.isError()
            assert reply.exception_code == 2
        bad = client.write_register(0, 9, device_id=2)
        assert bad.isError()
        assert bad.exception_code == 3  # illegal data value: no such command
        assert not client.write_register(0, 2, device_id=2).isError()  # tare
        regs = client.read_holding_registers(0, count=10, device_id=2).registers
        assert (i32(regs[4], regs[5]), i32(regs[6], regs[7])) == (0, 49_000)
        assert regs[1] & 0b1000  # net mode
        assert regs[1] & 0b10000 == 0  # gross is far from zero
        assert not client.write_register(0, 3, device_id=2).isError()  # clear tare
        regs = client.read_holding_registers(4, count=4, device_id=2).registers
        assert (i32(regs[0], regs[1]), i32(regs[2], regs[3])) == (49_000, 0)
        zero = client.write_register(0, 1, device_id=2)
        assert zero.isError()
        assert zero.exception_code == 4  # 49 t is far outside the zero-setting range


@pytest.mark.parametrize("kind", ["tcp", "pty"])
def test_ir_c500_registers_and_commands(kind: str, tmp_path: Path) -> None:
    port = make_port(kind, tmp_path)
    with run_lane(lane_config("ir-c500"), [(port, [TRANSMITTER])]), client_for(port) as client:
        regs = client.read_input_registers(0, count=10, device_id=2).registers
        assert [i32(regs[i], regs[i + 1]) for i in (0, 2, 4)] == [49_000, 49_000, 49_000]
        status = (regs[6] << 16) | regs[7]
        assert status & (1 << 3)  # gross mode
        assert not status & (1 << 2)  # no motion
        assert not status & (1 << 6)  # not at centre of zero
        assert (regs[8], regs[9]) == (0, 0)  # no error flags
        out = client.read_input_registers(10, count=1, device_id=2)
        assert out.isError()
        assert out.exception_code == 2
        hr = client.read_holding_registers(2, count=2, device_id=2)
        assert hr.isError()
        assert hr.exception_code == 2
        assert not client.write_register(0, 2, device_id=2).isError()  # FC06 tare
        regs = client.read_input_registers(0, count=8, device_id=2).registers
        assert [i32(regs[i], regs[i + 1]) for i in (0, 2, 4)] == [49_000, 0, 0]
        assert not ((regs[6] << 16) | regs[7]) & (1 << 3)  # net mode now


def test_shared_rs485_bus_and_io_module(tmp_path: Path) -> None:
    port = PtyPort(link=tmp_path / "bus")
    config = lane_config("hr-int32", io=True, speed=1.0)
    with run_lane(config, [(port, [IO, TRANSMITTER])]), client_for(port) as client:
        regs = client.read_holding_registers(2, count=2, device_id=2).registers
        assert i32(*regs) == 49_000
        inputs = client.read_discrete_inputs(0, count=8, device_id=1).bits[:5]
        # the standing truck is wholly on the deck: no beam broken, barrier down
        assert inputs == [False, False, False, False, False]
        assert not client.write_coils(1, [True, False, True], device_id=1).isError()
        assert client.read_coils(0, count=4, device_id=1).bits[:4] == [False, True, False, True]
        out = client.read_coils(16, count=1, device_id=1)
        assert out.isError()
        assert out.exception_code == 2
        regs_on_io = client.read_holding_registers(0, count=1, device_id=1)
        assert regs_on_io.isError()
        assert regs_on_io.exception_code == 2
        with pytest.raises(ModbusIOException):  # nobody on the bus answers unit 3
            client.read_coils(0, count=1, device_id=3)
        assert i32(*client.read_holding_registers(2, count=2, device_id=2).registers) == 49_000


def test_modbus_faults_from_the_control_interface() -> None:
    port = TcpPort(host="127.0.0.1", port=0)
    with run_lane(lane_config("hr-int32"), [(port, [TRANSMITTER])]) as (_, running):
        with client_for(port) as client:
            status, _ = running.call(
                "POST /faults",
                {"device": "transmitter", "kind": "exception", "code": 6, "count": 2},
            )
            assert status == 200
            codes = [client.read_holding_registers(2, count=2, device_id=2) for _ in range(3)]
            assert [r.exception_code if r.isError() else None for r in codes] == [6, 6, None]
            running.call("POST /faults", {"device": "transmitter", "kind": "timeout"})
            with pytest.raises(ModbusIOException):
                client.read_holding_registers(2, count=2, device_id=2)
            assert running.call("DELETE /faults")[0] == 200
            status, _ = running.call(
                "POST /faults", {"device": "transmitter", "kind": "step", "kg": -2000}
            )
            assert status == 200
            eventually(
                lambda: (
                    i32(*client.read_holding_registers(2, count=2, device_id=2).registers) == 47_000
                )
            )
            bad = running.call("POST /faults", {"device": "io", "kind": "timeout"})
            assert bad[0] == 409
            assert "no device" in bad[1]["error"]
        status, _ = running.call(
            "POST /faults", {"device": "transmitter", "kind": "disconnect", "duration_ms": 300}
        )
        assert status == 200
        time.sleep(0.1)
        probe = ModbusTcpClient("127.0.0.1", port=int(port.address.rsplit(":", 1)[1]), timeout=1)
        with closing(probe):
            assert not probe.connect(), "the cable is pulled: nobody listens"
        time.sleep(0.5)
        with client_for(port) as client:
            assert not client.read_holding_registers(2, count=2, device_id=2).isError()


def test_rtu_cable_pull_keeps_the_link_and_slow_io(tmp_path: Path) -> None:
    link = tmp_path / "bus"
    port = PtyPort(link=link)
    config = lane_config("hr-int32", io=True)
    with run_lane(config, [(port, [IO, TRANSMITTER])]) as (_, running):
        status, _ = running.call(
            "POST /faults", {"device": "io", "kind": "disconnect", "duration_ms": 300}
        )
        assert status == 200
        time.sleep(0.6)
        assert link.is_symlink()  # the same path works again after the cable is back
        with client_for(port) as client:
            assert i32(*client.read_holding_registers(2, count=2, device_id=2).registers) == 49_000
            running.call(
                "POST /faults",
                {"device": "io", "kind": "slow", "delay_ms": 400, "duration_ms": 60_000},
            )
            started = time.monotonic()
            assert not client.read_coils(0, count=1, device_id=1).isError()
            assert time.monotonic() - started >= 0.4
            started = time.monotonic()
            client.read_holding_registers(2, count=2, device_id=2)  # the transmitter is not slow
            assert time.monotonic() - started < 0.3
        state = running.call("GET /state")[1]
        assert state["faults"]["io"]["slow_ms"] == 400


def test_tcp_gateway_answers_0b_for_a_unit_it_does_not_have() -> None:
    port = TcpPort(host="127.0.0.1", port=0)
    with run_lane(lane_config("hr-int32"), [(port, [TRANSMITTER])]), client_for(port) as client:
        reply = client.read_holding_registers(2, count=2, device_id=9)
        assert reply.isError()
        assert reply.exception_code == 0x0B


def test_a_vendor_map_from_toml_float32_little_endian_input_registers() -> None:
    table = tomllib.loads(
        """
        name = "vendor-x"
        area = "input"
        gross = 100
        net = 102
        type = "float32"
        word_order = "little"
        status = 110
        status_bits = { motion = 3 }
        command = 200
        commands = { 7 = "tare" }
        """
    )
    regmap = map_from_table(table, where="vendor-x.toml")
    config = LaneConfig(
        deck=Deck(noise_kg=0.0), transmitter=TransmitterConfig(regmap=regmap), trucks=(STANDING,)
    )
    port = TcpPort(host="127.0.0.1", port=0)
    with run_lane(config, [(port, [TRANSMITTER])]), client_for(port) as client:
        regs = client.read_input_registers(100, count=4, device_id=2).registers
        low, high = regs[0], regs[1]  # little word order: low word first
        assert struct.unpack(">f", struct.pack(">HH", high, low))[0] == 49_000.0
        assert client.read_input_registers(0, count=2, device_id=2).exception_code == 2
        assert not client.write_register(200, 7, device_id=2).isError()  # tare
        regs = client.read_input_registers(102, count=2, device_id=2).registers
        assert struct.unpack(">f", struct.pack(">HH", regs[1], regs[0]))[0] == 0.0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "gross"),
        ({"gross": 2, "type": "int64"}, "vendor.toml.type"),
        ({"gross": 2, "colour": "red"}, "unknown key"),
        ({"gross": 2, "commands": {"1": "explode"}}, "commands"),
        ({"gross": -1}, "gross"),
        ({"gross": 2, "net": 3}, "overlap"),
    ],
)
def test_bad_vendor_maps_are_refused_naming_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        map_from_table(table, where="vendor.toml")


def test_a_bad_map_file_is_one_line_from_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "vendor.toml"
    bad.write_text('gross = 2\ntype = "int64"\n')
    coalgate = Path(sys.executable).parent / "coalgate"
    result = subprocess.run(
        [str(coalgate), "sim", "modbus", "--map", str(bad), "--tcp", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1
    assert "vendor.toml.type" in errors[0]
    assert "Traceback" not in result.stderr
