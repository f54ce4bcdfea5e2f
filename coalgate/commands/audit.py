"""``coalgate audit``: check central's transparency log (docs/transparency.md).

``verify`` works offline, on files an auditor fetched from the API (or from the retained
``cg/v1/central/sth`` message) and central's published key set; ``scan`` re-checks a whole
central database and prints one line per finding.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import click

from central.config import Settings
from central.errors import CentralError
from central.store import open_store
from central.transparency.jsonform import parse_consistency, parse_head, parse_inclusion
from central.transparency.scan import scan as scan_store
from coalgate.commands.keyopts import keys_option
from wire.errors import WireError
from wire.keyfiles import read_key_set
from wire.keys import KeySet
from wire.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from wire.records import decode_record, record_id
from wire.treehead import TreeHead, verify_tree_head

FilePath = click.Path(exists=True, dir_okay=False, path_type=Path)


class _AuditGroup(click.Group):
    """Central's own errors (a database that cannot be read…) are one line."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CentralError as exc:
            raise click.ClickException(exc.message) from exc


@click.group(cls=_AuditGroup)
def audit() -> None:
    """Check central's transparency log: proofs offline, or a whole database."""


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: not JSON ({exc})") from None


def _head(raw: bytes, keys: KeySet, what: str) -> TreeHead:
    try:
        return verify_tree_head(raw, keys)
    except WireError as exc:
        raise click.ClickException(f"{what}: {exc.reason}: {exc.message}") from None


def _read_head_file(path: Path, keys: KeySet) -> TreeHead:
    """A kept head: the API's JSON, or the COSE bytes of the MQTT message."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        try:
            data = parse_head(_json(path), what=str(path))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    return _head(data, keys, str(path))


def _trusted(head: TreeHead, kept: dict[int, TreeHead], what: str) -> TreeHead:
    """``head`` from a proof file, checked against the head of its size the auditor kept."""
    mine = kept.get(head.size)
    if mine is not None and mine.root != head.root:
        raise click.ClickException(
            f"{what}: central signed two different roots for tree size {head.size} "
            f"({mine.root.hex()} in the head you kept, {head.root.hex()} now): it rewrote the log"
        )
    return mine or head


@audit.command("verify")
@keys_option(required=True)
@click.option(
    "--sth",
    "sth_paths",
    multiple=True,
    type=FilePath,
    help="A tree head you kept: JSON from GET /api/v1/transparency/sth, or the COSE bytes of "
    "cg/v1/central/sth; repeatable. Proofs must agree with these.",
)
@click.option("--inclusion", type=FilePath, help="JSON from …/transparency/inclusion/{id}.")
@click.option("--record", type=FilePath, help="The record's COSE bytes (…/records/{id}/cose).")
@click.option("--consistency", type=FilePath, help="JSON from …/transparency/consistency.")
def verify(
    key_paths: tuple[Path, ...],
    sth_paths: tuple[Path, ...],
    inclusion: Path | None,
    record: Path | None,
    consistency: Path | None,
) -> None:
    """Verify tree heads, an inclusion proof and a consistency proof offline; exit 1 unless
    every one holds."""
    if (inclusion is None) != (record is None):
        raise click.UsageError("--inclusion and --record go together")
    if not (sth_paths or inclusion or consistency):
        raise click.UsageError("give --sth, --inclusion with --record, or --consistency")
    keys = read_key_set(key_paths)
    kept: dict[int, TreeHead] = {}
    for path in sth_paths:
        head = _trusted(_read_head_file(path, keys), kept, str(path))
        kept[head.size] = head
        click.echo(f"ok: tree head of size {head.size} signed by {head.kid} at {_when(head.ts)}")
    try:
        if inclusion is not None and record is not None:
            _verify_inclusion(inclusion, record, keys, kept)
        if consistency is not None:
            _verify_consistency(consistency, keys, kept)
    except ProofError as exc:
        raise click.ClickException(f"{exc.kind} proof does not hold: {exc.message}") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _verify_inclusion(
    path: Path, record_path: Path, keys: KeySet, kept: dict[int, TreeHead]
) -> None:
    wanted, index, size, audit_path, head_raw = parse_inclusion(_json(path))
    head = _trusted(_head(head_raw, keys, f"{path}: sth"), kept, str(path))
    if head.size != size:
        raise click.ClickException(f"{path}: tree_size {size} is not its head's size {head.size}")
    data = record_path.read_bytes()
    if record_id(data) != wanted:
        raise click.ClickException(
            f"{record_path} is not record {wanted.hex()} (its SHA-256 is {record_id(data).hex()})"
        )
    try:
        decoded = decode_record(data)
    except WireError as exc:
        raise click.ClickException(f"{record_path}: {exc.reason}: {exc.message}") from None
    verify_inclusion(
        leaf_hash=leaf_hash(data), index=index, tree_size=size, proof=audit_path, root=head.root
    )
    click.echo(
        f"ok: record {wanted.hex()} ({decoded.device} seq {decoded.seq}) is leaf {index} of "
        f"the tree of size {size} signed by {head.kid} at {_when(head.ts)}"
    )


def _verify_consistency(path: Path, keys: KeySet, kept: dict[int, TreeHead]) -> None:
    first, second, proof, first_raw, second_raw = parse_consistency(_json(path))
    old = _trusted(_head(first_raw, keys, f"{path}: first_sth"), kept, str(path))
    new = _trusted(_head(second_raw, keys, f"{path}: second_sth"), kept, str(path))
    if (old.size, new.size) != (first, second):
        raise click.ClickException(f"{path}: first/second are not the sizes of its heads")
    verify_consistency(
        first=first, second=second, first_root=old.root, second_root=new.root, proof=proof
    )
    click.echo(f"ok: the tree of size {second} extends the tree of size {first}")


@audit.command("scan")
@click.option(
    "--database",
    help="postgresql://… or sqlite:///path (default: COALGATE_DATABASE_URL, as central uses).",
)
@keys_option(required=False)
def scan(database: str | None, key_paths: tuple[Path, ...]) -> None:
    """Re-verify every stored record's signature, chain and inclusion, and every tree head;
    print one line per finding and exit 1 if there is any. Changes nothing. Tree heads are
    checked with --keys, or central's public keys under COALGATE_DATA_DIR/keys."""
    settings = Settings.from_env(os.environ)
    url = database or settings.database_url
    paths = key_paths or tuple(sorted(settings.keys_dir.glob("central-*.pub")))
    if not paths:
        raise click.UsageError(f"no central keys in {settings.keys_dir}: give --keys")
    keys = read_key_set(paths)
    store = open_store(url)
    try:
        report = scan_store(store, keys)
    finally:
        store.close()
    for finding in report.findings:
        click.echo(f"{finding.kind}: {finding.message}")
    summary = f"{report.leaves} leaves, {report.heads} tree heads checked"
    if report.findings:
        click.echo(f"FAILED: {len(report.findings)} findings; {summary}", err=True)
        raise SystemExit(1)
    click.echo(f"ok: {summary}")
