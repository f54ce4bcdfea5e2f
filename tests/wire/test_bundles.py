"""Site bundles: central's signed snapshot for one site; an old version replayed is refused."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire import central_factories as cf
from wire.bundles import Bundle, BundleTicket, Vehicle, build_bundle, verify_bundle
from wire.errors import (
    IssuerError,
    PlateError,
    SchemaError,
    SignatureError,
    StaleError,
    UnknownKeyError,
    WireError,
)
from wire.keys import KeySet

KEYS = cf.CENTRAL_KEYS
TS = cf.LOADED_MS + 60_000
VERSION = 42

OUTBOUND = cf.ticket()  # SITE sells
SECOND = cf.ticket(cti=b"\x02" * 16, no="YL20261201000124", plate="陕K54321")
INBOUND = cf.ticket(  # SITE receives (a washing plant buying from another mine)
    cti=b"\x03" * 16,
    no="YL20261201000777",
    seller_site=cf.OTHER_SITE,
    dest_site=cf.SITE,
    plate="蒙B2C3D4",
)
ELSEWHERE = cf.ticket(cti=b"\x04" * 16, seller_site=cf.OTHER_SITE, dest_site=cf.DEST_SITE)

ENTRIES = (
    BundleTicket(ticket=OUTBOUND, state="issued", loaded_at=None, source_net_kg=None),
    BundleTicket(ticket=SECOND, state="issued", loaded_at=None, source_net_kg=None),
    BundleTicket(ticket=INBOUND, state="loaded", loaded_at=cf.LOADED_MS, source_net_kg=33_980),
)
VEHICLES = {
    "陕K12345": Vehicle(
        axles=6, kind="combination", single_drive=False, tare_kg=15_020, trailer="陕K6789挂"
    ),
    "蒙B2C3D4": Vehicle(axles=4, kind="rigid", single_drive=True, tare_kg=None, trailer=None),
}
REVOKED = (b"\xaa" * 16, b"\x01" * 16)


def bundle(**changes: Any) -> Bundle:
    values: dict[str, Any] = {
        "site": cf.SITE,
        "version": VERSION,
        "ts": TS,
        "tickets": ENTRIES,
        "revoked": REVOKED,
        "vehicles": VEHICLES,
    }
    values.update(changes)
    key = values.pop("key", cf.CENTRAL)
    return build_bundle(key, **values)


BUNDLE = bundle()


def payload(**changes: Any) -> dict[str, Any]:
    """BUNDLE's payload map; ``...`` deletes a field."""
    value: dict[str, Any] = cbor2.loads(cbor2.loads(BUNDLE.raw).value[2])
    value.update(changes)
    return {k: v for k, v in value.items() if v is not ...}


def entry(ticket: bytes = OUTBOUND.raw, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "ticket": ticket,
        "state": "issued",
        "loaded_at": None,
        "source_net_kg": None,
    }
    value.update(changes)
    return {k: v for k, v in value.items() if v is not ...}


def vehicle(**changes: Any) -> dict[str, Any]:
    value = VEHICLES["陕K12345"].to_map()
    value.update(changes)
    return {k: v for k, v in value.items() if v is not ...}


def verify(raw: bytes, *, site: str = cf.SITE, held: int | None = None) -> Bundle:
    return verify_bundle(raw, KEYS, site=site, held_version=held)


# --- build and verify ----------------------------------------------------------------------


def test_round_trip() -> None:
    checked = verify(BUNDLE.raw, held=VERSION - 1)
    assert checked == BUNDLE
    assert checked.kid == cf.CENTRAL_KID
    assert checked.site == cf.SITE
    assert checked.version == VERSION
    assert checked.ts == TS
    assert checked.tickets == ENTRIES
    assert checked.revoked == frozenset(REVOKED)
    assert dict(checked.vehicles) == VEHICLES


