"""``coalgate receipt``: verify a driver's receipt offline with central's key set."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from coalgate.commands.keyopts import keys_option, read_text_argument
from wire.errors import WireError
from wire.keyfiles import read_key_set
from wire.receipts import verify_receipt


@click.group()
def receipt() -> None:
    """Receipts (ticket + weighing record + device certificate; QR text CR1:…)."""


@receipt.command("verify")
@click.argument("qr_text")
@keys_option(required=True)
def verify(qr_text: str, key_paths: tuple[Path, ...]) -> None:
    """Verify a receipt (QR_TEXT '-' reads stdin); exit 1 unless every check passes."""
    keys = read_key_set(key_paths)
    try:
        checked = verify_receipt(read_text_argument(qr_text), keys)
    except WireError as exc:
        check = getattr(exc, "check", None)
        where = f" ({check})" if check else ""
        click.echo(f"receipt: FAILED{where}: {exc.reason}: {exc.message}")
        raise SystemExit(1) from exc
    ticket, record, weighing = checked.ticket, checked.record, checked.weighing
    loaded = dt.datetime.fromtimestamp(record.ts / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    click.echo(
        f"receipt: ok — ticket {ticket.no} ({ticket.id}) for {ticket.plate}, "
        f"{ticket.seller_site} → {ticket.dest_site}"
    )
    click.echo(
        f"loaded: net {weighing.net_kg} kg of max {ticket.max_net_kg} kg at {loaded} "
        f"by {record.device} (record {record.id.hex()})"
    )
