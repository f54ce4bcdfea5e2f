"""Site bundles: central's signed snapshot of what one site's gates need offline (WIRE.md).

Open tickets where the site is seller or destination (with their state), revoked ticket ids,
and vehicle data for the legal-limit check. Retained on each device's ``down/bundle`` topic; an
edge accepts a bundle only if its version is greater than the one it holds, so an old bundle
replayed by anyone cannot bring back a revoked ticket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from wire import central
from wire.errors import SchemaError, StaleError
from wire.fields import Fields
from wire.ids import check_id
from wire.keys import KeySet, SigningKey
from wire.plates import check_vehicle_plate
from wire.tickets import Ticket, decode_ticket, verify_ticket


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleTicket:
    ticket: Ticket
    state: Literal["issued", "loaded"]
    loaded_at: int | None
    source_net_kg: int | None

    def to_map(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket.raw,
            "state": self.state,
            "loaded_at": self.loaded_at,
            "source_net_kg": self.source_net_kg,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Vehicle:
    axles: int
    kind: Literal["rigid", "combination"]
    single_drive: bool
    tare_kg: int | None
    trailer: str | None

    def to_map(self) -> dict[str, Any]:
        return {
            "axles": self.axles,
            "kind": self.kind,
            "single_drive": self.single_drive,
            "tare_kg": self.tare_kg,
            "trailer": self.trailer,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    raw: bytes
    kid: str
    site: str
    version: int
    ts: int
    tickets: tuple[BundleTicket, ...]
    revoked: frozenset[bytes]
    vehicles: Mapping[str, Vehicle]


def build_bundle(
    key: SigningKey,
    *,
    site: str,
    version: int,
    ts: int,
    tickets: Sequence[BundleTicket],
    revoked: Sequence[bytes],
    vehicles: Mapping[str, Vehicle],
) -> Bundle:
    payload = {
        "site": site,
        "version": version,
        "ts": ts,
        "tickets": [entry.to_map() for entry in tickets],
        "revoked": sorted(revoked),
        "vehicles": {plate: vehicle.to_map() for plate, vehicle in vehicles.items()},
    }
    _read(payload, raw=b"", kid=key.kid, keys=None)
    return _read(payload, raw=central.sign_central(payload, key), kid=key.kid, keys=None)


def _read_ticket(item: object, *, index: int, site: str, keys: KeySet | None) -> BundleTicket:
    where = f"bundle.tickets[{index}]"
    fields = Fields(item, where=where)
    data = fields.bstr_any("ticket")
    # Verified with the caller's key set; when central builds a bundle (keys None) its tickets
    # may be signed by an earlier central key than the bundle's, so only their form is checked.
    ticket = decode_ticket(data) if keys is None else verify_ticket(data, keys, now_s=None)
    if site not in (ticket.seller_site, ticket.dest_site):
        raise SchemaError(
            f"{where}: ticket {ticket.no} is neither from nor to {site!r}", field=where
        )
    state = fields.text("state", choices=("issued", "loaded"))
    loaded_at = fields.uint_or_none("loaded_at")
    source_net_kg = fields.uint_or_none("source_net_kg")
    carried = (loaded_at is not None, source_net_kg is not None)
    if carried != ((True, True) if state == "loaded" else (False, False)):
        raise fields.fail(
            "state", "loaded tickets, and only they, carry loaded_at and source_net_kg"
        )
    return BundleTicket(
        ticket=ticket,
        state=state,  # type: ignore[arg-type]
        loaded_at=loaded_at,
        source_net_kg=source_net_kg,
    )


def _read_vehicle(plate: object, item: object) -> Vehicle:
    if not isinstance(plate, str):
        raise SchemaError(f"bundle.vehicles key {plate!r} is not a plate", field="bundle.vehicles")
    check_vehicle_plate(plate, field=f"bundle.vehicles.{plate}")
    fields = Fields(item, where=f"bundle.vehicles.{plate}")
    trailer = fields.text_or_none("trailer", max_len=16)
    if trailer is not None:
        check_vehicle_plate(trailer, field=f"bundle.vehicles.{plate}.trailer", trailer=True)
    axles = fields.uint("axles", maximum=12)
    if axles < 2:
        raise fields.fail("axles", "must be 2 or more")
    return Vehicle(
        axles=axles,
        kind=fields.text("kind", choices=("rigid", "combination")),  # type: ignore[arg-type]
        single_drive=fields.boolean("single_drive"),
        tare_kg=fields.uint_or_none("tare_kg"),
        trailer=trailer,
    )


def _read(payload: dict[Any, Any], *, raw: bytes, kid: str, keys: KeySet | None) -> Bundle:
    fields = Fields(payload, where="bundle")
    site = check_id(fields.text("site", max_len=63), field="bundle.site")
    revoked = fields.array("revoked")
    if not all(type(cti) is bytes and len(cti) == 16 for cti in revoked):
        raise fields.fail("revoked", "must be an array of 16-byte ticket ids")
    tickets = tuple(
        _read_ticket(item, index=index, site=site, keys=keys)
        for index, item in enumerate(fields.array("tickets"))
    )
    open_ids = [entry.ticket.cti for entry in tickets]
    if len(set(open_ids)) != len(open_ids):
        raise fields.fail("tickets", "lists a ticket twice")
    if len(set(revoked)) != len(revoked):
        raise fields.fail("revoked", "lists a ticket id twice")
    if set(open_ids) & set(revoked):
        raise fields.fail("tickets", "lists a ticket that is also revoked")
    return Bundle(
        raw=raw,
        kid=kid,
        site=site,
        version=fields.uint("version"),
        ts=fields.uint("ts"),
        tickets=tickets,
        revoked=frozenset(revoked),
        vehicles=MappingProxyType(
            {plate: _read_vehicle(plate, item) for plate, item in fields.map("vehicles").items()}
        ),
    )


def verify_bundle(data: bytes, keys: KeySet, *, site: str, held_version: int | None) -> Bundle:
    """Verify a bundle for ``site`` (every embedded ticket too); refuse a version not above
    ``held_version`` with ``StaleError``."""
    message = central.verify_central(data, keys, what="bundle")
    bundle = _read(message.payload_map(what="bundle"), raw=data, kid=message.kid, keys=keys)
    if bundle.site != site:
        raise SchemaError(f"bundle is for site {bundle.site!r}, not {site!r}", field="bundle.site")
    if held_version is not None and bundle.version <= held_version:
        raise StaleError(
            f"bundle version {bundle.version} is not above the held version {held_version}",
            version=bundle.version,
            held=held_version,
        )
    return bundle
