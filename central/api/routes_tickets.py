"""E-tickets: request within quota, list, read, revoke, and verify a QR text."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from central.api.auth import Principal, allow, require_site
from central.api.bodies import TicketBody, VerifyBody
from central.api.context import ApiContext, Context
from central.api.errors import forbidden
from central.api.routes_records import ID
from central.api.routes_sightings import record_checkpoint_verification
from central.api.verify import verify_qr
from central.api.views import BundleSent, Issued, TicketView, Verification, ticket_view
from central.errors import PublishError
from central.store.model import StoredTicket, TicketState
from central.ticketing import lifecycle
from central.ticketing import service as ticketing
from central.ticketing.rules import TicketRequest
from wire.tickets import ticket_qr

router = APIRouter(prefix="/api/v1")

Cti = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="Ticket id (32 hex)")]


def _publish(context: ApiContext, ticket: StoredTicket) -> list[BundleSent]:
    """Publish the bundles of the sites ``ticket`` concerns; a failure is logged, not
    answered: the change is stored, and the next change sends a newer full snapshot."""
    if context.publisher is None:
        return []
    try:
        bundles = context.publisher.publish_sites(lifecycle.concerned_sites(ticket))
    except PublishError as exc:
        context.logger.warning("bundles for ticket %s not published: %s", ticket.id, exc.message)
        return []
    return [{"site": b.site, "version": b.version} for b in bundles]


def _visible(principal: Principal, ticket: StoredTicket) -> None:
    if principal.role == "enterprise" and principal.enterprise not in (
        ticket.seller,
        ticket.buyer,
    ):
        raise forbidden(f"ticket {ticket.id} is neither sold nor bought by {principal.enterprise}")


@router.post("/tickets", summary="Request a ticket (enterprise, for its own seller site)")
def request_ticket(
    context: Context,
    principal: Annotated[Principal, allow("enterprise")],
    body: TicketBody,
) -> Issued:
    """Issued within the enterprise's remaining quota (409 ``quota_exceeded`` otherwise); the
    bundles of the seller and destination sites are published at once."""
    require_site(context, principal, body.seller_site)
    assert principal.enterprise is not None  # an enterprise token always names one
    request = TicketRequest(
        enterprise=principal.enterprise,
        seller_site=body.seller_site,
        buyer=body.buyer,
        plate=body.plate,
        coal=body.coal,
        max_net_kg=body.max_net_kg,
        dest_site=body.dest_site,
        valid_s=body.valid_hours * 3600,
        transit_s=body.transit_hours * 3600,
    )
    issued = ticketing.issue(
        context.store,
        context.keyring,
        request,
        issuer=context.settings.issuer,
        now_ms=context.clock(),
        actor=principal.actor,
    )
    return {
        "id": issued.stored.id,
        "no": issued.stored.no,
        "qr": ticket_qr(issued.ticket),
        "state": issued.stored.state,
        "ticket": ticket_view(issued.stored),
        "bundles": _publish(context, issued.stored),
    }


@router.get("/tickets", summary="Tickets in issue order (an enterprise sees its own)")
def list_tickets(
    *,
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    state: TicketState | None = None,
    enterprise: Annotated[str | None, Query(pattern=ID, description="Seller or buyer")] = None,
    site: Annotated[str | None, Query(pattern=ID, description="Seller site or dest")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> list[TicketView]:
    if principal.role == "enterprise":
        if enterprise is not None and enterprise != principal.enterprise:
            raise forbidden(f"an enterprise token sees {principal.enterprise}'s tickets only")
        enterprise = principal.enterprise
    tickets = context.store.list_tickets(state=state, enterprise=enterprise, site=site, limit=limit)
    return [ticket_view(t) for t in tickets]


@router.get("/tickets/{cti}", summary="One ticket")
def get_ticket(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    cti: Cti,
) -> TicketView:
    ticket = context.store.get_ticket(bytes.fromhex(cti))
    _visible(principal, ticket)
    return ticket_view(ticket)


@router.post("/tickets/{cti}/revoke", summary="Revoke an issued or loaded ticket")
def revoke_ticket(
    context: Context,
    principal: Annotated[Principal, allow("admin", "enterprise")],
    cti: Cti,
) -> TicketView:
    """An enterprise revokes the tickets it sold; the concerned bundles are published."""
    value = bytes.fromhex(cti)
    if principal.role == "enterprise":
        ticket = context.store.get_ticket(value)
        if ticket.seller != principal.enterprise:
            raise forbidden(f"ticket {cti} was not sold by {principal.enterprise}")
    revoked = ticketing.revoke(context.store, value, actor=principal.actor, now_ms=context.clock())
    _publish(context, revoked)
    return ticket_view(revoked)


@router.post("/tickets/verify", summary="Verify a ticket (CT1:) or receipt (CR1:) QR text")
def verify(
    context: Context,
    principal: Annotated[Principal, allow("checkpoint", "regulator")],
    body: VerifyBody,
) -> Verification:
    """What verifies offline (signatures under central's keys, the loading deadline, the
    certified device) and what central knows now (ticket state and flags, the device, the
    record). A text that does not verify is a 200 with ``valid`` false and the reason. A
    checkpoint's verification is also recorded as a sighting at its checkpoint."""
    now = context.clock()
    verification = verify_qr(
        context.store, context.keyring, body.qr, issuer=context.settings.issuer, now_ms=now
    )
    record_checkpoint_verification(context, principal, verification, now_ms=now)
    return verification
