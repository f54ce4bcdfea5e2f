"""Records, quarantine and alarms: what central received, what it refused, what it raised."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from central.api.auth import Principal, allow, own_sites, require_site
from central.api.bodies import AckBody
from central.api.context import Context
from central.api.errors import invalid, not_found
from central.api.views import (
    AlarmPage,
    AlarmView,
    QuarantineView,
    RecordPage,
    RecordView,
    alarm_view,
    quarantine_view,
    record_view,
)
from central.store.model import RecordCursor, RecordQuery, StoredRecord
from wire.bodies import RecordType
from wire.errors import WireError
from wire.ids import ID_PATTERN
from wire.plates import normalize_plate

router = APIRouter(prefix="/api/v1")

MAX_INT = 2**62  # far beyond any time in ms or id; keeps values inside SQL's int8
ID = f"^{ID_PATTERN.pattern}$"
HEX32 = "^[0-9a-f]{32}$"
HEX64 = "^[0-9a-f]{64}$"

SiteQ = Annotated[str | None, Query(pattern=ID, description="Site id")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Millis = Annotated[int | None, Query(ge=0, le=MAX_INT)]
RecordId = Annotated[str, Path(pattern=HEX64, description="Record id: SHA-256 of its bytes")]


def encode_cursor(record: StoredRecord) -> str:
    return f"{record.received_at}-{record.record_id.hex()}"


def decode_cursor(text: str) -> RecordCursor:
    received, _, record_id = text.partition("-")
    if not (received.isdigit() and len(received) <= 18 and len(record_id) == 64):
        raise invalid("after", "not a cursor from a previous page's next")
    try:
        return RecordCursor(received_at=int(received), record_id=bytes.fromhex(record_id))
    except ValueError:
        raise invalid("after", "not a cursor from a previous page's next") from None


@router.get("/records", summary="Records, filtered, paged by arrival")
def list_records(
    *,
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    site: SiteQ = None,
    device: Annotated[str | None, Query(pattern=ID)] = None,
    plate: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    ticket: Annotated[str | None, Query(pattern=HEX32, description="Ticket id (hex)")] = None,
    type: Annotated[RecordType | None, Query(description="Record type")] = None,  # noqa: A002
    since: Annotated[Millis, Query(description="ts ≥ since (ms)")] = None,
    until: Annotated[Millis, Query(description="ts < until (ms)")] = None,
    after: Annotated[str | None, Query(max_length=100, description="Cursor: `next`")] = None,
    limit: Limit = 100,
) -> RecordPage:
    """Records of every device, ascending by arrival (regulator: all; enterprise: its sites).
    ``plate`` and ``ticket`` match weighings that released a truck with a net."""
    if site is not None:
        require_site(context, principal, site)
    normal_plate = None
    if plate is not None:
        try:
            normal_plate = normalize_plate(plate)
        except WireError as exc:
            raise invalid("plate", exc.message) from exc
    query = RecordQuery(
        sites=own_sites(context, principal),
        site=site,
        device=device,
        plate=normal_plate,
        ticket=None if ticket is None else bytes.fromhex(ticket),
        type=type,
        since=since,
        until=until,
        after=None if after is None else decode_cursor(after),
        limit=limit,
    )
    found = context.store.find_records(query)
    return {
        "items": [record_view(r) for r in found],
        "next": encode_cursor(found[-1]) if len(found) == limit else None,
    }


def _record(context: Context, principal: Principal, id_hex: str) -> StoredRecord:
    record = context.store.record_by_id(bytes.fromhex(id_hex))
    if record is None:
        raise not_found(f"no record {id_hex}")
    require_site(context, principal, record.site)
    return record


@router.get("/records/{id}", summary="One record")
def get_record(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    id: RecordId,  # noqa: A002 - the route's stable parameter name
) -> RecordView:
    return record_view(_record(context, principal, id))


@router.get(
    "/records/{id}/cose",
    summary="One record's signed bytes",
    response_class=Response,
    responses={200: {"content": {"application/cose": {}}, "description": "COSE_Sign1 bytes"}},
)
def get_record_cose(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    id: RecordId,  # noqa: A002 - the route's stable parameter name
) -> Response:
    """The record exactly as the device signed it: verify it with the device's certificate."""
    return Response(_record(context, principal, id).raw, media_type="application/cose")


@router.get("/quarantine", summary="What central refused, newest first")
def list_quarantine(
    context: Context,
    _principal: Annotated[Principal, allow("regulator", "admin")],
    limit: Limit = 100,
) -> list[QuarantineView]:
    return [quarantine_view(q) for q in context.store.quarantined(limit=limit)]


@router.get("/alarms", summary="Alarms, ascending by id")
def list_alarms(
    context: Context,
    _principal: Annotated[Principal, allow("regulator", "admin")],
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="Cursor: an alarm id")] = 0,
    limit: Limit = 100,
) -> AlarmPage:
    alarms = context.store.alarms(after_id=after, limit=limit)
    acks = context.store.alarm_acks([a.id for a in alarms if a.id is not None])
    views = [alarm_view(a, acks.get(a.id or 0)) for a in alarms]
    return {"items": views, "next": views[-1]["id"] if len(views) == limit else None}


@router.post("/alarms/{id}/ack", summary="Acknowledge an alarm, with a note")
def ack_alarm(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "admin")],
    id: Annotated[int, Path(ge=1, le=MAX_INT)],  # noqa: A002 - the route's stable parameter name
    body: AckBody,
) -> AlarmView:
    """Once per alarm: acknowledging it again is a 409 ``conflict``."""
    ack = context.store.ack_alarm(id, note=body.note, actor=principal.actor, at=context.clock())
    (alarm,) = context.store.alarms(after_id=id - 1, limit=1)
    return alarm_view(alarm, ack)
