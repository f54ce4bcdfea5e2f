"""E-tickets: CWTs signed by central with WIRE.md's integer claim keys, and their QR text.

A checkpoint verifies a ticket offline with central's key set and a clock *it* passes in; the
loading deadline (``exp``) is checked only when the caller asks, because a ticket loaded in
time stays verifiable for the rest of its trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wire import central, cose, qr
from wire.errors import ExpiredError, IssuerError, SchemaError
from wire.fields import Fields
from wire.ids import check_id
from wire.keys import KeySet, SigningKey
from wire.plates import check_vehicle_plate

HOURS_48 = 48 * 3600

ISS, SUB, EXP, IAT, CTI, CNF = 1, 2, 4, 6, 7, 8
SELLER_SITE = -65537
SELLER = -65538
BUYER = -65539
PLATE = -65540
COAL = -65541
MAX_NET_KG = -65542
DEST_SITE = -65543
NUMBER = -65544
TRANSIT_S = -65545

CLAIM_NAMES = {
    ISS: "iss",
    IAT: "iat",
    EXP: "exp",
    CTI: "cti",
    SELLER_SITE: "seller_site",
    SELLER: "seller",
    BUYER: "buyer",
    PLATE: "plate",
    COAL: "coal",
    MAX_NET_KG: "max_net_kg",
    DEST_SITE: "dest_site",
    NUMBER: "no",
    TRANSIT_S: "transit_s",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    """A verified e-ticket (``raw`` holds its exact COSE bytes)."""

    raw: bytes
    kid: str
    iss: str
    iat: int
    exp: int
    cti: bytes
    seller_site: str
    seller: str
    buyer: str
    plate: str
    coal: str
    max_net_kg: int
    dest_site: str
    no: str
    transit_s: int

    @property
    def id(self) -> str:
        """The ticket id as text: 32 lower-case hex characters (WIRE.md)."""
        return self.cti.hex()

    def claims(self) -> dict[int, Any]:
        return {
            ISS: self.iss,
            IAT: self.iat,
            EXP: self.exp,
            CTI: self.cti,
            SELLER_SITE: self.seller_site,
            SELLER: self.seller,
            BUYER: self.buyer,
            PLATE: self.plate,
            COAL: self.coal,
            MAX_NET_KG: self.max_net_kg,
            DEST_SITE: self.dest_site,
            NUMBER: self.no,
            TRANSIT_S: self.transit_s,
        }

    def check_loadable(self, *, now_s: int) -> None:
        """Raise ``ExpiredError`` unless a truck may still be loaded on it at ``now_s``."""
        if now_s >= self.exp:
            raise ExpiredError(
                f"ticket {self.no} had to be loaded before {self.exp} (now {now_s})",
                limit=self.exp,
                now=now_s,
            )

    def to_json(self) -> dict[str, Any]:
        return {name: self.claims()[key] for key, name in CLAIM_NAMES.items()} | {
            "cti": self.id,
            "kid": self.kid,
        }


def issue_ticket(
    key: SigningKey,
    *,
    iss: str,
    iat: int,
    cti: bytes,
    seller_site: str,
    seller: str,
    buyer: str,
    plate: str,
    coal: str,
    max_net_kg: int,
    dest_site: str,
    no: str,
    exp: int | None = None,
    transit_s: int = HOURS_48,
) -> Ticket:
    """Sign a ticket; ``exp`` defaults to 48 h after ``iat`` (WIRE.md)."""
    claims: dict[int, Any] = {
        ISS: iss,
        IAT: iat,
        EXP: exp if exp is not None else iat + HOURS_48,
        CTI: cti,
        SELLER_SITE: seller_site,
        SELLER: seller,
        BUYER: buyer,
        PLATE: plate,
        COAL: coal,
        MAX_NET_KG: max_net_kg,
        DEST_SITE: dest_site,
        NUMBER: no,
        TRANSIT_S: transit_s,
    }
    _read_claims(claims, raw=b"", kid=key.kid)  # the rules a verifier applies, before signing
    raw = central.sign_central(claims, key)
    return _read_claims(claims, raw=raw, kid=key.kid)


def _read_claims(claims: dict[Any, Any], *, raw: bytes, kid: str) -> Ticket:
    unknown = set(claims) - set(CLAIM_NAMES)
    if unknown:
        raise SchemaError(f"ticket has unknown claims {sorted(unknown, key=repr)}", field="ticket")
    fields = Fields({CLAIM_NAMES.get(k, k): v for k, v in claims.items()}, where="ticket")
    iat = fields.uint("iat")
    exp = fields.uint("exp")
    if exp <= iat:
        raise fields.fail("exp", "must be after iat")
    plate = check_vehicle_plate(fields.text("plate", max_len=16), field="ticket.plate")
    ticket = Ticket(
        raw=raw,
        kid=kid,
        iss=fields.text("iss", max_len=63),
        iat=iat,
        exp=exp,
        cti=fields.bstr("cti", size=16),
        seller_site=check_id(fields.text("seller_site", max_len=63), field="ticket.seller_site"),
        seller=check_id(fields.text("seller", max_len=63), field="ticket.seller"),
        buyer=check_id(fields.text("buyer", max_len=63), field="ticket.buyer"),
        plate=plate,
        coal=fields.text("coal", max_len=32),
        max_net_kg=fields.uint("max_net_kg"),
        dest_site=check_id(fields.text("dest_site", max_len=63), field="ticket.dest_site"),
        no=fields.text("no", max_len=32),
        transit_s=fields.uint("transit_s"),
    )
    if ticket.max_net_kg == 0:
        raise fields.fail("max_net_kg", "must be above zero")
    return ticket


def verify_ticket(
    data: bytes, keys: KeySet, *, now_s: int | None, issuer: str | None = None
) -> Ticket:
    """Verify a ticket offline: signature by a central key, claims, issuer, loading deadline.

    ``now_s`` is the caller's clock in seconds; pass ``None`` to skip the loading deadline
    (a ticket already loaded, checked in transit or at arrival).
    """
    message = central.verify_central(data, keys, what="ticket")
    ticket = _read_claims(message.payload_map(what="ticket"), raw=data, kid=message.kid)
    if issuer is not None and ticket.iss != issuer:
        raise IssuerError(f"ticket issued by {ticket.iss!r}, expected {issuer!r}")
    if now_s is not None:
        ticket.check_loadable(now_s=now_s)
    return ticket


def decode_ticket(data: bytes) -> Ticket:
    """Decode a ticket and check its structure and claims, *not* its signature (for display)."""
    message = cose.parse_sign1(data, what="ticket")
    return _read_claims(message.payload_map(what="ticket"), raw=data, kid=message.kid)


def ticket_qr(ticket: Ticket) -> str:
    """``CT1:`` + Base45(zlib(COSE bytes)): what the driver's phone or paper shows."""
    return qr.encode_qr(qr.TICKET_PREFIX, ticket.raw)


def ticket_from_qr(text: str) -> bytes:
    """The ticket's COSE bytes inside a ``CT1:`` QR text (verify them with verify_ticket)."""
    return qr.decode_qr(text, prefix=qr.TICKET_PREFIX, cap=qr.TICKET_INFLATE_CAP)
