"""Sightings: a checkpoint officer records each truck seen on the road, with the verdict of the
QR it showed (verified as ``POST /api/v1/tickets/verify`` does) or the plate typed by hand.

Sightings are operational data (the truck monitoring feed's checkpoints of a trip), not
changes to the registry: they are stored with the token that recorded them and are not
written to the audit trail.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query

from central.api.auth import Principal, allow
from central.api.bodies import SightingBody
from central.api.context import Context
from central.api.errors import forbidden, invalid
from central.api.routes_records import HEX32, ID, MAX_INT, Limit
from central.api.verify import verify_qr
from central.api.views import Sighted, SightingPage, Verification, sighting_view
from central.store.model import Sighting, SightingQuery, TicketState
from wire.errors import WireError
from wire.plates import normalize_plate

router = APIRouter(prefix="/api/v1")

SEEN_PAST_MS = 7 * 24 * 3_600_000
"""How far before central's clock ``seen_at`` may be: an officer's device offline for a week
still uploads its sightings."""
SEEN_FUTURE_MS = 5 * 60_000
"""How far after central's clock ``seen_at`` may be (the device's clock drift)."""


def _checkpoint(principal: Principal) -> str:
    if principal.checkpoint is None:
        raise forbidden(
            "this checkpoint token names no checkpoint (made before sightings): create one"
            " with `coalgate central token create --role checkpoint --checkpoint CP`"
        )
    return principal.checkpoint


def _plate(text: str) -> str:
    try:
        return normalize_plate(text)
    except WireError as exc:
        raise invalid("plate", exc.message) from exc


def _claimed(verification: Verification) -> tuple[bytes | None, str | None]:
    """The cti and plate the QR's ticket claims (verified or not), if it could be decoded."""
    claims: dict[str, Any] = verification["ticket"] or {}
    cti_hex, plate = claims.get("cti"), claims.get("plate")
    cti = None
    if isinstance(cti_hex, str) and len(cti_hex) == 32:
        try:
            cti = bytes.fromhex(cti_hex)
        except ValueError:
            cti = None
    return cti, plate if isinstance(plate, str) else None


@router.post("/sightings", summary="Record a truck seen at the token's checkpoint")
def record_sighting(
    context: Context,
    principal: Annotated[Principal, allow("checkpoint")],
    body: SightingBody,
) -> Sighted:
    """A ticket (``CT1:``) or receipt (``CR1:``) QR text, a plate typed by hand, or both (the
    typed plate then names the sighting). The QR is verified exactly as by
    ``POST /api/v1/tickets/verify``, and a QR that does not verify is recorded too, with
    ``valid`` false and the reason. ``seen_at`` (the officer's device clock, default now) must
    lie within 7 days before and 5 minutes after central's clock."""
    checkpoint = _checkpoint(principal)
    if body.qr is None and body.plate is None:
        raise invalid("qr", "give a QR text (qr) or a plate typed by hand (plate)")
    now = context.clock()
    seen_at = now if body.seen_at is None else body.seen_at
    if not now - SEEN_PAST_MS <= seen_at <= now + SEEN_FUTURE_MS:
        raise invalid("seen_at", "must lie within 7 days before and 5 minutes after now")
    typed = None if body.plate is None else _plate(body.plate)
    verification: Verification | None = None
    if body.qr is None:
        sighting = Sighting(
            checkpoint=checkpoint, token=principal.token_id, kind="manual", cti=None,
            plate=typed, seen_at=seen_at, recorded_at=now,
        )  # fmt: skip
    else:
        verification = verify_qr(
            context.store, context.keyring, body.qr, issuer=context.settings.issuer, now_ms=now
        )
        sighting = qr_sighting(
            checkpoint, principal, verification, plate=typed, seen_at=seen_at, now_ms=now
        )
    stored = context.store.add_sighting(sighting)
    return {"sighting": sighting_view(stored), "verification": verification}


def qr_sighting(
    checkpoint: str,
    principal: Principal,
    verification: Verification,
    *,
    plate: str | None,
    seen_at: int,
    now_ms: int,
) -> Sighting:
    """The sighting of a verified (or refused) QR text: what the QR claims, and the verdict."""
    cti, claimed_plate = _claimed(verification)
    record = verification["record"]
    return Sighting(
        checkpoint=checkpoint,
        token=principal.token_id,
        kind="receipt" if verification["kind"] == "receipt" else "ticket",
        cti=cti,
        plate=plate or claimed_plate,
        seen_at=seen_at,
        recorded_at=now_ms,
        valid=verification["valid"],
        reason=verification["reason"],
        ticket_state=cast(TicketState | None, verification["online"]["ticket_state"]),
        record_id=None if record is None else bytes.fromhex(record),
    )


def record_checkpoint_verification(
    context: Context, principal: Principal, verification: Verification, *, now_ms: int
) -> None:
    """A checkpoint that verifies a QR has seen the truck: every such verification is a
    sighting, so the trucks feed sees checkpoints where officers only verified.
    A checkpoint token made before sightings (no checkpoint) records nothing."""
    if principal.role != "checkpoint" or principal.checkpoint is None:
        return
    sighting = qr_sighting(
        principal.checkpoint, principal, verification, plate=None, seen_at=now_ms, now_ms=now_ms
    )
    context.store.add_sighting(sighting)


@router.get("/sightings", summary="Sightings, ascending by id (a checkpoint sees its own)")
def list_sightings(
    *,
    context: Context,
    principal: Annotated[Principal, allow("regulator", "checkpoint")],
    checkpoint: Annotated[str | None, Query(pattern=ID, description="Checkpoint id")] = None,
    cti: Annotated[str | None, Query(pattern=HEX32, description="Ticket id (hex)")] = None,
    plate: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="Cursor: a sighting id")] = 0,
    limit: Limit = 100,
) -> SightingPage:
    """Regulator: every checkpoint's; checkpoint token: its own checkpoint's only (asking for
    another checkpoint is a 403)."""
    if principal.role == "checkpoint":
        own = _checkpoint(principal)
        if checkpoint is not None and checkpoint != own:
            raise forbidden(f"a checkpoint token sees {own}'s sightings only")
        checkpoint = own
    query = SightingQuery(
        checkpoint=checkpoint,
        cti=None if cti is None else bytes.fromhex(cti),
        plate=None if plate is None else _plate(plate),
        after=after,
        limit=limit,
    )
    views = [sighting_view(s) for s in context.store.find_sightings(query)]
    return {"items": views, "next": views[-1]["id"] if len(views) == limit else None}
