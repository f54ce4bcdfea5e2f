"""``coalgate record``: craft, show and verify records as raw COSE files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from coalgate.commands.keyopts import keys_option
from wire.chain import BrokenLink, Duplicate, Equivocation, Finding, Gap, check_chain
from wire.errors import WireError
from wire.ids import check_device_id, check_id
from wire.jsonform import body_from_json, record_to_json
from wire.keyfiles import read_key_set, read_signing_key
from wire.records import ZERO_HASH, Record, decode_record, sign_record, verify_record

_TYPES = click.Choice(["weighing", "evidence", "event", "status"])


@click.group()
def record() -> None:
    """Signed records (COSE_Sign1 bytes, WIRE.md "Records")."""


def _prev(text: str | None, seq: int) -> bytes:
    if text is None:
        if seq != 1:
            raise click.BadParameter("is required for seq > 1", param_hint="--prev")
        return ZERO_HASH
    try:
        prev = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter("must be 64 hex characters", param_hint="--prev") from None
    if len(prev) != 32:
        raise click.BadParameter("must be 64 hex characters", param_hint="--prev")
    return prev


@record.command("sign")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--site", required=True)
@click.option("--device", required=True)
@click.option("--seq", required=True, type=click.IntRange(min=1))
@click.option("--prev", "prev_hex", help="Record id of seq-1 (hex); omit for seq 1.")
@click.option("--ts", type=click.IntRange(min=0), help="UTC milliseconds; default: now.")
@click.option("--type", "record_type", required=True, type=_TYPES)
@click.option("--body", "body_json", required=True, help="Body as JSON; byte strings as hex.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def sign(
    key_path: Path,
    site: str,
    device: str,
    seq: int,
    prev_hex: str | None,
    ts: int | None,
    record_type: str,
    body_json: str,
    out: Path,
) -> None:
    """Craft a record signed by the device key; writes the raw COSE bytes to OUT."""
    check_id(site, field="--site")
    check_device_id(device, field="--device")
    prev = _prev(prev_hex, seq)
    try:
        body_data = json.loads(body_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"is not JSON: {exc}", param_hint="--body") from None
    body = body_from_json(record_type, body_data)
    key = read_signing_key(key_path)
    if key.kid != device:
        raise click.BadParameter(
            f"{key_path} is the key of {key.kid!r}; a device signs only with its own key",
            param_hint="--key",
        )
    when = ts if ts is not None else time.time_ns() // 1_000_000
    signed = sign_record(key, site=site, device=device, seq=seq, prev=prev, ts=when, body=body)
    with out.open("xb") as handle:  # a record is evidence: never overwrite one
        handle.write(signed.raw)
    click.echo(f"wrote {out}: {record_type} seq {seq}, id {signed.id.hex()}")


@record.command("show")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def show(file: Path) -> None:
    """Print a record as JSON (decoded and checked, signature not verified)."""
    decoded = decode_record(file.read_bytes())
    click.echo(json.dumps(record_to_json(decoded), ensure_ascii=False, indent=2))


@record.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@keys_option(required=True)
@click.option(
    "--chain",
    "check_links",
    is_flag=True,
    help="Also check the verified records form gap-free hash chains from seq 1.",
)
def verify(files: tuple[Path, ...], key_paths: tuple[Path, ...], check_links: bool) -> None:
    """Verify records; one line each, exit 1 if any is wrong."""
    keys = read_key_set(key_paths)
    failures = 0
    verified: list[Record] = []
    for path in files:
        try:
            checked = verify_record(path.read_bytes(), keys)
        except WireError as exc:
            failures += 1
            click.echo(f"{path}: {exc.reason}: {exc.message}")
        except OSError as exc:
            failures += 1
            click.echo(f"{path}: unreadable: {exc.strerror}")
        else:
            verified.append(checked)
            click.echo(
                f"{path}: ok {checked.type} device {checked.device} seq {checked.seq} "
                f"id {checked.id.hex()}"
            )
    if check_links:
        for device, report in check_chain(verified).items():
            failures += len(report.findings)
            click.echo(
                f"chain {device}: seq 1..{report.contiguous} present of {report.highest}, "
                f"{len(report.findings)} finding(s)"
            )
            for finding in report.findings:
                click.echo(f"  {_describe(finding)}")
    if failures:
        raise SystemExit(1)


def _describe(finding: Finding) -> str:
    match finding:
        case Gap(first=first, last=last):
            return f"gap: seq {first}..{last} missing"
        case BrokenLink(seq=seq, record=record, prev=prev):
            return f"broken link: seq {seq} ({record.hex()[:16]}…) has prev {prev.hex()[:16]}…"
        case Duplicate(seq=seq, copies=copies):
            return f"duplicate: seq {seq} given {copies} times"
        case Equivocation(seq=seq, records=records):
            return f"equivocation: seq {seq} has {len(records)} different records"
