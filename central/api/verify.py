"""``POST /api/v1/tickets/verify`` (and ``POST /api/v1/sightings``, through
:func:`verify_qr`): what a checkpoint learns from a QR text.

First what verifies *offline*, exactly as a checkpoint without network would check it (wire's
own verifiers under central's key set), then the *online* state central holds: the ticket's
state and flags, the device's enrollment, whether the weighing record reached central.
"""

from __future__ import annotations

from typing import Any

from central.api.errors import invalid
from central.api.views import OfflineChecks, OnlineState, Verification
from central.errors import NotFoundError
from central.keyring import Keyring
from central.store.base import Store
from wire.errors import ExpiredError, IssuerError, ReceiptError, WireError
from wire.receipts import split_receipt, verify_receipt
from wire.records import record_id
from wire.tickets import Ticket, decode_ticket, ticket_from_qr, verify_ticket

TICKET_PREFIX = "CT1:"
RECEIPT_PREFIX = "CR1:"
_DEVICE_CHECKS = {"certificate_validity", "device", "site"}


def _online(store: Store, cti: bytes | None) -> OnlineState:
    state: OnlineState = {
        "ticket_known": False,
        "ticket_state": None,
        "ticket_flags": [],
        "device_state": None,
        "record_stored": None,
    }
    if cti is None:
        return state
    try:
        stored = store.get_ticket(cti)
    except NotFoundError:
        return state
    state["ticket_known"] = True
    state["ticket_state"] = stored.state
    state["ticket_flags"] = sorted(stored.flags)
    return state


def _claims(ticket: Ticket | None) -> dict[str, Any] | None:
    return None if ticket is None else ticket.to_json()


def _failed(
    kind: str,
    exc: WireError,
    checks: OfflineChecks,
    ticket: Ticket | None,
    online: OnlineState,
    *,
    record: bytes | None = None,
) -> Verification:
    return {
        "kind": kind,
        "valid": False,
        "reason": getattr(exc, "check", None) or exc.reason,
        "message": exc.message,
        "checks": checks,
        "ticket": _claims(ticket),
        "net_kg": None,
        "record": None if record is None else record.hex(),
        "online": online,
    }


def verify_ticket_qr(
    store: Store, keyring: Keyring, text: str, *, issuer: str, now_ms: int
) -> Verification:
    checks: OfflineChecks = {"signature": False, "loadable": None, "certified_device": None}
    shown: Ticket | None = None
    try:
        raw = ticket_from_qr(text)
        shown = decode_ticket(raw)
        ticket = verify_ticket(raw, keyring.published, now_s=None, issuer=issuer)
    except WireError as exc:
        if isinstance(exc, IssuerError):
            checks["signature"] = True
        online = _online(store, None if shown is None else shown.cti)
        return _failed("ticket", exc, checks, shown, online)
    checks["signature"] = True
    checks["loadable"] = now_ms // 1000 < ticket.exp
    return {
        "kind": "ticket",
        "valid": True,
        "reason": None,
        "message": None,
        "checks": checks,
        "ticket": _claims(ticket),
        "net_kg": None,
        "record": None,
        "online": _online(store, ticket.cti),
    }


def verify_receipt_qr(store: Store, keyring: Keyring, text: str, *, issuer: str) -> Verification:
    checks: OfflineChecks = {"signature": False, "loadable": None, "certified_device": None}
    shown: Ticket | None = None
    record: bytes | None = None
    try:
        ticket_raw, record_raw, _certificate = split_receipt(text)
        record = record_id(record_raw)
        shown = decode_ticket(ticket_raw)
    except WireError:
        pass  # verify_receipt below raises the same error, typed
    cti = None if shown is None else shown.cti
    try:
        receipt = verify_receipt(text, keyring.published)
    except ReceiptError as exc:
        checks["signature"] = True
        checks["certified_device"] = exc.check not in _DEVICE_CHECKS
        checks["loadable"] = exc.check != "deadline"
        return _failed("receipt", exc, checks, shown, _online(store, cti), record=record)
    except WireError as exc:
        checks["signature"] = isinstance(exc, ExpiredError)
        return _failed("receipt", exc, checks, shown, _online(store, cti), record=record)
    checks = {"signature": True, "loadable": True, "certified_device": True}
    if receipt.ticket.iss != issuer:
        wrong = IssuerError(f"ticket issued by {receipt.ticket.iss!r}, expected {issuer!r}")
        return _failed("receipt", wrong, checks, shown, _online(store, cti), record=record)
    online = _online(store, receipt.ticket.cti)
    try:
        device = store.get_device(receipt.certificate.device)
    except NotFoundError:
        online["device_state"] = "unknown"
    else:
        same_key = device.public_key == receipt.certificate.key.raw
        online["device_state"] = device.state if same_key else "other_key"
    online["record_stored"] = store.record_by_id(receipt.record.id) is not None
    return {
        "kind": "receipt",
        "valid": True,
        "reason": None,
        "message": None,
        "checks": checks,
        "ticket": _claims(receipt.ticket),
        "net_kg": receipt.weighing.net_kg,
        "record": receipt.record.id.hex(),
        "online": online,
    }


def verify_qr(
    store: Store, keyring: Keyring, text: str, *, issuer: str, now_ms: int
) -> Verification:
    """A ticket (``CT1:``) or receipt (``CR1:``) QR text, verified as above; any other text
    is a 422 naming the ``qr`` field."""
    text = text.strip()
    if text.startswith(TICKET_PREFIX):
        return verify_ticket_qr(store, keyring, text, issuer=issuer, now_ms=now_ms)
    if text.startswith(RECEIPT_PREFIX):
        return verify_receipt_qr(store, keyring, text, issuer=issuer)
    raise invalid("qr", f"must start with {TICKET_PREFIX} or {RECEIPT_PREFIX}")
