"""What a ticket request must satisfy, quota periods and limits, and the reconciliation
tolerance. Pure: the caller passes in what the registry holds and the time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from central.errors import TicketError
from central.store.model import Enterprise, Site
from wire.errors import WireError
from wire.ids import check_id
from wire.plates import check_vehicle_plate, normalize_plate
from wire.tickets import HOURS_48

MAX_VALID_S = 30 * 24 * 3600  # a loading deadline further out than 30 days is a typo
MAX_TRANSIT_S = 14 * 24 * 3600
MAX_NET_KG = 100_000  # no road vehicle carries more (GB 1589: 49 t gross)


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRequest:
    """An enterprise's request for one ticket, as an adapter (CLI, API) parsed it."""

    enterprise: str
    seller_site: str
    buyer: str
    plate: str
    coal: str
    max_net_kg: int
    dest_site: str
    valid_s: int = HOURS_48
    transit_s: int = HOURS_48


def check_request(
    request: TicketRequest,
    *,
    enterprise: Enterprise | None,
    seller_site: Site | None,
    dest_site: Site | None,
    dest_active_devices: int,
) -> TicketRequest:
    """The request with its plate normalised, or ``TicketError`` naming the first rule it
    breaks: the enterprise exists; the seller site exists and is the enterprise's; the
    destination is another site, enrolled (at least one active device); a tractor/truck
    plate; a coal type; 1..100 000 kg; validity and transit time within bounds."""
    try:
        check_id(request.enterprise, field="enterprise")
        check_id(request.buyer, field="buyer")
    except WireError as exc:
        raise TicketError(exc.message) from exc
    if enterprise is None:
        raise TicketError(f"no enterprise {request.enterprise!r}")
    if seller_site is None:
        raise TicketError(f"no seller site {request.seller_site!r}")
    if seller_site.enterprise != enterprise.id:
        raise TicketError(
            f"site {seller_site.id!r} belongs to {seller_site.enterprise!r}, "
            f"not to {enterprise.id!r}"
        )
    if dest_site is None:
        raise TicketError(f"no destination site {request.dest_site!r}")
    if dest_site.id == seller_site.id:
        raise TicketError("the destination must be another site than the seller's")
    if dest_active_devices < 1:
        raise TicketError(
            f"destination {dest_site.id!r} is not enrolled (it has no active device), "
            "so nobody could weigh the arrival"
        )
    try:
        plate = normalize_plate(request.plate)
        check_vehicle_plate(plate, field="plate")
    except WireError as exc:
        raise TicketError(exc.message) from exc
    coal = request.coal.strip()
    if not coal or len(coal) > 32:
        raise TicketError("coal must be a coal type code of 1 to 32 characters")
    if not 0 < request.max_net_kg <= MAX_NET_KG:
        raise TicketError(f"max_net_kg must be 1 to {MAX_NET_KG}, not {request.max_net_kg}")
    if not 0 < request.valid_s <= MAX_VALID_S:
        raise TicketError(f"validity must be 1 s to 30 days, not {request.valid_s} s")
    if not 0 < request.transit_s <= MAX_TRANSIT_S:
        raise TicketError(f"transit time must be 1 s to 14 days, not {request.transit_s} s")
    return TicketRequest(
        enterprise=request.enterprise,
        seller_site=request.seller_site,
        buyer=request.buyer,
        plate=plate,
        coal=coal,
        max_net_kg=request.max_net_kg,
        dest_site=request.dest_site,
        valid_s=request.valid_s,
        transit_s=request.transit_s,
    )


def ticket_number(cti: bytes, *, iat_s: int) -> str:
    """``20261201-1A2B3C4D``: the CST issue date and the first 32 bits of the ticket id, for
    people reading it over a radio (unique in the store; the id itself stays the key)."""
    day = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=iat_s)).astimezone(
        timezone(timedelta(hours=8))
    )
    return f"{day:%Y%m%d}-{cti[:4].hex().upper()}"
