"""Health, central's public keys, sites, devices and enrollment."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from central.api.auth import Principal, allow, own_sites, require_site
from central.api.bodies import EnrollBody
from central.api.context import Context
from central.api.errors import forbidden
from central.api.routes_records import ID
from central.api.views import DeviceView, Enrolled, Health, SiteView, device_view, site_view
from central.registry import enroll
from wire.keysets import encode_cose_key_set, jwks

router = APIRouter()

COSE_KEY_SET = "application/cose-key-set"


@router.get("/healthz", summary="Liveness (no token)")
def healthz(context: Context) -> Health:
    return {"status": "ok", "backend": context.store.backend}


@router.get(
    "/api/v1/keys",
    summary="Central's public keys (no token)",
    responses={
        200: {
            "description": "JWKS, or a COSE_KeySet when asked with Accept",
            "content": {"application/json": {}, COSE_KEY_SET: {}},
        }
    },
)
def keys(context: Context, accept: Annotated[str | None, Header(max_length=1000)] = None) -> Any:
    """WIRE.md "Central-signed objects": a JWKS by default, a COSE_KeySet (CBOR) on
    ``Accept: application/cose-key-set``."""
    published = context.keyring.published
    if accept is not None and COSE_KEY_SET in accept.lower():
        return Response(encode_cose_key_set(published), media_type=COSE_KEY_SET)
    return jwks(published)


@router.get("/api/v1/sites", summary="Sites (an enterprise sees its own)")
def list_sites(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "admin", "enterprise")],
) -> list[SiteView]:
    return [site_view(s) for s in context.store.list_sites(enterprise=principal.enterprise)]


@router.get("/api/v1/devices", summary="Devices (an enterprise sees its sites' devices)")
def list_devices(
    context: Context,
    principal: Annotated[Principal, allow("regulator", "admin", "enterprise")],
    site: Annotated[str | None, Query(pattern=ID)] = None,
) -> list[DeviceView]:
    if site is not None:
        require_site(context, principal, site)
    scope = own_sites(context, principal)
    statuses = {s.device: s for s in context.store.device_statuses()}
    return [
        device_view(d, statuses.get(d.id))
        for d in context.store.list_devices(site=site)
        if scope is None or d.site in scope
    ]


@router.post("/api/v1/devices/enroll", summary="Enroll a device key (WIRE.md Enrollment)")
def enroll_device(
    context: Context,
    principal: Annotated[Principal, allow("admin", "device")],
    body: EnrollBody,
) -> Enrolled:
    """Register the device's public key at its site and answer its certificate (base64
    COSE) with central's key set. A device token enrolls only its own device id; the same key
    again renews the certificate, another key under an enrolled id is a 409."""
    if principal.role == "device" and body.device != principal.device:
        raise forbidden(f"this token may enroll device {principal.device!r} only")
    certificate = enroll(
        context.store,
        context.keyring,
        issuer=context.settings.issuer,
        site=body.site,
        device=body.device,
        public_key_pem=body.public_key_pem.encode("utf-8", "surrogateescape"),
        now_ms=context.clock(),
        actor=principal.actor,
    )
    return {
        "certificate": base64.b64encode(certificate.raw).decode("ascii"),
        "central_keys": jwks(context.keyring.published),
    }