def test_embedded_tickets_are_verified_tickets() -> None:
    checked = verify(BUNDLE.raw)
    assert [entry.ticket.raw for entry in checked.tickets] == [
        OUTBOUND.raw,
        SECOND.raw,
        INBOUND.raw,
    ]
    assert checked.tickets[2].ticket.plate == "蒙B2C3D4"
    assert checked.tickets[2].ticket.kid == cf.CENTRAL_KID


def test_payload_is_wire_md() -> None:
    value = payload()
    assert set(value) == {"site", "version", "ts", "tickets", "revoked", "vehicles"}
    assert value["tickets"][0] == {
        "ticket": OUTBOUND.raw,
        "state": "issued",
        "loaded_at": None,
        "source_net_kg": None,
    }
    assert value["tickets"][2]["loaded_at"] == cf.LOADED_MS
    assert value["revoked"] == sorted(REVOKED)
    assert value["vehicles"]["陕K12345"] == {
        "axles": 6,
        "kind": "combination",
        "single_drive": False,
        "tare_kg": 15_020,
        "trailer": "陕K6789挂",
    }
    assert BUNDLE.raw[:2] == b"\xd2\x84"


def test_an_empty_snapshot() -> None:
    empty = bundle(tickets=(), revoked=(), vehicles={})
    checked = verify(empty.raw)
    assert checked.tickets == ()
    assert checked.revoked == frozenset()
    assert dict(checked.vehicles) == {}


def test_the_destination_sites_bundle() -> None:
    entries = (
        BundleTicket(ticket=OUTBOUND, state="loaded", loaded_at=cf.LOADED_MS, source_net_kg=1),
        BundleTicket(ticket=ELSEWHERE, state="issued", loaded_at=None, source_net_kg=None),
    )
    built = bundle(site=cf.DEST_SITE, tickets=entries)
    assert verify(built.raw, site=cf.DEST_SITE).tickets == entries


def test_a_ticket_past_its_loading_deadline_stays_in_the_bundle() -> None:
    # Loaded in time, now in transit: the inbound lane accepts it until loaded_at + transit_s.
    late = verify(bundle(ts=(cf.TICKET_EXP + 3600) * 1000).raw)
    assert late.tickets[2].state == "loaded"


# --- replay --------------------------------------------------------------------------------


@pytest.mark.parametrize("held", [VERSION, VERSION + 1, 2**64 - 1])
def test_a_version_not_above_the_held_one_is_stale(held: int) -> None:
    with pytest.raises(StaleError) as caught:
        verify(BUNDLE.raw, held=held)
    assert caught.value.version == VERSION
    assert caught.value.held == held
    assert caught.value.reason == "stale"


def test_an_old_bundle_replayed_is_refused() -> None:
    old = bundle(version=41, revoked=())  # before ticket aa… was revoked
    new = bundle(version=42)
    held = verify(old.raw).version
    held = verify(new.raw, held=held).version
    with pytest.raises(StaleError):
        verify(old.raw, held=held)
    with pytest.raises(StaleError):
        verify(new.raw, held=held)  # the same bundle again (retained message, reconnect)


@pytest.mark.parametrize("held", [None, 0, VERSION - 1])
def test_a_newer_version_is_accepted(held: int | None) -> None:
    assert verify(BUNDLE.raw, held=held).version == VERSION


# --- site ----------------------------------------------------------------------------------


def test_a_bundle_for_another_site_is_refused() -> None:
    with pytest.raises(SchemaError, match="yl-shenmu-mine-0047") as caught:
        verify(BUNDLE.raw, site=cf.OTHER_SITE)
    assert caught.value.field == "bundle.site"


def test_site_mismatch_is_refused_before_the_version_is_compared() -> None:
    with pytest.raises(SchemaError):
        verify(BUNDLE.raw, site=cf.OTHER_SITE, held=VERSION + 5)


