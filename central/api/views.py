"""What the routes answer: typed dictionaries (FastAPI documents them in the OpenAPI schema)
and the functions that make them from store values. Byte strings are lower-case hex."""

from __future__ import annotations

import hashlib
from typing import Any

from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from central.store.model import (
    Alarm,
    AlarmAck,
    Device,
    DeviceStatus,
    QuarantineEntry,
    Sighting,
    Site,
    StoredRecord,
    StoredTicket,
)
from wire.errors import WireError
from wire.jsonform import record_to_json, to_json_value
from wire.records import decode_record


class Health(TypedDict):
    status: str
    backend: str


class RecordView(TypedDict):
    id: str
    device: str
    site: str
    seq: int
    ts: int
    type: str
    received_at: int
    payload: dict[str, Any] | None  # the signed payload as JSON (the bytes are at …/cose)


class RecordPage(TypedDict):
    items: list[RecordView]
    next: str | None  # pass as ?after= for the next page; null at the end


class QuarantineView(TypedDict):
    digest: str
    reason: str
    detail: str
    topic: str
    device: str | None
    count: int
    first_seen: int
    last_seen: int
    size: int


class AckView(TypedDict):
    at: int
    actor: str
    note: str


class AlarmView(TypedDict):
    id: int
    kind: str
    severity: str
    raised_at: int
    device: str | None
    site: str | None
    detail: dict[str, Any]
    ref: str | None
    ack: AckView | None


class AlarmPage(TypedDict):
    items: list[AlarmView]
    next: int | None


class SiteView(TypedDict):
    id: str
    enterprise: str
    kind: str
    name: str
    lat: float | None
    lon: float | None


class DeviceView(TypedDict):
    id: str
    site: str
    state: str
    public_key: str
    enrolled_at: int
    revoked_at: int | None
    revoked_above_seq: int | None
    status: str | None  # online / offline, from the device's MQTT status; null if never seen


class Enrolled(TypedDict):
    certificate: str  # base64 COSE
    central_keys: dict[str, Any]  # JWKS


class TicketView(TypedDict):
    id: str
    no: str
    state: str
    flags: list[str]
    seller: str
    buyer: str
    seller_site: str
    dest_site: str
    plate: str
    coal: str
    max_net_kg: int
    iat: int
    exp: int
    transit_s: int
    issued_at: int
    quota_period: str
    quota_kg: int
    source_net_kg: int | None
    loaded_at: int | None
    loaded_record: str | None
    dest_net_kg: int | None
    arrived_at: int | None
    arrived_record: str | None
    closed_at: int | None
    revoked_at: int | None
    expired_at: int | None


class BundleSent(TypedDict):
    site: str
    version: int


class Issued(TypedDict):
    id: str
    no: str
    qr: str  # CT1:… for the driver's phone or paper
    state: str
    ticket: TicketView
    bundles: list[BundleSent]  # bundles published (empty without a publisher)


class OfflineChecks(TypedDict):
    signature: bool  # ticket (and certificate, record) signatures under central's keys
    loadable: bool | None  # ticket: before its loading deadline now; receipt: loaded in time
    certified_device: bool | None  # receipt: record signed by the certified device key


class OnlineState(TypedDict):
    ticket_known: bool
    ticket_state: str | None
    ticket_flags: list[str]
    device_state: str | None  # receipt: the device's state at central now
    record_stored: bool | None  # receipt: central holds the weighing record


class Verification(TypedDict):
    kind: str  # ticket / receipt
    valid: bool  # every offline check passed
    reason: str | None  # the first failed check's code
    message: str | None
    checks: OfflineChecks
    ticket: dict[str, Any] | None  # the ticket's claims (cti as hex)
    net_kg: int | None  # receipt: the net loaded
    record: str | None  # receipt: the weighing record's id (hex)
    online: OnlineState


class SightingView(TypedDict):
    id: int
    checkpoint: str
    kind: str  # ticket / receipt (a QR was scanned) / manual (a plate was typed)
    cti: str | None
    plate: str | None  # normalised: typed, or the ticket's
    seen_at: int  # the officer's device clock (ms)
    recorded_at: int  # central's clock (ms)
    valid: bool | None  # the QR verified offline; null for a manual plate
    reason: str | None  # the first failed check's code
    ticket_state: str | None  # the ticket's state at central when recorded
    record: str | None  # receipt: the weighing record's id (hex)


