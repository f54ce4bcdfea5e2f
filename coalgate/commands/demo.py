"""``coalgate demo``: the whole simulated region (coalgate/demo/)."""

from __future__ import annotations

from pathlib import Path

import click

from coalgate.demo import DemoError, DemoOptions, run_demo


@click.command("demo")
@click.option("--mqtt", metavar="URL", help="Use this broker (mqtt://host:port) instead of "
              "starting one (Mosquitto when on PATH, else the embedded amqtt).")  # fmt: skip
@click.option("--database", metavar="URL", help="Central's database (postgresql://…, empty); "
              "default SQLite under the data directory.")  # fmt: skip
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-data/region"), show_default=True,
    help="Everything the demo writes; made anew each run.",
)  # fmt: skip
@click.option("--speed", type=click.FloatRange(1, 10), default=5.0, show_default=True,
              help="Lane seconds per second: how fast the trucks and barriers move.")  # fmt: skip
@click.option("--duration", "duration_s", type=click.FloatRange(min=1), metavar="S",
              help="Stop after S seconds of traffic and print a final summary "
              "(default: run until Ctrl-C).")  # fmt: skip
@click.option(
    "--broker", type=click.Choice(["auto", "mosquitto", "amqtt"]), default="auto",
    show_default=True, help="The broker to start: auto is Mosquitto when on PATH, else amqtt.",
)  # fmt: skip
@click.option("--seed", type=int, default=1, show_default=True, help="Plates and loads.")
@click.option("--trucks", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Ticketed trucks per mine.")  # fmt: skip
def demo(
    mqtt: str | None,
    database: str | None,
    data_dir: Path,
    speed: float,
    duration_s: float | None,
    broker: str,
    seed: int,
    trucks: int,
) -> None:
    """Run a whole region: a broker, central, two coal mines and a magnesium smelter with
    simulated scales, IO modules and cameras, their edges, tickets and trucks (a few cheats
    and faults), with a live summary. Ctrl-C stops everything."""
    options = DemoOptions(
        data_dir=data_dir, mqtt=mqtt, database=database, speed=speed, duration_s=duration_s,
        seed=seed, trucks=trucks, broker=broker,
    )  # fmt: skip
    try:
        tally = run_demo(options)
    except DemoError as exc:
        raise click.ClickException(exc.message) from exc
    if duration_s is not None and tally.failed:
        raise click.ClickException(f"{tally.failed} records did not verify")
