"""Issue, revoke and sweep tickets: the rules, central's key and the store, in that order.

Adapters (CLI, API) call these; a :class:`~central.ticketing.bundles.BundlePublisher`, when
given, rebuilds and publishes the bundles of every site a change concerns.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from central.errors import ConflictError, NotFoundError, TicketError
from central.keyring import Keyring
from central.store.base import Store
from central.store.model import Alarm, StoredTicket
from central.ticketing import lifecycle
from central.ticketing.policy import DEFAULT_QUOTA, QuotaPolicy
from central.ticketing.rules import TicketRequest, check_request, ticket_number
from wire.tickets import Ticket, issue_ticket

T = TypeVar("T")

_NUMBER_ATTEMPTS = 5  # a fresh random cti when the 32-bit number collides (rare)


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    ticket: Ticket  # the signed CWT (ticket_qr(ticket) is its QR text)
    stored: StoredTicket


def issue(
    store: Store,
    keyring: Keyring,
    request: TicketRequest,
    *,
    issuer: str,
    now_ms: int,
    actor: str,
    policy: QuotaPolicy = DEFAULT_QUOTA,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> Issued:
    """Check ``request`` against the registry, sign the ticket and store it within quota.

    ``TicketError`` (a rule), ``QuotaExceededError`` (not enough quota left).
    """
    enterprise = _maybe(lambda: store.get_enterprise(request.enterprise))
    seller_site = _maybe(lambda: store.get_site(request.seller_site))
    dest_site = _maybe(lambda: store.get_site(request.dest_site))
    active = sum(d.state == "active" for d in store.list_devices(site=request.dest_site))
    checked = check_request(
        request,
        enterprise=enterprise,
        seller_site=seller_site,
        dest_site=dest_site,
        dest_active_devices=active,
    )
    if enterprise is None:  # check_request refused it already; this tells the type checker
        raise TicketError(f"no enterprise {request.enterprise!r}")
    iat = now_ms // 1000
    for attempt in range(1, _NUMBER_ATTEMPTS + 1):
        cti = random_bytes(16)
        ticket = issue_ticket(
            keyring.signing,
            iss=issuer,
            iat=iat,
            exp=iat + checked.valid_s,
            cti=cti,
            seller_site=checked.seller_site,
            seller=checked.enterprise,
            buyer=checked.buyer,
            plate=checked.plate,
            coal=checked.coal,
            max_net_kg=checked.max_net_kg,
            dest_site=checked.dest_site,
            no=ticket_number(cti, iat_s=iat),
            transit_s=checked.transit_s,
        )
        row = StoredTicket(
            cti=ticket.cti,
            no=ticket.no,
            raw=ticket.raw,
            seller=ticket.seller,
            buyer=ticket.buyer,
            seller_site=ticket.seller_site,
            dest_site=ticket.dest_site,
            plate=ticket.plate,
            coal=ticket.coal,
            max_net_kg=ticket.max_net_kg,
            iat=ticket.iat,
            exp=ticket.exp,
            transit_s=ticket.transit_s,
            issued_at=now_ms,
            quota_period=policy.period_of(now_ms),
            quota_kg=ticket.max_net_kg,  # reserved until loaded
        )
        try:
            stored = store.issue_ticket(
                row, limit_kg=policy.limit_kg(enterprise), actor=actor, at=now_ms
            )
        except ConflictError:
            if attempt == _NUMBER_ATTEMPTS:
                raise
            continue
        return Issued(ticket=ticket, stored=stored)
    raise AssertionError("unreachable")  # pragma: no cover


def _maybe(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except NotFoundError:
        return None


def revoke(store: Store, cti: bytes, *, actor: str, now_ms: int) -> StoredTicket:
    """Revoke a ticket (``TicketStateError`` unless issued or loaded)."""
    return store.revoke_ticket(cti, actor=actor, at=now_ms)


def sweep(store: Store, *, now_ms: int) -> tuple[frozenset[str], list[Alarm]]:
    """Expire and flag by the clock; return the sites whose bundles changed and the alarms."""
    result = store.sweep_tickets(now_ms=now_ms)
    sites: set[str] = set()
    for ticket in result.changed:
        if ticket.state == "expired":
            sites |= lifecycle.concerned_sites(ticket)
    return frozenset(sites), list(result.alarms)


def parse_cti(text: str) -> bytes:
    """A ticket id from its 32 hex characters (WIRE.md), or ``TicketError``."""
    value = text.strip().lower()
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise TicketError(f"a ticket id is 32 hex characters, not {text!r}")
    return bytes.fromhex(value)