def test_a_ticket_neither_from_nor_to_the_site_is_refused() -> None:
    raw = cf.raw_sign1(payload(tickets=[entry(ELSEWHERE.raw)]))
    with pytest.raises(SchemaError, match="neither from nor to") as caught:
        verify(raw)
    assert caught.value.field == "bundle.tickets[0]"
    with pytest.raises(SchemaError, match="neither from nor to"):
        bundle(
            tickets=[
                BundleTicket(ticket=ELSEWHERE, state="issued", loaded_at=None, source_net_kg=None)
            ]
        )


# --- embedded tickets ----------------------------------------------------------------------


def test_an_embedded_ticket_signed_by_a_device_is_refused() -> None:
    forged = cf.raw_sign1(OUTBOUND.claims() | {-65542: 99_000}, cf.DEVICE_KEY)
    raw = cf.raw_sign1(payload(tickets=[entry(forged)]))
    with pytest.raises(IssuerError):
        verify_bundle(
            raw, KeySet([cf.CENTRAL.public, cf.DEVICE_KEY.public]), site=cf.SITE, held_version=None
        )


def test_an_embedded_ticket_by_an_unpublished_key_is_refused() -> None:
    rogue = cf.ticket(key=cf.ROGUE_CENTRAL)
    with pytest.raises(UnknownKeyError):
        verify(cf.raw_sign1(payload(tickets=[entry(rogue.raw)])))


def test_an_embedded_ticket_altered_under_a_fresh_bundle_signature_is_refused() -> None:
    altered = bytearray(OUTBOUND.raw)
    altered[-1] ^= 0x01  # the ticket's signature
    with pytest.raises(SignatureError):
        verify(cf.raw_sign1(payload(tickets=[entry(bytes(altered))])))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ticket": OUTBOUND.claims()}, "bundle.tickets[0].ticket"),
        ({"ticket": None}, "bundle.tickets[0].ticket"),
        ({"ticket": ...}, "bundle.tickets[0].ticket"),
        ({"state": "arrived"}, "bundle.tickets[0].state"),
        ({"state": "revoked"}, "bundle.tickets[0].state"),
        ({"state": ...}, "bundle.tickets[0].state"),
        ({"loaded_at": ...}, "bundle.tickets[0].loaded_at"),
        ({"source_net_kg": ...}, "bundle.tickets[0].source_net_kg"),
        ({"state": "loaded"}, "bundle.tickets[0].state"),  # loaded without loaded_at
        ({"state": "loaded", "loaded_at": cf.LOADED_MS}, "bundle.tickets[0].state"),
        ({"state": "loaded", "source_net_kg": 34_000}, "bundle.tickets[0].state"),
        (
            {"state": "loaded", "loaded_at": "yesterday", "source_net_kg": 1},
            "bundle.tickets[0].loaded_at",
        ),
        (
            {"state": "loaded", "loaded_at": -1, "source_net_kg": 1},
            "bundle.tickets[0].loaded_at",
        ),
        (
            {"state": "loaded", "loaded_at": 1, "source_net_kg": "34t"},
            "bundle.tickets[0].source_net_kg",
        ),
    ],
)
def test_wrong_ticket_entries_are_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemaError) as caught:
        verify(cf.raw_sign1(payload(tickets=[entry(**changes)])))
    assert caught.value.field == field


def test_a_loaded_ticket_without_loaded_at_cannot_be_built() -> None:
    with pytest.raises(SchemaError, match="loaded tickets"):
        bundle(
            tickets=[
                BundleTicket(ticket=OUTBOUND, state="loaded", loaded_at=None, source_net_kg=34_000)
            ]
        )


