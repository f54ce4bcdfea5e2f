"""``coalgate checkpoint``: a checkpoint officer's tools that work without network.

``sync`` fetches central's published key set (``GET /api/v1/keys``, JWKS) once, while online,
into a file; ``verify`` then checks a ticket (``CT1:``) or receipt (``CR1:``) QR text against
that file alone — the same wire verifiers central's ``POST /api/v1/tickets/verify`` runs for
its offline checks: signatures under central's keys (and, for a receipt, the record under the
certified device key and every receipt check), and the ticket's loading deadline. What only
central knows (the ticket's state, whether it was already used) needs the checkpoint page.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from coalgate.commands.keyopts import read_text_argument
from wire.errors import ExpiredError, ReceiptError, WireError
from wire.keys import KeySet
from wire.keysets import JWKS_MEDIA_TYPE, jwks, parse_jwks
from wire.qr import RECEIPT_PREFIX, TICKET_PREFIX
from wire.receipts import verify_receipt
from wire.tickets import Ticket, decode_ticket, ticket_from_qr, verify_ticket

DIR_ENV = "COALGATE_CHECKPOINT_DIR"
DEFAULT_DIR = "./checkpoint-data"
KEYS_FILE = "central-keys.json"
MAX_KEYS_BYTES = 1_000_000
DEVICE_CHECKS = frozenset({"certificate_validity", "device", "site"})
"""Receipt checks that fail when the record was not signed by the certified device."""


def default_keys_path() -> Path:
    return Path(os.environ.get(DIR_ENV, DEFAULT_DIR)) / KEYS_FILE


def _utc(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# --- the verdict (pure: the key set and the clock are arguments) ------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What verifies offline. ``valid``: the signatures and the QR's own checks passed (a
    ticket past its loading deadline is still valid — in transit it is expected — and says so
    in ``loadable``)."""

    kind: str  # ticket / receipt / unknown
    valid: bool
    reason: str | None = None
    message: str | None = None
    checks: dict[str, bool | None] = field(default_factory=dict)
    ticket: Ticket | None = None
    net_kg: int | None = None
    record: str | None = None
    loaded_ms: int | None = None
    device: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "valid": self.valid,
            "reason": self.reason,
            "message": self.message,
            "checks": self.checks,
            "ticket": None if self.ticket is None else self.ticket.to_json(),
            "net_kg": self.net_kg,
            "record": self.record,
            "loaded_at": self.loaded_ms,
            "device": self.device,
        }

    def line(self, *, now_s: int) -> str:
        """The one line a terminal shows."""
        if not self.valid:
            return f"INVALID {self.kind}: {self.reason}: {self.message}"
        ticket = self.ticket
        assert ticket is not None  # a valid verdict always carries its ticket
        head = (
            f"VALID {self.kind} {ticket.no} {ticket.plate} {ticket.seller_site} → "
            f"{ticket.dest_site}, {ticket.coal}, max {ticket.max_net_kg} kg"
        )
        if self.kind == "receipt":
            assert self.loaded_ms is not None
            return (
                f"{head}; loaded net {self.net_kg} kg at {_utc(self.loaded_ms / 1000)} "
                f"by {self.device}"
            )
        state = "open" if now_s < ticket.exp else "passed"
        return f"{head}; loading deadline {_utc(ticket.exp)} ({state})"


def verdict(text: str, keys: KeySet, *, now_s: int) -> Verdict:
    """Verify a ``CT1:`` ticket or ``CR1:`` receipt text with ``keys`` only."""
    text = text.strip()
    if text.startswith(TICKET_PREFIX):
        checks: dict[str, bool | None] = {"signature": False, "loadable": None}
        shown: Ticket | None = None
        try:
            raw = ticket_from_qr(text)
            shown = decode_ticket(raw)
            ticket = verify_ticket(raw, keys, now_s=None)
        except WireError as exc:
            return Verdict(kind="ticket", valid=False, reason=exc.reason, message=exc.message,
                           checks=checks, ticket=shown)  # fmt: skip
        try:
            ticket.check_loadable(now_s=now_s)
            loadable = True
        except ExpiredError:
            loadable = False
        return Verdict(kind="ticket", valid=True,
                       checks={"signature": True, "loadable": loadable}, ticket=ticket)  # fmt: skip
    if text.startswith(RECEIPT_PREFIX):
        try:
            receipt = verify_receipt(text, keys)
        except ReceiptError as exc:  # the signatures held; a check between the three failed
            checks = {
                "signature": True,
                "certified_device": False if exc.check in DEVICE_CHECKS else None,
                "loadable": False if exc.check == "deadline" else None,
            }
            return Verdict(kind="receipt", valid=False, reason=exc.check, message=exc.message,
                           checks=checks)  # fmt: skip
        except WireError as exc:
            return Verdict(kind="receipt", valid=False, reason=exc.reason, message=exc.message,
                           checks={"signature": False, "certified_device": None})  # fmt: skip
        return Verdict(
            kind="receipt",
            valid=True,
            checks={"signature": True, "certified_device": True, "loadable": True},
            ticket=receipt.ticket,
            net_kg=receipt.weighing.net_kg,
            record=receipt.record.id.hex(),
            loaded_ms=receipt.record.ts,
            device=receipt.record.device,
        )
    return Verdict(kind="unknown", valid=False, reason="bad_qr",
                   message=f"not a {TICKET_PREFIX} ticket or {RECEIPT_PREFIX} receipt")  # fmt: skip


