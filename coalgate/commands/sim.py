"""``coalgate sim``: simulated indicators, Modbus devices, cameras and lanes, for testers.

Every failure a user can cause (a bad option, a port in use, a link in a missing directory)
is one line on stderr, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import sys
import tomllib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import click

from firmware_sim import capture as capture_mod
from firmware_sim import scenario as scenario_mod
from firmware_sim.camera import CameraConfig
from firmware_sim.control import Controller, ControlServer
from firmware_sim.display import Display, Unit
from firmware_sim.errors import ConfigError, SimError
from firmware_sim.indicator import IndicatorConfig, IndicatorState, Protocol
from firmware_sim.io_module import Barrier, BarrierMode, io_map_from_text
from firmware_sim.lane import LaneSimulator
from firmware_sim.lane_config import (
    IO,
    TRANSMITTER,
    CameraSetup,
    IoConfig,
    LaneConfig,
    TransmitterConfig,
    TruckPlan,
)
from firmware_sim.lane_control import LaneController
from firmware_sim.modbus_map import PRESETS, RegisterMap, map_from_table
from firmware_sim.model import Deck, Scene, Truck, TruckKind
from firmware_sim.ports import PtyPort, TcpPort, check_link, parse_host_port
from firmware_sim.protocols.xk3190 import DigitOrder
from firmware_sim.simulator import IndicatorSimulator

_TRUCK_KEYS = {"plate", "axles", "kind", "tare", "load", "at", "settled"}


class _OptionError(click.ClickException):
    """A bad option, shown as one line; exit status 2 like click's usage errors."""

    exit_code = 2


class _OneLine(click.Command):
    """Usage errors become one ``Error: …`` line (exit status 2) instead of a usage dump."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _OptionError(exc.format_message()) from exc


def _fail(exc: BaseException) -> NoReturn:
    """One line for an expected failure, found even inside an exception group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, SimError):
        raise click.ClickException(exc.message) from exc
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        raise click.ClickException(f"{exc.strerror or exc}{where}") from exc
    raise exc


