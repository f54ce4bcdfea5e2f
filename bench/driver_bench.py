"""Scale driver figures: frame-to-reading latency on a pty, and CPU per 1,000 readings.

    python bench/driver_bench.py [--readings 300] [--rate 10] [--modbus-url tcp|rtu]

- **Latency** (serial): the bench writes Toledo continuous frames, each with its own weight,
  to a pty's master; ``SerialScaleDriver`` reads the slave. Latency is from the moment the
  frame's last byte has been written (``os.write`` returned) to the moment the reading comes
  off the driver's event queue; p50 and p99 over ``--readings`` frames at ``--rate`` Hz.
- **CPU per 1,000 readings**: the driver runs alone in a child process (the bench's writer and
  the simulator are other processes), which measures its own CPU (user + system, every
  thread: ``time.process_time``) from its first reading to its last. Serial streaming at
  ``--rate`` Hz, and Modbus polling at ``--rate`` Hz against ``coalgate sim modbus`` (Modbus
  TCP, or RTU on a pty with ``--modbus-url rtu``). Both clocks are the system-wide monotonic
  clock, so times taken in two processes compare.

Frames are built with ``tests/edge/builders.py`` (written from PROTOCOLS.md, not the
simulator's encoder). Figures are printed for people to read; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.edge.builders when run as a script

from edge.modbus.line import ModbusLine  # noqa: E402 - after the path is set
from edge.modbus.regmap import PRESETS  # noqa: E402
from edge.scale.events import ScaleReading  # noqa: E402
from edge.scale.modbus_driver import ModbusScaleDriver  # noqa: E402
from edge.scale.readings import ScaleProtocol  # noqa: E402
from edge.scale.serial_driver import SerialScaleDriver  # noqa: E402
from tests.edge.builders import ToledoFields, toledo  # noqa: E402

WAIT_S = 30.0
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


# --- the driver's side (a child process) ----------------------------------------------------


async def _collect(driver: SerialScaleDriver | ModbusScaleDriver, count: int) -> dict[str, Any]:
    """Readings off the queue: print ``ready`` at the first, then time ``count`` more."""
    received: dict[int, float] = {}
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(driver.run(), name="driver under bench")
        async with asyncio.timeout(WAIT_S):
            while not isinstance(await driver.events.get(), ScaleReading):
                pass
        print("ready", flush=True)
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        async with asyncio.timeout(WAIT_S + count):
            while len(received) < count:
                event = await driver.events.get()
                if isinstance(event, ScaleReading) and event.weight.kg:
                    received.setdefault(event.weight.kg, time.perf_counter())
        cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
        runner.cancel()
    return {"received": received, "cpu_s": cpu_s, "wall_s": wall_s, "readings": count}


async def _child_serial(url: str, count: int) -> dict[str, Any]:
    driver = SerialScaleDriver(protocol=ScaleProtocol.TOLEDO, url=url, division_kg=10)
    return await _collect(driver, count)


async def _child_modbus(url: str, count: int, rate: float) -> dict[str, Any]:
    async with ModbusLine(url=url, timeout_s=0.5) as line:
        driver = ModbusScaleDriver(
            line=line, regmap=PRESETS["hr-int32"], division_kg=10, poll_interval_s=1 / rate
        )
        # every poll reads the same truck: count readings, not distinct weights
        return await _collect_polls(driver, count)


async def _collect_polls(driver: ModbusScaleDriver, count: int) -> dict[str, Any]:
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(driver.run(), name="driver under bench")
        async with asyncio.timeout(WAIT_S):
            while not isinstance(await driver.events.get(), ScaleReading):
                pass
        print("ready", flush=True)
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        readings = 0
        async with asyncio.timeout(WAIT_S + count):
            while readings < count:
                if isinstance(await driver.events.get(), ScaleReading):
                    readings += 1
        cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
        runner.cancel()
    return {"received": {}, "cpu_s": cpu_s, "wall_s": wall_s, "readings": readings,
            "errors": dict(driver.error_counts)}  # fmt: skip


def child(args: argparse.Namespace) -> None:
    if args.child == "serial":
        result = asyncio.run(_child_serial(args.url, args.readings))
    else:
        result = asyncio.run(_child_modbus(args.url, args.readings, args.rate))
    print(json.dumps(result), flush=True)


# --- the bench's side -----------------------------------------------------------------------


def _spawn_child(kind: str, url: str, readings: int, rate: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", kind, "--url", url, "--readings", str(readings),
         "--rate", str(rate)],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )  # fmt: skip


def _wait_line(process: subprocess.Popen[str], wait_s: float) -> str | None:
    """The child's next stdout line within ``wait_s``, or None."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=wait_s):
            return None
    return process.stdout.readline()


