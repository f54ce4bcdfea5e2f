"""The ``coalgate`` command: groups per noun, and one clear line for every failure."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from wire.errors import WireError

#: Each command's module, imported only when the command runs (or help lists it): the gate
#: agent (``coalgate edge run``) then never loads central's API, store or dashboard.
COMMANDS: dict[str, str] = {
    "key": "coalgate.commands.key",
    "record": "coalgate.commands.record",
    "ticket": "coalgate.commands.ticket",
    "receipt": "coalgate.commands.receipt",
    "checkpoint": "coalgate.commands.checkpoint",
    "sim": "coalgate.commands.sim",
    "central": "coalgate.commands.central",
    "edge": "coalgate.commands.edge",
    "audit": "coalgate.commands.audit",
    "demo": "coalgate.commands.demo",
}


class _Main(click.Group):
    """Loads each command when it is used; turns expected failures into one line on stderr
    instead of a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = getattr(importlib.import_module(module), cmd_name)
        assert isinstance(command, click.Command)
        return command

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


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="coalgate", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
