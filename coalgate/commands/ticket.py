"""``coalgate ticket``: decode and verify e-tickets from their QR text."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import click

from coalgate.commands.keyopts import keys_option, read_text_argument
from wire.errors import WireError
from wire.keyfiles import read_key_set
from wire.tickets import decode_ticket, ticket_from_qr, verify_ticket


def _utc(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group()
def ticket() -> None:
    """E-tickets (CWT signed by central; QR text CT1:…)."""


@ticket.command("decode")
@click.argument("qr_text")
@keys_option(required=False)
@click.option("--now", "now_s", type=int, help="Clock for the loading deadline (UTC seconds).")
def decode(qr_text: str, key_paths: tuple[Path, ...], now_s: int | None) -> None:
    """Print a ticket's claims and whether its signature verifies (QR_TEXT '-' reads stdin)."""
    data = ticket_from_qr(read_text_argument(qr_text))
    decoded = decode_ticket(data)
    click.echo(json.dumps(decoded.to_json(), ensure_ascii=False, indent=2))
    now = now_s if now_s is not None else int(time.time())
    state = "passed" if now >= decoded.exp else "open"
    click.echo(f"loading deadline: {_utc(decoded.exp)} ({state} at {_utc(now)})")
    if not key_paths:
        click.echo("signature: not checked (give --keys with central's key set)")
        return
    try:
        verify_ticket(data, read_key_set(key_paths), now_s=None)
    except WireError as exc:
        click.echo(f"signature: FAILED: {exc.reason}: {exc.message}")
        raise SystemExit(1) from exc
    click.echo(f"signature: ok (central key {decoded.kid})")