@pytest.mark.parametrize(
    "changes", [{"loaded_at": cf.LOADED_MS}, {"source_net_kg": 34_000}], ids=repr
)
def test_an_issued_ticket_carries_no_loading(changes: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        verify(cf.raw_sign1(payload(tickets=[entry(**changes)])))


def test_tickets_not_an_array() -> None:
    with pytest.raises(SchemaError) as caught:
        verify(cf.raw_sign1(payload(tickets={"0": entry()})))
    assert caught.value.field == "bundle.tickets"


def test_a_bundle_can_carry_tickets_signed_before_a_key_rotation() -> None:
    rotated = cf.central_key("central-20270601", seed_byte=3)
    built = bundle(key=rotated)
    keys = KeySet([cf.CENTRAL.public, rotated.public])
    assert verify_bundle(built.raw, keys, site=cf.SITE, held_version=None).kid == rotated.kid


def test_verify_accepts_tickets_signed_before_a_key_rotation() -> None:
    rotated = cf.central_key("central-20270601", seed_byte=3)
    raw = cf.raw_sign1(payload(), rotated)
    keys = KeySet([cf.CENTRAL.public, rotated.public])
    checked = verify_bundle(raw, keys, site=cf.SITE, held_version=None)
    assert checked.kid == rotated.kid
    assert checked.tickets[0].ticket.kid == cf.CENTRAL_KID


# --- vehicles and revoked ------------------------------------------------------------------


@pytest.mark.parametrize(
    "plate", ["陕k12345", "陕K·12345", "陕K 12345", "陕\uff2b12345"]
)  # full-width K
def test_vehicle_plates_must_be_normalised(plate: str) -> None:
    raw = cf.raw_sign1(payload(vehicles={plate: vehicle()}))
    with pytest.raises(SchemaError, match="not a normalised plate"):
        verify(raw)
    with pytest.raises(SchemaError, match="not a normalised plate"):
        bundle(vehicles={plate: VEHICLES["陕K12345"]})


@pytest.mark.parametrize("plate", ["陕K1234", "TRUCK-1"])
def test_vehicle_keys_that_are_no_plate(plate: str) -> None:
    with pytest.raises((SchemaError, PlateError)):
        verify(cf.raw_sign1(payload(vehicles={plate: vehicle()})))


def test_vehicle_key_that_is_not_text() -> None:
    with pytest.raises(SchemaError):
        verify(cf.raw_sign1(payload(vehicles={1: vehicle()})))


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"trailer": "陕k6789挂"}, "trailer"),
        ({"trailer": "陕K·6789挂"}, "trailer"),
        ({"trailer": ""}, "trailer"),
        ({"trailer": ...}, "trailer"),
        ({"axles": 1}, "axles"),
        ({"axles": 13}, "axles"),
        ({"axles": "6"}, "axles"),
        ({"axles": None}, "axles"),
        ({"kind": "semi"}, "kind"),
        ({"kind": ...}, "kind"),
        ({"single_drive": 1}, "single_drive"),
        ({"single_drive": None}, "single_drive"),
        ({"tare_kg": -1}, "tare_kg"),
        ({"tare_kg": "15t"}, "tare_kg"),
        ({"tare_kg": ...}, "tare_kg"),
    ],
)
def test_wrong_vehicle_fields_are_named(changes: dict[str, Any], name: str) -> None:
    with pytest.raises(SchemaError) as caught:
        verify(cf.raw_sign1(payload(vehicles={"陕K12345": vehicle(**changes)})))
    assert caught.value.field == f"bundle.vehicles.陕K12345.{name}"


def test_vehicles_not_a_map() -> None:
    with pytest.raises(SchemaError) as caught:
        verify(cf.raw_sign1(payload(vehicles=[vehicle()])))
    assert caught.value.field == "bundle.vehicles"


@pytest.mark.parametrize(
    "revoked",
    [[b"\x00" * 15], [b"\x00" * 17], [cf.CTI.hex()], [None], b"\x00" * 16, None],
    ids=repr,
)
def test_revoked_must_be_ticket_ids(revoked: Any) -> None:
    with pytest.raises(SchemaError) as caught:
        verify(cf.raw_sign1(payload(revoked=revoked)))
    assert caught.value.field == "bundle.revoked"


