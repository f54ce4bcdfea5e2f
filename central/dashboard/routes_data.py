"""The JSON the dashboard and checkpoint pages read beyond the public API: site health,
tonnage against quota, ticket detail with its evidence, a truck's trips, a record's signature
and chain, the alarm queue's tail, and the checkpoint's verification with what central knows.

Every route authenticates like the API (a bearer token or a dashboard session) and scopes like
it, server-side: an enterprise sees only its own sites, their devices and records, and tickets
it sold or bought; alarms and sightings are the regulator's (and the admin's alarms) as in the
API. These routes are the pages' own, so they stay out of the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from central.api.auth import Principal, allow, own_sites, require_site
from central.api.bodies import VerifyBody
from central.api.context import ApiContext, Context
from central.api.errors import forbidden, invalid, not_found
from central.api.routes_records import HEX64
from central.api.verify import verify_qr
from central.api.views import SightingView, alarm_view, record_view, sighting_view, ticket_view
from central.dashboard import figures
from central.errors import NotFoundError
from central.store.model import (
    RecordQuery,
    SightingQuery,
    Site,
    StoredRecord,
    StoredTicket,
    TicketState,
)
from central.ticketing.policy import QuotaPolicy, Tolerance
from wire.bodies import EvidenceBody, StatusBody, WeighingBody
from wire.certificates import verify_certificate
from wire.errors import WireError
from wire.keys import KeySet, PublicKey
from wire.plates import normalize_plate
from wire.records import Record, decode_record, verify_record

router = APIRouter(prefix="/dashboard/api", include_in_schema=False)

SITE_HEALTH = ("online", "silent", "offline", "unknown", "revoked")
"""A site is as healthy as its healthiest device (one lane up keeps the gate working)."""
RECENT_SEQS = 100
"""How far below a device's contiguous seq the health view looks for its latest heartbeat."""
TICKET_SCAN = 100_000
"""Tickets scanned for a search or a plate (in issue order; a region issues far fewer a year
than fit in a page of the regulator's dashboard)."""
Cti = Annotated[str, Path(pattern="^[0-9a-f]{32}$")]
RecordId = Annotated[str, Path(pattern=HEX64)]


def visible_ticket(principal: Principal, ticket: StoredTicket) -> None:
    """403 unless ``principal`` may see ``ticket`` (an enterprise: sold or bought by it)."""
    if principal.role == "enterprise" and principal.enterprise not in (
        ticket.seller,
        ticket.buyer,
    ):
        raise forbidden(f"ticket {ticket.id} is neither sold nor bought by {principal.enterprise}")


def may_see_site(context: ApiContext, principal: Principal, site: str) -> bool:
    scope = own_sites(context, principal)
    return scope is None or site in scope


def _plate(text: str) -> str:
    try:
        return normalize_plate(text)
    except WireError as exc:
        raise invalid("plate", exc.message) from exc


def _decoded(record: StoredRecord) -> Record | None:
    try:
        return decode_record(record.raw)
    except WireError:  # verified at ingest; this only guards the display
        return None


def _site_names(context: ApiContext) -> dict[str, Site]:
    return {s.id: s for s in context.store.list_sites()}


# --- sites and devices ------------------------------------------------------------------------


def _device_health(context: ApiContext, device: str) -> dict[str, Any]:
    """The device's last record, last heartbeat (its backlog) and contiguous seq."""
    store = context.store
    top = store.contiguous(device)
    recent = store.records(device, after_seq=max(0, top - RECENT_SEQS), limit=1000)
    last = max(recent, key=lambda r: r.seq, default=None)
    backlog = None
    bundle_version = None
    for record in sorted(recent, key=lambda r: r.seq, reverse=True):
        decoded = _decoded(record) if record.type == "status" else None
        if decoded is not None and isinstance(decoded.body, StatusBody):
            backlog, bundle_version = decoded.body.backlog, decoded.body.bundle_version
            break
    return {
        "contiguous_seq": top,
        "last_seq": None if last is None else last.seq,
        "last_received_at": None if last is None else last.received_at,
        "backlog": backlog,
        "bundle_version": bundle_version,
    }


