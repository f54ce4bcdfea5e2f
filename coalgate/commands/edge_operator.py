"""``coalgate edge operator add|passwd|disable|enable|list``: the console's local accounts.

Accounts live in ``<data_dir>/operators.json`` (mode 0600, scrypt hashes; see
``edge.console.accounts``); the data dir is given directly (``--data-dir``) or read from the
site file (``--config``). A running edge reads the file at every login, so changes take effect
at once. Passwords are asked twice without echo, or read from the first line of stdin
(``--password-stdin``, for scripts).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from edge.config import load_site_config
from edge.console.accounts import Accounts
from edge.errors import AccountError, SiteConfigError

_DATA_DIR = click.option(
    "--data-dir", type=click.Path(path_type=Path, file_okay=False),
    help="The edge's data dir ([site] data_dir of the site file).",
)  # fmt: skip
_CONFIG = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    help="The site file: its [site] data_dir is used.",
)  # fmt: skip
_STDIN = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)


def _accounts(data_dir: Path | None, config_path: Path | None) -> Accounts:
    if (data_dir is None) == (config_path is None):
        raise click.UsageError("give either --data-dir or --config")
    if config_path is not None:
        try:
            data_dir = load_site_config(config_path).site.data_dir
        except SiteConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    assert data_dir is not None  # one of the two was given
    return Accounts.in_dir(data_dir)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt(
        "Password", hide_input=True, confirmation_prompt="Repeat the password"
    )
    return password


def _fail(exc: AccountError) -> click.ClickException:
    return click.ClickException(f"{exc.reason}: {exc.message}")


@click.group("operator")
def operator_command() -> None:
    """Operator accounts of the gate console (local to this edge)."""


@operator_command.command("add")
@click.argument("operator")
@click.option("--name", default="", help="The operator's name as the console shows it.")
@_DATA_DIR
@_CONFIG
@_STDIN
def add(
    operator: str,
    name: str,
    data_dir: Path | None,
    config_path: Path | None,
    password_stdin: bool,
) -> None:
    """Make an account for OPERATOR (the id that goes into the signed records)."""
    accounts = _accounts(data_dir, config_path)
    try:
        made = accounts.add(
            operator, _password(password_stdin), name=name, now_ms=time.time_ns() // 1_000_000
        )
    except AccountError as exc:
        raise _fail(exc) from exc
    click.echo(f"operator {made.id} ({made.name}) added to {accounts.path}")


@operator_command.command("passwd")
@click.argument("operator")
@_DATA_DIR
@_CONFIG
@_STDIN
def passwd(
    operator: str, data_dir: Path | None, config_path: Path | None, password_stdin: bool
) -> None:
    """Set a new password for OPERATOR."""
    accounts = _accounts(data_dir, config_path)
    try:
        accounts.set_password(operator, _password(password_stdin))
    except AccountError as exc:
        raise _fail(exc) from exc
    click.echo(f"password of {operator} changed")


@operator_command.command("disable")
@click.argument("operator")
@_DATA_DIR
@_CONFIG
def disable(operator: str, data_dir: Path | None, config_path: Path | None) -> None:
    """Stop OPERATOR from logging in (open sessions end at their next action)."""
    try:
        _accounts(data_dir, config_path).set_disabled(operator, True)
    except AccountError as exc:
        raise _fail(exc) from exc
    click.echo(f"operator {operator} disabled")


@operator_command.command("enable")
@click.argument("operator")
@_DATA_DIR
@_CONFIG
def enable(operator: str, data_dir: Path | None, config_path: Path | None) -> None:
    """Let a disabled OPERATOR log in again."""
    try:
        _accounts(data_dir, config_path).set_disabled(operator, False)
    except AccountError as exc:
        raise _fail(exc) from exc
    click.echo(f"operator {operator} enabled")


@operator_command.command("list")
@_DATA_DIR
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
def list_operators(data_dir: Path | None, config_path: Path | None, as_json: bool) -> None:
    """The accounts (never their hashes)."""
    try:
        found = _accounts(data_dir, config_path).list()
    except AccountError as exc:
        raise _fail(exc) from exc
    if as_json:
        rows = [
            {"id": o.id, "name": o.name, "created_ms": o.created_ms, "disabled": o.disabled}
            for o in found
        ]
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for o in found:
        click.echo(f"{o.id}\t{o.name}\t{'disabled' if o.disabled else 'active'}")