# --- the envelope and top-level fields -----------------------------------------------------


def test_signed_by_a_device_key() -> None:
    forged = cf.raw_sign1(payload(version=10**6), cf.DEVICE_KEY)
    with pytest.raises(IssuerError):
        verify_bundle(
            forged,
            KeySet([cf.CENTRAL.public, cf.DEVICE_KEY.public]),
            site=cf.SITE,
            held_version=VERSION,
        )


def test_signed_by_an_unpublished_central_key() -> None:
    with pytest.raises(UnknownKeyError):
        verify(bundle(key=cf.ROGUE_CENTRAL, tickets=()).raw)


def test_a_device_key_cannot_build_a_bundle() -> None:
    with pytest.raises(ValueError, match="central key"):
        bundle(key=cf.DEVICE_KEY, tickets=())


@pytest.mark.parametrize("name", ["site", "version", "ts", "tickets", "revoked", "vehicles"])
def test_every_field_is_required(name: str) -> None:
    with pytest.raises(SchemaError, match="missing") as caught:
        verify(cf.raw_sign1(payload(**{name: ...})))
    assert caught.value.field == f"bundle.{name}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("site", "Shenmu Mine"),
        ("site", None),
        ("version", -1),
        ("version", "42"),
        ("ts", None),
        ("ts", -1),
    ],
)
def test_wrong_top_level_fields_are_named(name: str, value: Any) -> None:
    with pytest.raises(SchemaError) as caught:
        verify(cf.raw_sign1(payload(**{name: value})))
    assert caught.value.field == f"bundle.{name}"


def test_truncated_bundle_is_refused_at_every_length() -> None:
    raw = bundle(tickets=ENTRIES[:1]).raw
    for size in range(len(raw)):
        with pytest.raises(WireError):
            verify(raw[:size])


# --- bit flips -----------------------------------------------------------------------------


@given(st.data())
def test_flipping_any_bit_of_a_bundle_fails_verification(data: st.DataObject) -> None:
    raw = BUNDLE.raw
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    with pytest.raises(WireError):
        verify(cf.flip(raw, bit))


def test_flipping_each_bit_of_a_small_bundle_fails_verification() -> None:
    raw = bundle(tickets=ENTRIES[2:], revoked=REVOKED[:1]).raw
    for bit in range(len(raw) * 8):
        with pytest.raises(WireError):
            verify(cf.flip(raw, bit))


@given(cf.mutations(payload(), st.text(max_size=8)))
def test_any_signed_payload_gives_a_bundle_or_a_wire_error(value: dict[Any, Any]) -> None:
    try:
        verify(cf.raw_sign1(value))
    except WireError:
        return


@given(
    cf.mutations(entry(state="loaded", loaded_at=1, source_net_kg=1), st.text(max_size=8)),
    cf.mutations(vehicle(), st.text(max_size=8)),
)
def test_any_entry_or_vehicle_gives_a_bundle_or_a_wire_error(
    ticket_entry: dict[Any, Any], vehicle_map: dict[Any, Any]
) -> None:
    try:
        verify(cf.raw_sign1(payload(tickets=[ticket_entry], vehicles={"陕K12345": vehicle_map})))
    except WireError:
        return


def test_a_ticket_listed_twice_or_both_open_and_revoked_is_refused() -> None:
    with pytest.raises(SchemaError, match="twice"):
        verify(cf.raw_sign1(payload(tickets=[entry(), entry()])))
    with pytest.raises(SchemaError, match="also revoked"):
        verify(cf.raw_sign1(payload(tickets=[entry()], revoked=[OUTBOUND.cti])))
    with pytest.raises(SchemaError, match="twice"):
        verify(cf.raw_sign1(payload(tickets=[], revoked=[OUTBOUND.cti, OUTBOUND.cti])))