@router.get("/sites")
def sites(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "admin", "enterprise")],
) -> dict[str, Any]:
    """Each visible site with its devices: enrollment, MQTT status, last seen, backlog."""
    now = context.clock()
    store = context.store
    statuses = {s.device: s for s in store.device_statuses()}
    by_site: dict[str, list[dict[str, Any]]] = {}
    for device in store.list_devices():
        if not may_see_site(context, principal, device.site):
            continue
        health = _device_health(context, device.id)
        status = statuses.get(device.id)
        seen = [t for t in (health["last_received_at"], status and status.updated_at) if t]
        last_seen = max(seen) if seen else None
        try:
            cert = verify_certificate(device.certificate, context.keyring.published, now_s=None)
            cert_exp: int | None = cert.exp
        except WireError:
            cert_exp = None
        by_site.setdefault(device.site, []).append(
            {
                "id": device.id,
                "state": device.state,
                "enrolled_at": device.enrolled_at,
                "revoked_at": device.revoked_at,
                "certificate_exp": cert_exp,
                "status": None if status is None else status.state,
                "status_since": None if status is None else status.since,
                "version": None if status is None else status.version,
                "last_seen": last_seen,
                "health": figures.device_health(status, last_seen, state=device.state, now_ms=now),
                **health,
            }
        )
    enterprises = {e.id: e.name for e in store.list_enterprises()}
    items = []
    for site in store.list_sites(enterprise=principal.enterprise):
        devices = by_site.get(site.id, [])
        healths = {d["health"] for d in devices}
        site_health = next((h for h in SITE_HEALTH if h in healths), "no_device")
        items.append(
            {
                "id": site.id,
                "name": site.name,
                "kind": site.kind,
                "enterprise": site.enterprise,
                "enterprise_name": enterprises.get(site.enterprise, site.enterprise),
                "lat": site.lat,
                "lon": site.lon,
                "online": "online" in healths,
                "health": site_health,
                "last_seen": max((d["last_seen"] or 0 for d in devices), default=0) or None,
                "backlog": sum(d["backlog"] or 0 for d in devices),
                "devices": devices,
            }
        )
    return {"now": now, "sites": items}


# --- tonnage ----------------------------------------------------------------------------------


@router.get("/tonnage")
def tonnage(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    days: Annotated[int, Query(ge=1, le=92)] = 14,
) -> dict[str, Any]:
    """Released net per site and per enterprise per day (out: dispatched; in: received),
    against the enterprise's quota: its period's limit, what tickets charged so far, and the
    limit spread evenly over the period's days."""
    now = context.clock()
    store = context.store
    day_list = figures.cst_days(now, days)
    sites = store.list_sites(enterprise=principal.enterprise)
    site_ids = {s.id for s in sites}
    rows = [
        r
        for r in store.tonnage_daily(first_day=day_list[0], last_day=day_list[-1])
        if r.site in site_ids
    ]
    out = figures.daily_series(rows, day_list, direction="out")
    inbound = figures.daily_series(rows, day_list, direction="in")
    zero = [0] * len(day_list)
    policy = QuotaPolicy()
    period = policy.period_of(now)
    period_days = figures.period_days(policy, now)
    enterprises = []
    for enterprise in store.list_enterprises():
        if principal.role == "enterprise" and enterprise.id != principal.enterprise:
            continue
        own = [s.id for s in sites if s.enterprise == enterprise.id]
        limit = policy.limit_kg(enterprise)
        enterprises.append(
            {
                "id": enterprise.id,
                "name": enterprise.name,
                "out": [sum(out.get(s, zero)[i] for s in own) for i in range(len(day_list))],
                "in": [sum(inbound.get(s, zero)[i] for s in own) for i in range(len(day_list))],
                "period": period,
                "quota_limit_kg": limit,
                "quota_used_kg": store.quota_used(enterprise.id, period),
                "daily_quota_kg": limit // period_days,
            }
        )
    return {
        "days": day_list,
        "sites": [
            {
                "id": s.id,
                "name": s.name,
                "enterprise": s.enterprise,
                "out": out.get(s.id, zero),
                "in": inbound.get(s.id, zero),
            }
            for s in sites
        ],
        "enterprises": enterprises,
    }


# --- alarms -----------------------------------------------------------------------------------


def latest_alarm_id(context: ApiContext) -> int:
    """The highest alarm id, found with O(log n) one-row queries (alarms ascend by id)."""
    store = context.store
    low, step = 0, 1024
    while store.alarms(after_id=low + step, limit=1):
        low, step = low + step, step * 2
    high = low + step  # no alarm above high; some above low, or none at all
    while high - low > 1:
        middle = (low + high) // 2
        if store.alarms(after_id=middle, limit=1):
            low = middle
        else:
            high = middle
    return high if store.alarms(after_id=low, limit=1) else low


