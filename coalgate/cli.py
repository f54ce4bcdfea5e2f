"""The ``coalgate`` command: groups per noun, and one clear line for every failure."""

from __future__ import annotations

import sys
from typing import Any

import click

from coalgate.commands.audit import audit
from coalgate.commands.central import central
from coalgate.commands.checkpoint import checkpoint
from coalgate.commands.demo import demo
from coalgate.commands.edge import edge
from coalgate.commands.key import key
from coalgate.commands.receipt import receipt
from coalgate.commands.record import record
from coalgate.commands.sim import sim
from coalgate.commands.ticket import ticket
from wire.errors import WireError


class _Main(click.Group):
    """Turns expected failures into one line on stderr instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WireError as exc:
            raise click.ClickException(f"{exc.reason}: {exc.message}") from exc
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from exc


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="coalgate")
def cli() -> None:
    """coalgate: electronic coal-transport tickets, from the mine gate to the regulator."""


cli.add_command(key)
cli.add_command(record)
cli.add_command(ticket)
cli.add_command(receipt)
cli.add_command(checkpoint)
cli.add_command(sim)
cli.add_command(central)
cli.add_command(edge)
cli.add_command(audit)
cli.add_command(demo)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="coalgate", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