def _run(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run until the work ends or SIGINT/SIGTERM arrives, then clean up and return."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with asyncio.TaskGroup() as tasks:
                work = tasks.create_task(make(), name="work")
                stopper = tasks.create_task(stop.wait(), name="stop")
                await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
                work.cancel()
                stopper.cancel()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    try:
        asyncio.run(main())
    except (SimError, OSError, BaseExceptionGroup) as exc:
        _fail(exc)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _ready(**fields: object) -> None:
    """The one line a tester (or a test) reads to learn where things are."""
    text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    click.echo(f"ready {text}")
    sys.stdout.flush()


def parse_truck(spec: str) -> tuple[Truck, int, bool]:
    """``plate=陕K12345,axles=6,tare=15000,load=34000[,kind=rigid][,at=5][,settled=yes]``.

    Returns the truck, when it arrives (ms after start) and whether it is already standing.
    """
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _TRUCK_KEYS:
            raise ConfigError(
                f"bad --truck part {part!r}: use key=value, keys {', '.join(sorted(_TRUCK_KEYS))}",
                option="truck",
            )
        fields[key] = value.strip()
    missing = {"plate", "axles", "tare"} - set(fields)
    if missing:
        raise ConfigError(f"--truck needs {', '.join(sorted(missing))}", option="truck")
    try:
        truck = Truck(
            plate=fields["plate"],
            axles=int(fields["axles"]),
            kind=TruckKind(fields.get("kind", "combination")),
            tare_kg=int(fields["tare"]),
            load_kg=int(fields.get("load", "0")),
        )
        at_ms = round(float(fields.get("at", "0")) * 1000)
    except (ValueError, OverflowError) as exc:  # int("x"), float("nan"), float("inf")
        raise ConfigError(f"bad --truck {spec!r}: {exc}", option="truck") from exc
    settled = fields.get("settled", "no").lower() in {"1", "yes", "true"}
    return truck, at_ms, settled


def _port(pty: bool, link: str | None, tcp: str | None) -> PtyPort | TcpPort:
    if pty == (tcp is not None):
        raise ConfigError("give exactly one of --pty or --tcp HOST:PORT")
    if tcp is not None:
        if link is not None:
            raise ConfigError("--link only goes with --pty")
        host, port = parse_host_port(tcp)
        return TcpPort(host=host, port=port)
    if link is not None:
        check_link(Path(link))
    return PtyPort(link=None if link is None else Path(link))


_port_options = [
    click.option("--pty", is_flag=True, help="Serve on a new pseudo-terminal."),
    click.option("--link", metavar="PATH", help="Stable symlink to the pty (survives restarts)."),
    click.option(
        "--tcp", metavar="HOST:PORT", help="Serve on TCP (socket://HOST:PORT); port 0 = any."
    ),
]


def _with_port_options(func: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_port_options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def sim() -> None:
    """Simulated field devices for hardware testers (see docs/hardware-testing.md)."""


@sim.command(cls=_OneLine)
@click.option(
    "--protocol",
    required=True,
    type=click.Choice([p.value for p in Protocol]),
    help="Serial format to speak.",
)
@_with_port_options
@click.option("--baud", default=9600, show_default=True, help="Line speed the output is paced at.")
@click.option(
    "--rate", default=10.0, show_default=True, help="Continuous frames (and SIR lines) per second."
)
@click.option("--unit", type=click.Choice([u.value for u in Unit]), default="kg", show_default=True)
@click.option("--decimals", default=0, show_default=True, help="Decimal places shown.")
@click.option("--division", default=10, show_default=True, help="Division e in kg.")
@click.option("--capacity", default=60_000, show_default=True, help="Max in kg.")
@click.option(
    "--noise", default=2.0, show_default=True, help="Load-cell noise, standard deviation in kg."
)
@click.option("--drift", default=0.0, show_default=True, help="Zero drift in kg per hour.")
@click.option(
    "--seed", default=0, show_default=True, help="Seed of the noise (same seed, same weights)."
)
@click.option("--serial-number", default="SIM0000001", show_default=True)
@click.option("--cal-count", default=0, show_default=True, help="Calibration counter at start.")
@click.option(
    "--cal-command",
    default="M27",
    show_default=True,
    help="MT-SICS command that reports the calibration counter.",
)
@click.option(
    "--cal-line-every",
    default=0,
    show_default=True,
    help="Continuous formats: a 'CAL <n>' line every N frames (0 = never).",
)
@click.option("--short-frames", is_flag=True, help="Toledo: 12-byte frames without tare.")
@click.option(
    "--eq-order",
    type=click.Choice([d.value for d in DigitOrder]),
    default="reversed",
    show_default=True,
    help="'=' format digit order.",
)
@click.option(
    "--stable-timeout",
    default=3000,
    show_default=True,
    help="MT-SICS S/Z/T wait this many ms for stability, then answer I.",
)
@click.option(
    "--truck",
    "trucks",
    multiple=True,
    metavar="SPEC",
    help="plate=…,axles=N,tare=KG[,load=KG][,kind=rigid|combination][,at=SECONDS][,settled=yes]",
)
@click.option(
    "--control",
    default="127.0.0.1:8750",
    show_default=True,
    metavar="HOST:PORT",
    help="Control interface (HTTP); port 0 = any.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log to stderr.")
def indicator(
    protocol: str,
    pty: bool,
    link: str | None,
    tcp: str | None,
    baud: int,
    rate: float,
    unit: str,
    decimals: int,
    division: int,
    capacity: int,
    noise: float,
    drift: float,
    seed: int,
    serial_number: str,
    cal_count: int,
    cal_command: str,
    cal_line_every: int,
    short_frames: bool,
    eq_order: str,
    stable_timeout: int,
    trucks: tuple[str, ...],
    control: str,
    verbose: bool,
) -> None:
    """Run a scale indicator on a pty or TCP port until Ctrl-C."""
    _setup_logging(verbose)
    try:
        if baud <= 0:
            raise ConfigError("--baud must be > 0", option="baud")
        port = _port(pty, link, tcp)
        control_host, control_port = parse_host_port(control)
        deck = Deck(
            capacity_kg=capacity, division_kg=division, noise_kg=noise, zero_drift_kg_per_h=drift
        )
        config = IndicatorConfig(
            protocol=Protocol(protocol),
            display=Display(unit=Unit(unit), decimals=decimals, division_kg=division),
            capacity_kg=capacity,
            serial_number=serial_number,
            rate_hz=rate,
            cal_command=cal_command,
            cal_line_every=cal_line_every,
            toledo_tare=not short_frames,
            eq_order=DigitOrder(eq_order),
        )
        scene = Scene(deck=deck, seed=seed)
        for spec in trucks:
            truck, at_ms, settled = parse_truck(spec)
            scene = scene.arrive(truck, at_ms, settled=settled)
    except SimError as exc:
        _fail(exc)
    simulator = IndicatorSimulator(
        config=config,
        state=IndicatorState(scene=scene, calibration_count=cal_count),
        port=port,
        baud=baud,
        stable_timeout_ms=stable_timeout,
    )
    server = ControlServer(controller=Controller(simulator), host=control_host, port=control_port)

    async def serve() -> None:
        await server.open()
        try:
            async with asyncio.TaskGroup() as tasks:
                running = tasks.create_task(simulator.run(), name="indicator")
                ready = tasks.create_task(simulator.ready.wait(), name="ready")
                await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
                if ready.done():
                    pty_path = port.path if isinstance(port, PtyPort) else None
                    _ready(protocol=protocol, port=port.address, pty=pty_path, control=server.url)
        finally:
            await server.close()

    _run(serve)


@sim.command(cls=_OneLine)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_with_port_options
@click.option(
    "--speed", default=1.0, show_default=True, help="Replay faster (2.0) or slower (0.5)."
)
@click.option("--loop", "loop_forever", is_flag=True, help="Start again at the end, until Ctrl-C.")
@click.option(
    "--start-delay",
    default=0.0,
    show_default=True,
    help="Seconds before the first chunk (pty; TCP waits for a client).",
)
def replay(
    file: Path,
    pty: bool,
    link: str | None,
    tcp: str | None,
    speed: float,
    loop_forever: bool,
    start_delay: float,
) -> None:
    """Replay a capture FILE onto a pty or TCP port."""
    _setup_logging(False)
    try:
        port = _port(pty, link, tcp)
        recorded = capture_mod.load(file)
        if not 0 < speed < math.inf:  # written so that NaN fails too
            raise ConfigError("--speed must be a number > 0", option="speed")
        if not 0 <= start_delay < math.inf:
            raise ConfigError("--start-delay must be a number >= 0", option="start-delay")
    except SimError as exc:
        _fail(exc)

    def started(address: str) -> None:
        _ready(port=address, pty=port.path if isinstance(port, PtyPort) else None)

    _run(
        lambda: capture_mod.replay(
            recorded,
            port=port,
            speed=speed,
            loop_forever=loop_forever,
            start_delay_s=start_delay,
            started=started,
        )
    )


@sim.command(cls=_OneLine)
@click.argument("source")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Capture file to write.",
)
@click.option("--baud", default=9600, show_default=True, help="Line speed of a serial SOURCE.")
@click.option(
    "--duration", type=float, help="Stop after this many seconds (default: until Ctrl-C or EOF)."
)
def capture(source: str, out: Path, baud: int, duration: float | None) -> None:
    """Record what SOURCE (a serial device path or socket://HOST:PORT) sends, with timestamps."""
    _setup_logging(False)
    if duration is not None and not 0 < duration < math.inf:  # written so that NaN fails too
        _fail(ConfigError("--duration must be a number > 0", option="duration"))
    if not out.parent.is_dir():
        _fail(ConfigError(f"directory of --out does not exist: {out.parent}", option="out"))

    async def work() -> None:
        loop = asyncio.get_running_loop()
        with out.open("w", encoding="utf-8") as handle:
            await capture_mod.record(
                source=source, out=handle, baud=baud, clock=loop.time, duration_s=duration
            )

    _run(work)
    try:
        recorded = capture_mod.load(out)
    except SimError as exc:
        _fail(exc)
    total = sum(len(chunk.data) for chunk in recorded.chunks)
    click.echo(f"recorded {total} bytes in {len(recorded.chunks)} chunks to {out}")


# --- Modbus devices, camera, lane -------------------------------------------------------------


def _plans(specs: tuple[str, ...], stand_s: float) -> tuple[TruckPlan, ...]:
    if not 0 <= stand_s < math.inf:
        raise ConfigError("--stand must be a number of seconds >= 0", option="stand")
    plans = []
    for spec in specs:
        truck, at_ms, settled = parse_truck(spec)
        plans.append(
            TruckPlan(truck=truck, arrive_ms=at_ms, settled=settled, stand_ms=round(stand_s * 1000))
        )
    return tuple(plans)


def _serve_lane(
    config: LaneConfig,
    lines: Sequence[tuple[PtyPort | TcpPort, Sequence[str]]],
    *,
    baud: int,
    control: str,
    describe: Callable[[LaneSimulator, str], dict[str, object]],
    indicator_port: PtyPort | TcpPort | None = None,
) -> None:
    """Run a lane (or one device of it) with its control interface until Ctrl-C."""
    try:
        if baud <= 0:
            raise ConfigError("--baud must be > 0", option="baud")
        control_host, control_port = parse_host_port(control)
    except SimError as exc:
        _fail(exc)
    lane = LaneSimulator(config=config, lines=lines, baud=baud, indicator_port=indicator_port)
    server = ControlServer(controller=LaneController(lane), host=control_host, port=control_port)

    async def serve() -> None:
        await server.open()
        try:
            async with asyncio.TaskGroup() as tasks:
                running = tasks.create_task(lane.run(), name="lane")
                ready = tasks.create_task(lane.ready.wait(), name="ready")
                await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
                if ready.done():
                    _ready(**describe(lane, server.url))
        finally:
            await server.close()

    _run(serve)


def _line_fields(lane: LaneSimulator) -> dict[str, object]:
    port = lane.lines[0].port
    return {"port": port.address, "pty": port.path if isinstance(port, PtyPort) else None}


_lane_options = [
    click.option("--baud", default=9600, show_default=True, help="RTU line speed (pty)."),
    click.option(
        "--truck",
        "trucks",
        multiple=True,
        metavar="SPEC",
        help="plate=…,axles=N,tare=KG[,load=KG][,kind=…][,at=SECONDS][,settled=yes]",
    ),
    click.option(
        "--stand", default=20.0, show_default=True, help="Seconds a truck stands before leaving."
    ),
    click.option("--seed", default=0, show_default=True, help="Seed of noise and camera reads."),
    click.option(
        "--control",
        default="127.0.0.1:8750",
        show_default=True,
        metavar="HOST:PORT",
        help="Control interface (HTTP); port 0 = any.",
    ),
    click.option("-v", "--verbose", is_flag=True, help="Log to stderr."),
]


def _with_lane_options(func: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_lane_options):
        func = option(func)
    return func


@sim.command(cls=_OneLine)
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default="hr-int32",
    show_default=True,
    help="Register map (PROTOCOLS.md §4).",
)
@click.option(
    "--map",
    "map_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A vendor's register map as TOML (see docs/hardware-testing.md); replaces --preset.",
)
@_with_port_options
@click.option("--unit-id", default=2, show_default=True, help="Modbus unit (device) id.")
@click.option("--division", default=10, show_default=True, help="Division e in kg.")
@click.option("--capacity", default=60_000, show_default=True, help="Max in kg.")
@click.option("--noise", default=2.0, show_default=True, help="Load-cell noise (sd, kg).")
@_with_lane_options
def modbus(
    preset: str,
    map_file: Path | None,
    pty: bool,
    link: str | None,
    tcp: str | None,
    unit_id: int,
    division: int,
    capacity: int,
    noise: float,
    baud: int,
    trucks: tuple[str, ...],
    stand: float,
    seed: int,
    control: str,
    verbose: bool,
) -> None:
    """Run a Modbus weight transmitter (RTU on a pty, or Modbus TCP) until Ctrl-C."""
    _setup_logging(verbose)
    try:
        port = _port(pty, link, tcp)
        regmap = PRESETS[preset] if map_file is None else _read_map(map_file)
        config = LaneConfig(
            deck=Deck(capacity_kg=capacity, division_kg=division, noise_kg=noise),
            seed=seed,
            transmitter=TransmitterConfig(regmap=regmap, unit_id=unit_id, division_kg=division),
            trucks=_plans(trucks, stand),
        )
    except SimError as exc:
        _fail(exc)

    def describe(lane: LaneSimulator, url: str) -> dict[str, object]:
        return {"preset": regmap.name, "unit": unit_id, **_line_fields(lane), "control": url}

    _serve_lane(config, [(port, [TRANSMITTER])], baud=baud, control=control, describe=describe)