@router.get("/alarms")
def alarm_tail(
    context: Context,
    _principal: Annotated[Principal, allow("regulator", "admin")],
    tail: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The latest ``tail`` alarms, newest first, with their acknowledgements."""
    last = latest_alarm_id(context)
    alarms = context.store.alarms(after_id=max(0, last - tail), limit=tail)
    acks = context.store.alarm_acks([a.id for a in alarms if a.id is not None])
    views = [alarm_view(a, acks.get(a.id or 0)) for a in alarms]
    return {"items": views[::-1]}


# --- tickets ----------------------------------------------------------------------------------


@router.get("/tickets")
def search_tickets(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    q: Annotated[str, Query(max_length=64)] = "",
    state: TicketState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Tickets newest first whose number, id, plate, enterprise or site contains ``q``."""
    enterprise = principal.enterprise if principal.role == "enterprise" else None
    tickets = context.store.list_tickets(state=state, enterprise=enterprise, limit=TICKET_SCAN)
    needle = q.strip().lower()
    plate = None
    if needle:
        try:
            plate = normalize_plate(q.strip())
        except WireError:
            plate = None
    found = []
    for ticket in reversed(tickets):
        fields = (ticket.no, ticket.id, ticket.seller, ticket.buyer, ticket.seller_site,
                  ticket.dest_site, ticket.plate)  # fmt: skip
        if not needle or plate == ticket.plate or any(needle in f.lower() for f in fields):
            found.append(ticket_view(ticket))
            if len(found) == limit:
                break
    return {"items": found}


def _weighing(context: ApiContext, principal: Principal, id_: bytes | None) -> Any:
    """A weighing record with its evidence's readings, or why it is not shown."""
    if id_ is None:
        return None
    record = context.store.record_by_id(id_)
    if record is None:
        return {"id": id_.hex(), "visible": False, "reason": "not_stored"}
    if not may_see_site(context, principal, record.site):
        return {
            "id": id_.hex(),
            "visible": False,
            "reason": "other_enterprise",
            "site": record.site,
        }
    view: dict[str, Any] = {"visible": True, **record_view(record), "evidence": None}
    decoded = _decoded(record)
    if decoded is not None and isinstance(decoded.body, WeighingBody):
        evidence = context.store.record_by_id(decoded.body.evidence)
        shown = _decoded(evidence) if evidence is not None else None
        if shown is not None and isinstance(shown.body, EvidenceBody):
            view["evidence"] = {
                "id": shown.id.hex(),
                "ts": shown.ts,
                "readings": [list(r) for r in shown.body.readings],
                "stability": shown.body.stability.to_map(),
                "plate_reads": [[p.plate, p.conf, p.camera] for p in shown.body.plate_reads],
            }
        else:
            view["evidence"] = {"id": decoded.body.evidence.hex(), "readings": None}
    return view


@router.get("/tickets/{cti}")
def ticket_detail(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    cti: Cti,
) -> dict[str, Any]:
    """One ticket: its states in time, both weighings with the evidence's weight readings,
    the reconciliation, and (regulator) the checkpoints that saw it."""
    ticket = context.store.get_ticket(bytes.fromhex(cti))
    visible_ticket(principal, ticket)
    names = _site_names(context)
    sightings = None
    if principal.role == "regulator":
        query = SightingQuery(cti=ticket.cti, limit=1000)
        sightings = [sighting_view(s) for s in context.store.find_sightings(query)]
    return {
        "ticket": ticket_view(ticket),
        "site_names": {
            s: names[s].name for s in (ticket.seller_site, ticket.dest_site) if s in names
        },
        "history": figures.ticket_history(ticket),
        "source": _weighing(context, principal, ticket.loaded_record),
        "destination": _weighing(context, principal, ticket.arrived_record),
        "discrepancy": figures.discrepancy(ticket, Tolerance()),
        "sightings": sightings,
    }


# --- trucks -----------------------------------------------------------------------------------


@router.get("/trucks/{plate}")
def truck_trips(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    plate: Annotated[str, Path(min_length=1, max_length=32)],
) -> dict[str, Any]:
    """A plate's trips: each ticket with its loading, checkpoint sightings (regulator) and
    arrival; and the weighings of the plate that named no ticket of the caller's."""
    normal = _plate(plate)
    enterprise = principal.enterprise if principal.role == "enterprise" else None
    tickets = [
        t
        for t in context.store.list_tickets(enterprise=enterprise, limit=TICKET_SCAN)
        if t.plate == normal
    ]
    records = context.store.find_records(
        RecordQuery(sites=own_sites(context, principal), plate=normal, type="weighing", limit=1000)
    )
    sightings: list[SightingView] = []
    if principal.role == "regulator":
        query = SightingQuery(plate=normal, limit=1000)
        sightings = [sighting_view(s) for s in context.store.find_sightings(query)]
    names = {s.id: s.name for s in context.store.list_sites()}
    weighings = []
    for record in records:
        decoded = _decoded(record)
        if decoded is None or not isinstance(decoded.body, WeighingBody):
            continue
        body = decoded.body
        weighings.append(
            {
                "record": record.record_id.hex(),
                "site": record.site,
                "ts": record.ts,
                "direction": body.direction,
                "decision": body.decision,
                "net_kg": body.net_kg,
                "ticket": None if body.ticket is None else body.ticket.hex(),
            }
        )
    trips = [
        {
            "ticket": ticket_view(ticket),
            "from": ticket.seller_site,
            "from_name": names.get(ticket.seller_site),
            "to": ticket.dest_site,
            "to_name": names.get(ticket.dest_site),
            "weighings": [w for w in weighings if w["ticket"] == ticket.id],
            "sightings": [s for s in sightings if s["cti"] == ticket.id],
        }
        for ticket in sorted(tickets, key=lambda t: t.issued_at, reverse=True)
    ]
    ticketed = {t.id for t in tickets}
    return {
        "plate": normal,
        "trips": trips,
        "other_weighings": [w for w in weighings if w["ticket"] not in ticketed],
        "other_sightings": [s for s in sightings if s["cti"] not in ticketed],
    }


# --- records ----------------------------------------------------------------------------------


@router.get("/records/{id}")
def record_check(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "enterprise")],
    id: RecordId,  # noqa: A002 - the same path parameter as the API's
) -> dict[str, Any]:
    """A record with its signature checked again, now, under its device's enrolled key, and
    its links to the stored neighbours in the device's hash chain."""
    store = context.store
    record = store.record_by_id(bytes.fromhex(id))
    if record is None:
        raise not_found(f"no record {id}")
    require_site(context, principal, record.site)
    signature: dict[str, Any]
    try:
        device = store.get_device(record.device)
        key = PublicKey.from_raw(device.public_key, kid=device.id)
        verified = verify_record(record.raw, KeySet([key]))
        signature = {"ok": True, "kid": verified.kid, "device_state": device.state}
    except NotFoundError:
        verified = None
        signature = {"ok": False, "reason": "unknown_device"}
    except WireError as exc:
        verified = None
        signature = {"ok": False, "reason": exc.reason, "message": exc.message}
    decoded = verified or _decoded(record)
    before = store.get_record(record.device, record.seq - 1) if record.seq > 1 else None
    after = store.get_record(record.device, record.seq + 1)
    after_decoded = None if after is None else _decoded(after)
    chain = None
    if decoded is not None:
        chain = figures.chain_status(
            record,
            decoded.prev,
            before,
            None if after_decoded is None else after_decoded.prev,
            equivocated=any(e.seq == record.seq for e in store.equivocations(record.device)),
        )
    return {
        "record": record_view(record),
        "size": len(record.raw),
        "signature": signature,
        "chain": chain,
        "neighbours": {"before": _neighbour(before), "after": _neighbour(after)},
    }


