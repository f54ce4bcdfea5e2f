"""``coalgate key``: make device keys in the standard formats other tools read."""

from __future__ import annotations

from pathlib import Path

import click

from wire.ids import check_device_id
from wire.keyfiles import write_key_pair
from wire.keys import SigningKey


@click.group()
def key() -> None:
    """Ed25519 keys (PKCS#8 and SubjectPublicKeyInfo PEM)."""


@key.command("new")
@click.option("--device", "device", required=True, help="Device id; it becomes the key's kid.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for DEVICE.key (mode 0600) and DEVICE.pub; created if missing.",
)
def new(device: str, out: Path) -> None:
    """Create a key pair for DEVICE; never overwrites an existing key."""
    check_device_id(device, field="--device")
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = write_key_pair(SigningKey.generate(kid=device), out)
    click.echo(f"wrote {private_path} (private, 0600) and {public_path}")
