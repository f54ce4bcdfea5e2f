"""``coalgate edge``: tools for integrators at the gate — read a scale as the edge would."""

from __future__ import annotations

import asyncio
import json
import logging

import click

from edge.errors import ConfigError
from edge.scale.readings import ScaleProtocol, Unit
from edge.scale.serial_driver import ScaleFault, ScaleReading, SerialScaleDriver

#: How often the reader wakes without events, to report readings it had to drop.
_CHECK_S = 1.0


@click.group()
def edge() -> None:
    """Edge drivers for integrators: read an indicator, see what the edge would see."""


@edge.command("read-scale")
@click.option(
    "--protocol",
    type=click.Choice([p.value for p in ScaleProtocol]),
    required=True,
    help="Serial protocol of the indicator.",
)
@click.option(
    "--url", required=True, help="Serial port, pty path or socket://host:port (pyserial)."
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after N readings.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per reading.")
@click.option("--raw", is_flag=True, help="Add a hex dump of each frame.")
@click.option("--division", default="10", show_default=True, help="Scale division in kg.")
@click.option("--baud", type=click.IntRange(min=1), default=9600, show_default=True)
@click.option(
    "--unit",
    type=click.Choice([u.value for u in (Unit.KILOGRAM, Unit.TONNE, Unit.GRAM)]),
    default="kg",
    show_default=True,
    help="Unit of formats that send none (xk3190-a9, xk3190-eq).",
)
def read_scale(
    protocol: str,
    url: str,
    count: int | None,
    as_json: bool,
    raw: bool,
    division: str,
    baud: int,
    unit: str,
) -> None:
    """Print readings from an indicator as they arrive, in whole kg; faults go to stderr."""
    quiet = logging.getLogger("coalgate.edge.read_scale")
    quiet.propagate = False  # faults are printed below, once, as lines of their own
    quiet.addHandler(logging.NullHandler())
    try:
        driver = SerialScaleDriver(
            protocol=ScaleProtocol(protocol),
            url=url,
            division_kg=division,
            baudrate=baud,
            unit=Unit(unit),
            logger=quiet,
        )
    except ConfigError as exc:
        raise click.ClickException(f"--{exc.option}: {exc.message}") from exc
    try:
        asyncio.run(_read(driver, count=count, as_json=as_json, raw=raw))
    except ExceptionGroup as group:  # out of _read's TaskGroup
        config = [exc for exc in group.exceptions if isinstance(exc, ConfigError)]
        if not config:
            raise
        raise click.ClickException(f"--{config[0].option}: {config[0].message}") from group


async def _read(driver: SerialScaleDriver, *, count: int | None, as_json: bool, raw: bool) -> None:
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(driver.run(), name=f"scale-driver {driver.url}")
        await _print(driver, count=count, as_json=as_json, raw=raw)
        runner.cancel()


async def _print(driver: SerialScaleDriver, *, count: int | None, as_json: bool, raw: bool) -> None:
    shown = 0
    dropped = 0
    while count is None or shown < count:
        try:
            async with asyncio.timeout(_CHECK_S):
                event = await driver.events.get()
        except TimeoutError:
            event = None
        if driver.conversion_errors > dropped and driver.last_conversion_error is not None:
            click.echo(
                f"scale: {driver.conversion_errors - dropped} reading(s) dropped: "
                f"{driver.last_conversion_error.message}",
                err=True,
            )
            dropped = driver.conversion_errors
        if isinstance(event, ScaleFault):
            detail = f": {event.detail}" if event.detail else ""
            click.echo(f"scale: {event.kind.value}{detail}", err=True)
        elif isinstance(event, ScaleReading):
            click.echo(_json_line(event, raw=raw) if as_json else _text_line(event, raw=raw))
            shown += 1


def _json_line(event: ScaleReading, *, raw: bool) -> str:
    weight = event.weight
    line: dict[str, object] = {
        "weight": weight.kg,
        "unit": "kg",
        "stable": weight.stable,
        "net": weight.net,
        "overload": weight.overload,
        "underload": weight.underload,
        "tare": weight.tare_kg,
    }
    if raw:
        line["raw"] = weight.reading.raw.hex(" ")
    return json.dumps(line)


def _text_line(event: ScaleReading, *, raw: bool) -> str:
    weight = event.weight
    if weight.overload or weight.underload:
        shown = "overload" if weight.overload else "underload"
    else:
        shown = f"{weight.kg} kg"
    flags = [
        {True: "stable", False: "motion", None: "-"}[weight.stable],
        {True: "net", False: "gross", None: "-"}[weight.net],
    ]
    if weight.tare_kg is not None:
        flags.append(f"tare {weight.tare_kg} kg")
    text = f"{shown:>12}  {' '.join(flags)}"
    if raw:
        text += f"  [{weight.reading.raw.hex(' ')}]"
    return text
