"""Shipped scenarios run in accelerated time and show their cheat where a host would see it."""

from __future__ import annotations

import statistics
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import serial
from pymodbus.client import ModbusTcpClient

from firmware_sim import scenario
from firmware_sim.lane import LaneSimulator
from firmware_sim.lane_config import IO, TRANSMITTER
from firmware_sim.ports import TcpPort
from tests.firmware_sim.lane_thread import run_lane, run_lane_simulator
from tests.firmware_sim.sim_thread import Running

SCENARIOS = Path(scenario.__file__).parent / "scenarios"


def states(running: Running, seconds: float) -> list[dict[str, Any]]:
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(running.call("GET /state")[1])
        time.sleep(0.02)
    return seen


def test_partly_on_deck_weighs_short_and_breaks_the_rear_beam() -> None:
    config = replace(scenario.load(SCENARIOS / "cheat-partly-on-deck.toml"), speed=40)
    port = TcpPort(host="127.0.0.1", port=0)
    with run_lane(config, [(port, [IO, TRANSMITTER])]) as (_, running):
        seen = states(running, 1.2)
    standing = [s for s in seen if s["trucks"] and s["now_ms"] > 20_000]
    assert standing
    last = standing[-1]
    assert last["beams"]["deck_rear"]
    assert not last["beams"]["deck_front"]
    assert 30_000 < last["transmitter"]["gross_kg"] < 45_000  # the rear axle is off the deck


def test_remote_control_jump_shows_on_the_transmitter() -> None:
    config = replace(scenario.load(SCENARIOS / "cheat-remote-control.toml"), speed=40)
    port = TcpPort(host="127.0.0.1", port=0)
    with run_lane(config, [(port, [IO, TRANSMITTER])]) as (_, running):
        seen = states(running, 1.4)
    stable = [
        (s["now_ms"], s["transmitter"]["gross_kg"]) for s in seen if s["transmitter"]["stable"]
    ]
    before = [kg for t, kg in stable if 25_000 < t < 39_000]
    after = [kg for t, kg in stable if t > 44_000]
    assert before
    assert after
    # A stable indicator still shows load-cell noise within one division (10 kg here).
    assert all(abs(kg - 49_000) <= 10 for kg in before), before
    assert all(abs(kg - 47_000) <= 10 for kg in after), after
    assert statistics.mode(before) - statistics.mode(after) == 2_000


@pytest.mark.parametrize(
    ("name", "both_leave"), [("cheat-tailgating", True), ("cheat-two-trucks", False)]
)
def test_one_raise_lets_one_truck_through_unless_it_is_tailgated(
    name: str, both_leave: bool
) -> None:
    config = replace(scenario.load(SCENARIOS / f"{name}.toml"), speed=20)
    port = TcpPort(host="127.0.0.1", port=0)
    with run_lane(config, [(port, [IO, TRANSMITTER])]) as (_, running):
        host, _, number = port.address.removeprefix("socket://").rpartition(":")
        with closing(ModbusTcpClient(host, port=int(number), timeout=2)) as client:
            assert client.connect()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                state = running.call("GET /state")[1]
                first = config.trucks[0]
                if state["now_ms"] > first.arrive_ms + 15_000 + first.stand_ms:
                    break
                time.sleep(0.05)
            assert len(state["waiting_to_leave"]) == 2
            client.write_coil(0, True, device_id=1)
            time.sleep(0.1)
            client.write_coil(0, False, device_id=1)
            time.sleep(0.8)
            state = running.call("GET /state")[1]
    leaving = [t["leaving"] for t in state["trucks"]]
    assert leaving == ([True, True] if both_leave else [True, False])


def test_a_lane_with_a_serial_indicator_weighs_the_lane_trucks() -> None:
    config = scenario.parse(
        """
[lane]
noise_kg = 0.0
[indicator]
protocol = "mt-sics"
[transmitter]
[[truck]]
plate = "陕K12345"
axles = 6
tare_kg = 15000
load_kg = 34000
settled = true
stand_s = 600
""",
        path="indicator.toml",
    )
    bus = TcpPort(host="127.0.0.1", port=0)
    scale = TcpPort(host="127.0.0.1", port=0)
    lane = LaneSimulator(config=config, lines=[(bus, [TRANSMITTER])], indicator_port=scale)
    with run_lane_simulator(lane) as running:
        line = serial.serial_for_url(scale.address, timeout=2)
        with closing(line):
            line.write(b"SI\r\n")
            assert line.readline() == b"S S      49000 kg\r\n"
            status, _ = running.call(
                "POST /faults", {"device": "indicator", "kind": "step", "kg": -2000}
            )
            assert status == 200
            time.sleep(1.2)
            line.write(b"SI\r\n")
            assert line.readline().endswith(b"47000 kg\r\n")
            status, body = running.call("POST /faults", {"device": "indicator", "kind": "melt"})
            assert status == 400
            assert "indicator faults are" in body["error"]
        state = running.call("GET /state")[1]
        assert state["transmitter"]["gross_kg"] == 47_000  # one scene feeds both
        assert state["indicator"]["protocol"] == "mt-sics"
