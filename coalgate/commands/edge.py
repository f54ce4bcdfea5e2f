"""``coalgate edge``: tools for integrators at the gate — read a scale as the edge would."""

from __future__ import annotations

import asyncio
import json
import logging

import click

from coalgate.commands.edge_config import check_config
from coalgate.commands.edge_io import io_command
from coalgate.commands.edge_operator import operator_command
from coalgate.commands.edge_run import enroll_command, run_command
from edge.errors import ConfigError
from edge.modbus.line import ModbusLine
from edge.modbus.regmap import load_register_map
from edge.scale.events import ScaleCalibration, ScaleFault, ScaleReading
from edge.scale.modbus_driver import ModbusScaleDriver
from edge.scale.readings import ScaleProtocol, Unit
from edge.scale.serial_driver import SerialScaleDriver

#: How often the reader wakes without events, to report readings it had to drop.
_CHECK_S = 1.0


@click.group()
def edge() -> None:
    """Edge drivers for integrators: read an indicator, see what the edge would see."""


edge.add_command(io_command)
edge.add_command(check_config)
edge.add_command(run_command)
edge.add_command(enroll_command)
edge.add_command(operator_command)


@edge.command("read-scale")
@click.option(
    "--protocol",
    type=click.Choice([p.value for p in ScaleProtocol if p is not ScaleProtocol.MODBUS]),
    help="Serial protocol of the indicator (or --modbus).",
)
@click.option(
    "--modbus",
    metavar="PRESET_OR_MAPFILE",
    help="A Modbus weight transmitter: a preset (hr-int32, ir-c500) or a register map .toml.",
)
@click.option(
    "--url",
    required=True,
    help="Serial: a port, pty path or socket://HOST:PORT. Modbus: tcp://HOST[:PORT], "
    "rtu+tcp://HOST:PORT or rtu:///dev/PORT?baud=9600.",
)
@click.option(
    "--unit-id",
    type=click.IntRange(1, 247),
    default=2,
    show_default=True,
    help="Modbus unit id of the transmitter.",
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
    protocol: str | None,
    modbus: str | None,
    url: str,
    unit_id: int,
    count: int | None,
    as_json: bool,
    raw: bool,
    division: str,
    baud: int,
    unit: str,
) -> None:
    """Print readings from an indicator or a Modbus transmitter as they arrive, in whole kg;
    faults go to stderr."""
    if (protocol is None) == (modbus is None):
        raise click.UsageError("give exactly one of --protocol (serial) and --modbus")
    quiet = logging.getLogger("coalgate.edge.read_scale")
    quiet.propagate = False  # faults are printed below, once, as lines of their own
    quiet.addHandler(logging.NullHandler())
    if modbus is not None:
        _read_modbus(
            modbus, url=url, unit_id=unit_id, division=division, logger=quiet,
            count=count, as_json=as_json, raw=raw,
        )  # fmt: skip
        return
    assert protocol is not None  # one of the two, checked above
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


def _read_modbus(
    spec: str,
    *,
    url: str,
    unit_id: int,
    division: str,
    logger: logging.Logger,
    count: int | None,
    as_json: bool,
    raw: bool,
) -> None:
    # pymodbus logs failed connects itself; the driver reports them as faults, once
    library = logging.getLogger("pymodbus")
    library.propagate = False
    library.addHandler(logging.NullHandler())
    try:
        regmap = load_register_map(spec, where="--modbus")
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc

    async def work() -> None:
        async with ModbusLine(url=url, logger=logger) as line:
            driver = ModbusScaleDriver(
                line=line, regmap=regmap, device_id=unit_id, division_kg=division, logger=logger
            )
            await _read(driver, count=count, as_json=as_json, raw=raw)

    try:
        asyncio.run(work())
    except ConfigError as exc:
        raise click.ClickException(f"--{exc.option}: {exc.message}") from exc


async def _read(
    driver: SerialScaleDriver | ModbusScaleDriver, *, count: int | None, as_json: bool, raw: bool
) -> None:
    name = driver.url if isinstance(driver, SerialScaleDriver) else driver.where
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(driver.run(), name=f"scale-driver {name}")
        await _print(driver, count=count, as_json=as_json, raw=raw)
        runner.cancel()


async def _print(
    driver: SerialScaleDriver | ModbusScaleDriver, *, count: int | None, as_json: bool, raw: bool
) -> None:
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
        elif isinstance(event, ScaleCalibration):
            before, now = event.previous, event.current
            click.echo(
                f"scale: calibration changed: counter {before.counter} -> {now.counter}, "
                f"division {before.division_kg} -> {now.division_kg} kg",
                err=True,
            )
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
        if event.registers:  # Modbus: which register held which word
            line["registers"] = {str(address): f"{word:04x}" for address, word in event.registers}
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
    if raw and event.registers:
        text += "  [" + " ".join(f"{a}:{w:04x}" for a, w in event.registers) + "]"
    elif raw:
        text += f"  [{weight.reading.raw.hex(' ')}]"
    return text