def _result(process: subprocess.Popen[str]) -> dict[str, Any]:
    line = _wait_line(process, WAIT_S)
    process.wait(timeout=WAIT_S)
    if not line:
        raise SystemExit("the driver process gave no result")
    result: dict[str, Any] = json.loads(line)
    return result


def bench_serial(readings: int, rate: float) -> tuple[list[float], dict[str, Any]]:
    """Latencies (s) of ``readings`` frames at ``rate`` Hz, and the child's figures."""
    master, slave = os.openpty()
    tty.setraw(slave)
    process = _spawn_child("serial", os.ttyname(slave), readings, rate)
    try:
        warm = toledo(ToledoFields(weight=0))
        deadline = time.monotonic() + WAIT_S
        while True:  # frames of 0 kg until the driver has read one
            os.write(master, warm)
            line = _wait_line(process, 0.1)
            if line and line.startswith("ready"):
                break
            if time.monotonic() > deadline:
                raise SystemExit("the serial driver read no frame")
        written: dict[int, float] = {}
        period = 1 / rate
        start = time.perf_counter()
        for i in range(readings):
            kg = 10 * (i + 1)
            frame = toledo(ToledoFields(weight=kg))
            time.sleep(max(0.0, start + i * period - time.perf_counter()))
            os.write(master, frame)
            written[kg] = time.perf_counter()
        result = _result(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        os.close(master)
        os.close(slave)
    latencies = [at - written[int(kg)] for kg, at in result["received"].items()]
    return latencies, result


def bench_modbus(readings: int, rate: float, transport: str) -> dict[str, Any]:
    """The child's figures polling ``coalgate sim modbus`` at ``rate`` Hz."""
    with tempfile.TemporaryDirectory() as directory:
        link = Path(directory) / "modbus"
        where = ["--pty", "--link", str(link)] if transport == "rtu" else ["--tcp", "127.0.0.1:0"]
        simulator = subprocess.Popen(
            [sys.executable, "-m", "coalgate", "sim", "modbus", *where, "--baud", "115200",
             "--control", "127.0.0.1:0", "--noise", "0",
             "--truck", "plate=陕K12345,axles=6,tare=15000,load=34000,settled=yes"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=ENV,
        )  # fmt: skip
        process = None
        try:
            ready = _wait_line(simulator, WAIT_S)
            if not ready or not ready.startswith("ready"):
                raise SystemExit(f"coalgate sim modbus did not start: {ready!r}")
            fields = dict(part.split("=", 1) for part in ready.split() if "=" in part)
            if transport == "rtu":
                url = f"rtu://{link}?baud=115200"
            else:
                url = "tcp://127.0.0.1:" + fields["port"].rsplit(":", 1)[1]
            process = _spawn_child("modbus", url, readings, rate)
            line = _wait_line(process, WAIT_S)
            if not line or not line.startswith("ready"):
                raise SystemExit("the Modbus driver read nothing")
            return _result(process)
        finally:
            for running in (process, simulator):
                if running is None:
                    continue
                if running.poll() is None:
                    running.terminate()
                    running.wait(timeout=10)
                if running.stdout is not None:
                    running.stdout.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--readings", type=int, default=300, help="readings per figure")
    parser.add_argument("--rate", type=float, default=10.0, help="frames / polls per second")
    parser.add_argument("--modbus-url", choices=["tcp", "rtu"], default="tcp")
    parser.add_argument("--child", choices=["serial", "modbus"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    latencies, serial = bench_serial(args.readings, args.rate)
    modbus = bench_modbus(args.readings, args.rate, args.modbus_url)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{args.readings} readings per figure at {args.rate:g} Hz")
    ms = [latency * 1000 for latency in latencies]
    print(f"serial latency, last byte on the pty to reading (ms): p50 {percentile(ms, 0.5):.2f}"
          f"  p99 {percentile(ms, 0.99):.2f}  max {max(ms):.2f}  mean {statistics.fmean(ms):.2f}"
          f"  ({len(ms)} of {args.readings} frames)")  # fmt: skip
    for name, figures in (
        ("serial streaming (toledo)", serial),
        (f"modbus polling ({args.modbus_url}, hr-int32)", modbus),
    ):
        per_thousand = figures["cpu_s"] / figures["readings"] * 1000
        share = figures["cpu_s"] / figures["wall_s"] * 100
        print(f"CPU per 1,000 readings, {name}: {per_thousand:.3f} s"
              f"  ({share:.1f} % of one core over {figures['wall_s']:.1f} s)")  # fmt: skip
    if modbus.get("errors"):
        print(f"modbus errors while polling: {modbus['errors']}")


if __name__ == "__main__":
    main()
