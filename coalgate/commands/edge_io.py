"""``coalgate edge io``: drive and watch a gate's Modbus relay/IO module as the edge would."""

from __future__ import annotations

import asyncio
import json
import logging

import click

from edge.errors import ConfigError, EdgeError
from edge.io.driver import BarrierMode, IoDriver
from edge.io.events import BeamsChanged, CoilsChanged, IoEvent, IoFault
from edge.io.iomap import COIL_SIGNALS, io_map_from_text
from edge.modbus.line import ModbusLine


def _on_off(text: str) -> tuple[str, bool]:
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip().lower()
    if not sep or name not in COIL_SIGNALS or value not in ("on", "off"):
        raise click.BadParameter(
            f"{text!r}: write COIL=on|off with a coil among {', '.join(COIL_SIGNALS)}",
            param_hint="'--set'",
        )
    return name, value == "on"


@click.command("io")
@click.option(
    "--url",
    required=True,
    help="Modbus line: tcp://HOST[:PORT], rtu:///dev/ttyUSB0?baud=9600 or rtu+tcp://HOST:PORT.",
)
@click.option("--unit-id", type=click.IntRange(0, 247), default=1, show_default=True)
@click.option(
    "--pulse",
    type=click.Choice(COIL_SIGNALS),
    help="Close a coil for --pulse-ms; 'barrier' raises the barrier and waits for its switch.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="COIL=on|off",
    help="Switch a coil and read it back; barrier=on/off is a level-mode barrier (confirmed).",
)
@click.option("--watch", is_flag=True, help="Print beam and coil changes as they happen.")
@click.option("--count", type=click.IntRange(min=1), help="With --watch: stop after N changes.")
@click.option("--json", "as_json", is_flag=True, help="With --watch: one JSON object per change.")
@click.option("--pulse-ms", type=click.IntRange(1, 60_000), default=500, show_default=True)
@click.option(
    "--confirm-timeout",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the barrier-up limit switch.",
)
@click.option(
    "--io-map",
    "io_map",
    default="",
    help="Channels other than PROTOCOLS.md §4's default, e.g. 'exit=5,barrier_up=6'.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=60),
    default=0.5,
    show_default=True,
    help="Seconds to wait for each Modbus reply.",
)
def io_command(
    url: str,
    unit_id: int,
    pulse: str | None,
    settings: tuple[str, ...],
    watch: bool,
    count: int | None,
    as_json: bool,
    pulse_ms: int,
    confirm_timeout: float,
    io_map: str,
    timeout: float,
) -> None:
    """Pulse or set a coil of an IO module (confirmed by reading it back), or watch its inputs.

    Exits with status 1 when a command is not confirmed.
    """
    if sum((pulse is not None, bool(settings), watch)) != 1:
        raise click.UsageError("give exactly one of --pulse, --set or --watch")
    if (count is not None or as_json) and not watch:
        raise click.UsageError("--count and --json go with --watch")
    changes = [_on_off(text) for text in settings]
    quiet = logging.getLogger("coalgate.edge.io")
    for logger in (quiet, logging.getLogger("pymodbus.logging")):
        logger.propagate = False  # faults are printed once, as lines of their own
        logger.addHandler(logging.NullHandler())
    level = any(name == "barrier" for name, _ in changes)
    try:
        mapped = io_map_from_text(io_map)
        line = ModbusLine(url=url, timeout_s=timeout, logger=quiet)
    except ConfigError as exc:
        raise click.ClickException(f"--{exc.option}: {exc.message}") from exc
    try:
        driver = IoDriver(
            line=line,
            io_map=mapped,
            device_id=unit_id,
            barrier_mode=BarrierMode.LEVEL if level else BarrierMode.PULSE,
            pulse_ms=pulse_ms,
            confirm_timeout_s=confirm_timeout,
            logger=quiet,
        )
    except ConfigError as exc:
        raise click.ClickException(f"--{exc.option}: {exc.message}") from exc
    if watch:
        asyncio.run(_watch(driver, count=count, as_json=as_json))
        return
    try:
        for text in asyncio.run(_command(driver, pulse=pulse, changes=changes)):
            click.echo(text)
    except EdgeError as exc:
        raise click.ClickException(exc.message) from exc


async def _command(
    driver: IoDriver, *, pulse: str | None, changes: list[tuple[str, bool]]
) -> list[str]:
    async with driver.line:
        out: list[str] = []
        if pulse == "barrier":
            beams = await driver.raise_barrier()
            coils = driver.coils
            out.append(
                f"barrier raised: pulsed {driver.pulse_ms} ms, coil read back "
                f"{_word(coils.barrier if coils else None)}, limit switch closed "
                f"({_beams_text(beams)})"
            )
        elif pulse is not None:
            coils = await driver.pulse(pulse)
            out.append(f"{pulse} pulsed {driver.pulse_ms} ms, read back on then off")
        for name, on in changes:
            if name == "barrier":
                beams = await (driver.raise_barrier() if on else driver.lower_barrier())
                switch = "closed (barrier up)" if on else "open (barrier leaving up)"
                out.append(f"barrier {_word(on)}: read back, limit switch {switch}")
            else:
                coils = await driver.set_coil(name, on)
                out.append(f"{name} {_word(on)}: read back ({_coils_text(coils)})")
        return out


async def _watch(driver: IoDriver, *, count: int | None, as_json: bool) -> None:
    async with driver.line, asyncio.TaskGroup() as group:
        runner = group.create_task(driver.run(), name=f"io-driver {driver.line.url}")
        shown = 0
        while count is None or shown < count:
            event = await driver.events.get()
            if isinstance(event, IoFault):
                detail = f": {event.detail}" if event.detail else ""
                click.echo(f"io: {event.kind.value}{detail}", err=True)
                continue
            click.echo(_json_line(event) if as_json else _text_line(event))
            shown += 1
        runner.cancel()


def _word(on: bool | None) -> str:
    return {True: "on", False: "off", None: "?"}[on]


def _beams_text(beams: BeamsChanged) -> str:
    return (
        f"entry={_word(beams.entry)} front={_word(beams.front)} rear={_word(beams.rear)} "
        f"exit={_word(beams.exit)} barrier_up={_word(beams.barrier_up)}"
    )


def _coils_text(coils: CoilsChanged) -> str:
    return (
        f"barrier={_word(coils.barrier)} red={_word(coils.red)} "
        f"green={_word(coils.green)} horn={_word(coils.horn)}"
    )


def _text_line(event: BeamsChanged | CoilsChanged) -> str:
    if isinstance(event, BeamsChanged):
        return f"beams {_beams_text(event)}"
    return f"coils {_coils_text(event)}"


def _json_line(event: IoEvent) -> str:
    if isinstance(event, BeamsChanged):
        body: dict[str, object] = {
            "event": "beams",
            "entry": event.entry,
            "front": event.front,
            "rear": event.rear,
            "exit": event.exit,
            "barrier_up": event.barrier_up,
        }
    elif isinstance(event, CoilsChanged):
        body = {
            "event": "coils",
            "barrier": event.barrier,
            "red": event.red,
            "green": event.green,
            "horn": event.horn,
        }
    else:
        body = {"event": "fault", "kind": event.kind.value, "detail": event.detail}
    return json.dumps({**body, "at_ms": event.at_ms})