# --- the commands -----------------------------------------------------------------------------


def fetch_keys(url: str, *, token: str | None, timeout_s: float) -> KeySet:
    """Central's key set from ``GET {url}/api/v1/keys`` (one clear line on any failure)."""
    target = url.rstrip("/") + "/api/v1/keys"
    if not target.startswith(("http://", "https://")):
        raise click.ClickException(f"--url must be http:// or https://, not {url!r}")
    headers = {"Accept": f"application/json, {JWKS_MEDIA_TYPE}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(target, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
            data = answer.read(MAX_KEYS_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"central answered HTTP {exc.code} for {target}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"cannot reach {target}: {reason}") from exc
    if len(data) > MAX_KEYS_BYTES:
        raise click.ClickException(f"{target} answered more than {MAX_KEYS_BYTES} bytes")
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{target} did not answer JSON: {exc}") from exc
    keys = parse_jwks(document)
    if not keys:
        raise click.ClickException(f"{target} published no keys")
    return keys


@click.group()
def checkpoint() -> None:
    """A checkpoint's offline verifier: cache central's keys, verify QR texts without network."""


@checkpoint.command("sync")
@click.option("--url", required=True, envvar="COALGATE_CENTRAL_URL", help="Central's base URL.")
@click.option(
    "--token",
    envvar="COALGATE_TOKEN",
    default=None,
    help="A checkpoint token (the key set is public; a proxy may want one).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Key set file [default: ${DIR_ENV}/{KEYS_FILE}, ${DIR_ENV}={DEFAULT_DIR}].",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0.1, 300),
    default=10.0,
    show_default=True,
    help="Seconds to wait for central.",
)
def sync(url: str, token: str | None, out: Path | None, timeout_s: float) -> None:
    """Fetch central's key set and keep it for offline verification."""
    keys = fetch_keys(url, token=token, timeout_s=timeout_s)
    path = out or default_keys_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**jwks(keys), "coalgate_sync": {"source": url, "synced_at": int(time.time())}}
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)  # atomic: a verify never reads half a file
    kids = ", ".join(sorted(keys))
    click.echo(f"synced {len(keys)} central key(s) ({kids}) from {url} to {path}")


def _read_keys(path: Path) -> tuple[KeySet, int | None]:
    if not path.exists():
        raise click.ClickException(
            f"no key set at {path}: run `coalgate checkpoint sync --url CENTRAL` while online"
        )
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path} is not a key set file: {exc}") from exc
    synced = document.get("coalgate_sync", {}) if isinstance(document, dict) else {}
    at = synced.get("synced_at") if isinstance(synced, dict) else None
    return parse_jwks(document), at if isinstance(at, int) else None


@checkpoint.command("verify")
@click.argument("qr_text")
@click.option(
    "--keys",
    "keys_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Key set file from `sync` [default: as sync --out].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as one JSON object.")
@click.option("--now", "now_s", type=int, default=None, help="Clock (UTC seconds).")
def verify(qr_text: str, keys_path: Path | None, as_json: bool, now_s: int | None) -> None:
    """Verify a ticket or receipt QR text (QR_TEXT '-' reads stdin) with no network; exit 1
    unless it verifies."""
    path = keys_path or default_keys_path()
    keys, synced_at = _read_keys(path)
    now = int(time.time()) if now_s is None else now_s
    result = verdict(read_text_argument(qr_text), keys, now_s=now)
    if as_json:
        click.echo(json.dumps(
            {**result.to_json(), "keys": str(path), "keys_synced_at": synced_at},
            ensure_ascii=False,
        ))  # fmt: skip
    else:
        click.echo(result.line(now_s=now))
    if not result.valid:
        raise SystemExit(1)