class SightingPage(TypedDict):
    items: list[SightingView]
    next: int | None  # pass as ?after= for the next page; null at the end


class Sighted(TypedDict):
    sighting: SightingView
    verification: Verification | None  # as POST /api/v1/tickets/verify; null if manual


def record_view(record: StoredRecord) -> RecordView:
    try:
        payload: dict[str, Any] | None = record_to_json(decode_record(record.raw))
    except WireError:  # stored bytes verified at ingest; this only guards the display
        payload = None
    return {
        "id": record.record_id.hex(),
        "device": record.device,
        "site": record.site,
        "seq": record.seq,
        "ts": record.ts,
        "type": record.type,
        "received_at": record.received_at,
        "payload": payload,
    }


def quarantine_view(entry: QuarantineEntry) -> QuarantineView:
    return {
        "digest": hashlib.sha256(entry.raw).hexdigest(),
        "reason": entry.reason,
        "detail": entry.detail,
        "topic": entry.topic,
        "device": entry.device,
        "count": entry.count,
        "first_seen": entry.first_seen,
        "last_seen": entry.last_seen,
        "size": len(entry.raw),
    }


def ack_view(ack: AlarmAck) -> AckView:
    return {"at": ack.at, "actor": ack.actor, "note": ack.note}


def alarm_view(alarm: Alarm, ack: AlarmAck | None) -> AlarmView:
    return {
        "id": alarm.id or 0,
        "kind": alarm.kind,
        "severity": alarm.severity,
        "raised_at": alarm.raised_at,
        "device": alarm.device,
        "site": alarm.site,
        "detail": to_json_value(alarm.detail),
        "ref": None if alarm.ref is None else alarm.ref.hex(),
        "ack": None if ack is None else ack_view(ack),
    }


def site_view(site: Site) -> SiteView:
    return {
        "id": site.id,
        "enterprise": site.enterprise,
        "kind": site.kind,
        "name": site.name,
        "lat": site.lat,
        "lon": site.lon,
    }


def device_view(device: Device, status: DeviceStatus | None) -> DeviceView:
    return {
        "id": device.id,
        "site": device.site,
        "state": device.state,
        "public_key": device.public_key.hex(),
        "enrolled_at": device.enrolled_at,
        "revoked_at": device.revoked_at,
        "revoked_above_seq": device.revoked_above_seq,
        "status": None if status is None else status.state,
    }


def ticket_view(ticket: StoredTicket) -> TicketView:
    return {
        "id": ticket.id,
        "no": ticket.no,
        "state": ticket.state,
        "flags": sorted(ticket.flags),
        "seller": ticket.seller,
        "buyer": ticket.buyer,
        "seller_site": ticket.seller_site,
        "dest_site": ticket.dest_site,
        "plate": ticket.plate,
        "coal": ticket.coal,
        "max_net_kg": ticket.max_net_kg,
        "iat": ticket.iat,
        "exp": ticket.exp,
        "transit_s": ticket.transit_s,
        "issued_at": ticket.issued_at,
        "quota_period": ticket.quota_period,
        "quota_kg": ticket.quota_kg,
        "source_net_kg": ticket.source_net_kg,
        "loaded_at": ticket.loaded_at,
        "loaded_record": None if ticket.loaded_record is None else ticket.loaded_record.hex(),
        "dest_net_kg": ticket.dest_net_kg,
        "arrived_at": ticket.arrived_at,
        "arrived_record": None if ticket.arrived_record is None else ticket.arrived_record.hex(),
        "closed_at": ticket.closed_at,
        "revoked_at": ticket.revoked_at,
        "expired_at": ticket.expired_at,
    }


def sighting_view(sighting: Sighting) -> SightingView:
    return {
        "id": sighting.id or 0,
        "checkpoint": sighting.checkpoint,
        "kind": sighting.kind,
        "cti": None if sighting.cti is None else sighting.cti.hex(),
        "plate": sighting.plate,
        "seen_at": sighting.seen_at,
        "recorded_at": sighting.recorded_at,
        "valid": sighting.valid,
        "reason": sighting.reason,
        "ticket_state": sighting.ticket_state,
        "record": None if sighting.record_id is None else sighting.record_id.hex(),
    }