def _read_map(path: Path) -> RegisterMap:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return map_from_table(table, where=str(path))


@sim.command(cls=_OneLine)
@_with_port_options
@click.option("--unit-id", default=1, show_default=True, help="Modbus unit (device) id.")
@click.option(
    "--barrier",
    type=click.Choice([m.value for m in BarrierMode]),
    default="pulse",
    show_default=True,
    help="Barrier coil: a 500 ms pulse raises it, or up while the coil is on.",
)
@click.option(
    "--auto-barrier", is_flag=True, help="Raise the barrier for leaving trucks (no controller)."
)
@click.option(
    "--io-map",
    "io_map",
    default="",
    help="Channels other than PROTOCOLS.md §4's default, e.g. 'exit=5,barrier_up=6'.",
)
@_with_lane_options
def io(
    pty: bool,
    link: str | None,
    tcp: str | None,
    unit_id: int,
    barrier: str,
    auto_barrier: bool,
    io_map: str,
    baud: int,
    trucks: tuple[str, ...],
    stand: float,
    seed: int,
    control: str,
    verbose: bool,
) -> None:
    """Run a Modbus relay/IO module (barrier, lights, beams) until Ctrl-C."""
    _setup_logging(verbose)
    try:
        port = _port(pty, link, tcp)
        config = LaneConfig(
            seed=seed,
            auto_barrier=auto_barrier,
            io=IoConfig(
                unit_id=unit_id,
                barrier=Barrier(mode=BarrierMode(barrier)),
                io_map=io_map_from_text(io_map),
            ),
            trucks=_plans(trucks, stand),
        )
    except SimError as exc:
        _fail(exc)

    def describe(lane: LaneSimulator, url: str) -> dict[str, object]:
        return {"unit": unit_id, **_line_fields(lane), "control": url}

    _serve_lane(config, [(port, [IO])], baud=baud, control=control, describe=describe)


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url must be an http:// or https:// URL, got {url!r}", option="url")
    return url


