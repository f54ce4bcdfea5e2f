"""Helpers: run a simulated lane (and its control server) in a thread of its own.

The tests talk to it with blocking clients (pymodbus's sync clients, urllib) from the main
thread; every helper stops and joins what it started.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from firmware_sim.control import ControlServer
from firmware_sim.lane import LaneSimulator
from firmware_sim.lane_config import LaneConfig
from firmware_sim.lane_control import LaneController
from firmware_sim.ports import PtyPort, TcpPort
from tests.firmware_sim.sim_thread import Running, serve_in_thread


@contextmanager
def run_lane(
    config: LaneConfig,
    lines: Sequence[tuple[PtyPort | TcpPort, Sequence[str]]] = (),
    *,
    baud: int = 115200,
) -> Iterator[tuple[LaneSimulator, Running]]:
    """Serve a lane from a background thread for the duration of the block."""
    lane = LaneSimulator(config=config, lines=lines, baud=baud)
    with run_lane_simulator(lane) as running:
        yield lane, running


@contextmanager
def run_lane_simulator(lane: LaneSimulator) -> Iterator[Running]:
    """Serve an already built lane from a background thread for the duration of the block."""
    server = ControlServer(controller=LaneController(lane), host="127.0.0.1", port=0)
    with serve_in_thread(lane.run, lane.ready, server, name="lane") as control:
        address = lane.lines[0].port.address if lane.lines else ""
        yield Running(simulator=None, address=address, control=control)
