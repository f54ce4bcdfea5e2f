"""The driver's receipt: ticket + weighing record + device certificate in one QR (WIRE.md).

``CR1:`` + Base45(zlib(CBOR array of three byte strings)). A checkpoint verifies it with
nothing but central's key set: the ticket and the certificate under central's keys, the record
under the certified device key, and then that the three agree — so the officer sees the net
actually loaded, signed at the gate, with no network.
"""

from __future__ import annotations

from dataclasses import dataclass

from wire import cbor, qr
from wire.bodies import WeighingBody
from wire.certificates import Certificate, verify_certificate
from wire.errors import ReceiptError, UndecodableError
from wire.keys import KeySet
from wire.records import Record, verify_record
from wire.tickets import Ticket, verify_ticket

QR_BUDGET = 1600


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    ticket: Ticket
    record: Record
    weighing: WeighingBody
    certificate: Certificate


def encode_receipt(*, ticket: bytes, record: bytes, certificate: bytes) -> str:
    """The receipt's QR text from the three objects' COSE bytes."""
    return qr.encode_qr(qr.RECEIPT_PREFIX, cbor.dumps([ticket, record, certificate]))


def split_receipt(text: str) -> tuple[bytes, bytes, bytes]:
    """The three COSE byte strings inside a ``CR1:`` text (unverified)."""
    data = qr.decode_qr(text, prefix=qr.RECEIPT_PREFIX, cap=qr.RECEIPT_INFLATE_CAP)
    value = cbor.loads(data)
    if not (isinstance(value, list) and len(value) == 3 and all(type(v) is bytes for v in value)):
        raise UndecodableError("a receipt is a CBOR array of three byte strings")
    cbor.check_canonical(data, value, what="receipt")
    return value[0], value[1], value[2]


def _require(condition: bool, check: str, message: str) -> None:
    if not condition:
        raise ReceiptError(f"receipt: {message}", check=check)


def verify_receipt(text: str, central_keys: KeySet) -> Receipt:
    """Every check of WIRE.md "Receipt", in order; the first failure is raised, typed."""
    ticket_bytes, record_bytes, certificate_bytes = split_receipt(text)
    ticket = verify_ticket(ticket_bytes, central_keys, now_s=None)
    certificate = verify_certificate(certificate_bytes, central_keys, now_s=None)
    record = verify_record(record_bytes, KeySet([certificate.key]))
    _require(
        certificate.iat * 1000 <= record.ts < certificate.exp * 1000,
        "certificate_validity",
        f"the certificate was not valid when the record was signed ({record.ts} ms)",
    )
    _require(
        certificate.device == record.kid == record.device,
        "device",
        f"certificate subject {certificate.device!r} is not the record's device {record.device!r}",
    )
    _require(
        certificate.site == record.site == ticket.seller_site,
        "site",
        f"certificate site {certificate.site!r}, record site {record.site!r} and ticket seller "
        f"site {ticket.seller_site!r} differ",
    )
    body = record.body
    _require(
        isinstance(body, WeighingBody), "type", f"the record is a {record.type}, not a weighing"
    )
    assert isinstance(body, WeighingBody)  # for the type checker; _require raised otherwise
    _require(body.ticket == ticket.cti, "ticket", "the weighing names another ticket")
    _require(
        body.plate == ticket.plate, "plate", f"weighed {body.plate}, ticket is for {ticket.plate}"
    )
    _require(body.direction == "out", "direction", "the weighing is not a dispatch (direction out)")
    _require(body.decision == "release", "decision", "the weighing did not release the truck")
    _require(
        body.net_kg is not None and body.net_kg > 0, "net", "the weighing carries no positive net"
    )
    assert body.net_kg is not None
    _require(
        body.net_kg <= ticket.max_net_kg,
        "max_net",
        f"net {body.net_kg} kg is above the ticket's maximum {ticket.max_net_kg} kg",
    )
    _require(
        record.ts <= ticket.exp * 1000,
        "deadline",
        f"loaded at {record.ts} ms, after the ticket's loading deadline {ticket.exp} s",
    )
    return Receipt(ticket=ticket, record=record, weighing=body, certificate=certificate)