def _neighbour(record: StoredRecord | None) -> str | None:
    return None if record is None else record.record_id.hex()


# --- checkpoint -------------------------------------------------------------------------------


@router.post("/checkpoint/verify")
def checkpoint_verify(
    context: Context,
    principal: Annotated[Principal, allow("checkpoint", "regulator")],
    body: VerifyBody,
) -> dict[str, Any]:
    """``POST /api/v1/tickets/verify`` (wire's verifiers under central's keys) and, online,
    where the ticket was loaded, the net, and whether it was already used or seen here."""
    now = context.clock()
    verification = verify_qr(
        context.store, context.keyring, body.qr, issuer=context.settings.issuer, now_ms=now
    )
    claims = verification["ticket"] or {}
    cti_hex = claims.get("cti")
    detail: dict[str, Any] | None = None
    # Only for a QR that verified: a forged text naming a real ticket's id must not show that
    # ticket's loading as if it were this truck's.
    known = verification["valid"] and verification["online"]["ticket_known"]
    if known and isinstance(cti_hex, str) and len(cti_hex) == 32:
        ticket = context.store.get_ticket(bytes.fromhex(cti_hex))
        names = _site_names(context)
        seen_here: list[Any] = []
        if principal.checkpoint is not None:
            query = SightingQuery(checkpoint=principal.checkpoint, cti=ticket.cti, limit=1000)
            seen_here = [sighting_view(s) for s in context.store.find_sightings(query)]
        detail = {
            "state": ticket.state,
            "flags": sorted(ticket.flags),
            "loaded_site": ticket.seller_site if ticket.loaded_at is not None else None,
            "seller_site_name": names[ticket.seller_site].name
            if ticket.seller_site in names
            else None,
            "dest_site_name": names[ticket.dest_site].name if ticket.dest_site in names else None,
            "source_net_kg": ticket.source_net_kg,
            "loaded_at": ticket.loaded_at,
            "arrived_at": ticket.arrived_at,
            "dest_net_kg": ticket.dest_net_kg,
            "used": ticket.state in ("arrived", "closed") or "double_load" in ticket.flags,
            "seen_here": seen_here,
        }
    return {"verification": verification, "central": detail, "checked_at": now}