@sim.command(cls=_OneLine)
@click.option("--url", required=True, help="Where reads are pushed (POST JSON), e.g. …/camera.")
@click.option("--lane", "lane_name", default="lane1", show_default=True, help="Lane name.")
@click.option(
    "--misread-rate", default=0.0, show_default=True, help="Share of reads with a confusion."
)
@click.option(
    "--low-confidence-rate",
    default=0.0,
    show_default=True,
    help="Share of correct reads with a low confidence.",
)
@_with_lane_options
def camera(
    url: str,
    lane_name: str,
    misread_rate: float,
    low_confidence_rate: float,
    baud: int,
    trucks: tuple[str, ...],
    stand: float,
    seed: int,
    control: str,
    verbose: bool,
) -> None:
    """Run the entry and exit plate cameras of a lane until Ctrl-C."""
    _setup_logging(verbose)
    try:
        setup = CameraSetup(
            url=_check_url(url),
            config=CameraConfig(
                lane=lane_name,
                seed=seed,
                misread_rate=misread_rate,
                low_confidence_rate=low_confidence_rate,
            ),
        )
        config = LaneConfig(seed=seed, camera=setup, trucks=_plans(trucks, stand))
    except SimError as exc:
        _fail(exc)

    def describe(_lane: LaneSimulator, control_url: str) -> dict[str, object]:
        return {"camera": f"{lane_name}-entry,{lane_name}-exit", "url": url, "control": control_url}

    _serve_lane(config, [], baud=baud, control=control, describe=describe)


