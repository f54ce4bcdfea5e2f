"""The gate's physical side through the IO module: beams follow trucks, the barrier holds them.

The host is pymodbus's sync client on Modbus TCP: it pulses the barrier coil and polls the
discrete inputs, as the edge does.
"""

from __future__ import annotations

import time
from contextlib import closing

import pytest
from pymodbus.client import ModbusTcpClient

from firmware_sim.errors import ConfigError
from firmware_sim.io_module import (
    Barrier,
    Beams,
    IoMap,
    IoState,
    break_through,
    inputs,
    io_map_from_text,
    write_coils,
)
from firmware_sim.io_module import tick as io_tick
from firmware_sim.lane_config import IO, IoConfig, LaneConfig, TruckPlan
from firmware_sim.model import Deck, Truck, TruckKind
from firmware_sim.ports import TcpPort
from tests.firmware_sim.lane_thread import run_lane

SPEED = 8.0
RIGID = Truck(plate="陕K12345", axles=2, kind=TruckKind.RIGID, tare_kg=6000, load_kg=8000)
NO_BEAMS = Beams(entry=False, deck_rear=False, deck_front=False, exit=False)

ENTRY, FRONT, REAR, EXIT, UP = 0, 1, 2, 3, 4


def poll_inputs(client: ModbusTcpClient, seconds: float) -> list[list[bool]]:
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(client.read_discrete_inputs(0, count=8, device_id=1).bits[:5])
        time.sleep(0.01)
    return seen


def client_for(port: TcpPort) -> ModbusTcpClient:
    host, _, number = port.address.removeprefix("socket://").rpartition(":")
    client = ModbusTcpClient(host, port=int(number), timeout=2, retries=0)
    assert client.connect()
    return client


def test_barrier_pulse_raises_and_falls_behind_the_truck() -> None:
    io_map = IoMap()
    state = IoState(barrier=Barrier(travel_ms=1000))
    state = write_coils(io_map, state, 0, [True], 0)
    state = write_coils(io_map, state, 0, [False], 100)  # too short for the controller
    assert state.barrier.target == 0.0
    state = write_coils(io_map, state, 0, [True], 1000)
    state = write_coils(io_map, state, 0, [False], 1500)  # a 500 ms pulse
    assert not inputs(io_map, state, NO_BEAMS, 2000)[UP]  # still rising
    assert inputs(io_map, state, NO_BEAMS, 2500)[UP]
    state = io_tick(state, NO_BEAMS, 3000)
    state = io_tick(state, Beams(entry=False, deck_rear=False, deck_front=False, exit=True), 4000)
    assert state.barrier.is_up(4000)
    state = io_tick(state, NO_BEAMS, 5000)  # the truck has cleared the exit beam
    assert not state.barrier.is_up(5001)  # falling from now on
    assert state.barrier.position(6000) == 0.0
    broken = break_through(state)
    assert broken.barrier.move(1.0, 7000).position(9000) == 0.0  # a broken arm never rises


def test_beams_follow_a_truck_that_waits_for_the_barrier() -> None:
    port = TcpPort(host="127.0.0.1", port=0)
    plan = TruckPlan(truck=RIGID, speed_mps=3.0, stand_ms=1000)
    config = LaneConfig(
        deck=Deck(noise_kg=0.0),
        speed=SPEED,
        io=IoConfig(barrier=Barrier(travel_ms=1500)),
        trucks=(plan,),
    )
    with run_lane(config, [(port, [IO])]) as (_, running), closing(client_for(port)) as client:
        driving_on = poll_inputs(client, 1.2)
        assert any(s[ENTRY] for s in driving_on)
        assert any(s[REAR] for s in driving_on)  # the body crossed the deck's entry edge
        assert driving_on[-1] == [False, False, False, False, False]  # wholly on the deck
        waiting = poll_inputs(client, 0.6)  # well past its stand time: the barrier is down
        assert not any(s[EXIT] or s[UP] for s in waiting)
        assert running.call("GET /state")[1]["waiting_to_leave"] == ["陕K12345"]
        client.write_coil(0, True, device_id=1)
        time.sleep(0.1)
        client.write_coil(0, False, device_id=1)
        leaving = poll_inputs(client, 1.5)
        up_at = next(i for i, s in enumerate(leaving) if s[UP])
        exit_at = next(i for i, s in enumerate(leaving) if s[EXIT])
        assert up_at < exit_at, "the truck left only once the barrier was up"
        assert any(s[FRONT] for s in leaving)
        assert not leaving[-1][UP], "the barrier fell behind the truck"
        assert not leaving[-1][EXIT]
        assert not running.call("GET /state")[1]["io"]["barrier"]["broken"]


def test_a_forced_barrier_shows_on_the_exit_beam() -> None:
    port = TcpPort(host="127.0.0.1", port=0)
    plan = TruckPlan(truck=RIGID, speed_mps=3.0, stand_ms=500, force_barrier=True)
    config = LaneConfig(deck=Deck(noise_kg=0.0), speed=SPEED, io=IoConfig(), trucks=(plan,))
    with run_lane(config, [(port, [IO])]) as (_, running), closing(client_for(port)) as client:
        seen = poll_inputs(client, 2.5)
        through = [s for s in seen if s[EXIT]]
        assert through, "the truck passed the exit beam"
        assert not any(s[UP] for s in seen), "the limit switch never confirmed a raise"
        assert running.call("GET /state")[1]["io"]["barrier"]["broken"]


def test_a_stuck_relay_ignores_writes_and_reads_back_as_it_is() -> None:
    port = TcpPort(host="127.0.0.1", port=0)
    config = LaneConfig(deck=Deck(noise_kg=0.0), speed=SPEED, io=IoConfig())
    with run_lane(config, [(port, [IO])]) as (_, running), closing(client_for(port)) as client:
        assert not client.write_coil(2, True, device_id=1).isError()  # green on
        status, _ = running.call(
            "POST /faults", {"device": "io", "kind": "relay-stuck", "channel": 2}
        )
        assert status == 200
        assert not client.write_coil(2, False, device_id=1).isError()  # the write is answered…
        assert not client.write_coil(1, True, device_id=1).isError()
        assert client.read_coils(0, count=4, device_id=1).bits[:4] == [False, True, True, False]
        assert running.call("GET /state")[1]["io"]["coils"][:4] == [False, True, True, False]
        status, body = running.call(
            "POST /faults", {"device": "io", "kind": "relay-stuck", "channel": 16}
        )
        assert status == 400, body
        running.call("DELETE /faults")
        assert not client.write_coil(2, False, device_id=1).isError()  # … and obeyed again
        assert client.read_coils(0, count=4, device_id=1).bits[:4] == [False, True, False, False]


def test_io_map_from_text_moves_only_the_named_signals() -> None:
    io_map = io_map_from_text("exit=5, barrier_up=6")
    assert (io_map.exit, io_map.barrier_up, io_map.entry, io_map.barrier) == (5, 6, 0, 0)
    assert io_map_from_text("") == IoMap()


@pytest.mark.parametrize(
    ("text", "message"),
    [("door=3", "signal=channel"), ("exit", "signal=channel"), ("exit=-1", "signal=channel"),
     ("exit=0", "distinct"), ("exit=99", "distinct")],
)  # fmt: skip
def test_bad_io_maps_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        io_map_from_text(text)