@sim.command(cls=_OneLine)
@click.option(
    "--scenario",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scenario file (TOML); without one: transmitter, IO module, no trucks.",
)
@_with_port_options
@click.option("--indicator-link", metavar="PATH", help="Stable symlink to the [indicator]'s pty.")
@click.option(
    "--indicator-tcp", metavar="HOST:PORT", help="Serve the [indicator] on TCP instead of a pty."
)
@click.option("--camera-url", help="Override the scenario's camera URL.")
@click.option("--speed", type=float, help="Override the scenario's time acceleration.")
@click.option("--baud", default=9600, show_default=True, help="RTU line speed (pty).")
@click.option(
    "--control",
    default="127.0.0.1:8750",
    show_default=True,
    metavar="HOST:PORT",
    help="Control interface (HTTP); port 0 = any.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log to stderr.")
def lane(
    scenario: Path | None,
    pty: bool,
    link: str | None,
    tcp: str | None,
    indicator_link: str | None,
    indicator_tcp: str | None,
    camera_url: str | None,
    speed: float | None,
    baud: int,
    control: str,
    verbose: bool,
) -> None:
    """Run a whole lane: transmitter and IO module on one Modbus line, an indicator, cameras."""
    _setup_logging(verbose)
    try:
        port = _port(pty or tcp is None, link, tcp)
        if scenario is None:
            config = LaneConfig(
                transmitter=TransmitterConfig(regmap=PRESETS["hr-int32"]), io=IoConfig()
            )
        else:
            config = scenario_mod.load(scenario)
        if camera_url is not None:
            if config.camera is None:
                raise ConfigError("--camera-url needs a [camera] table in the scenario")
            config = replace(config, camera=replace(config.camera, url=_check_url(camera_url)))
        if speed is not None:
            config = replace(config, speed=speed)
        indicator_port = None
        if config.indicator is not None:
            indicator_port = _port(indicator_tcp is None, indicator_link, indicator_tcp)
        elif indicator_link is not None or indicator_tcp is not None:
            raise ConfigError("--indicator-link/--indicator-tcp need an [indicator] table")
    except SimError as exc:
        _fail(exc)
    devices = [name for name, on in ((IO, config.io), (TRANSMITTER, config.transmitter)) if on]
    lines: list[tuple[PtyPort | TcpPort, Sequence[str]]] = [(port, devices)] if devices else []

    def describe(running: LaneSimulator, url: str) -> dict[str, object]:
        fields: dict[str, object] = _line_fields(running) if devices else {}
        if config.io is not None:
            fields["io_unit"] = config.io.unit_id
        if config.transmitter is not None:
            fields["transmitter_unit"] = config.transmitter.unit_id
            fields["preset"] = config.transmitter.regmap.name
        if running.indicator is not None:
            fields["indicator"] = running.indicator.port.address
            fields["protocol"] = running.indicator.config.protocol.value
        if config.camera is not None:
            fields["camera"] = config.camera.url
        fields["speed"] = f"{config.speed:g}"
        fields["control"] = url
        return fields

    _serve_lane(
        config,
        lines,
        baud=baud,
        control=control,
        describe=describe,
        indicator_port=indicator_port,
    )


if __name__ == "__main__":
    sim(prog_name="coalgate sim")
