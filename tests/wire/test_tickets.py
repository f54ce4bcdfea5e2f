"""E-tickets: every claim under its integer key, verified offline with the caller's clock."""

from __future__ import annotations

import string
import zlib
from typing import Any

import cbor2
import pytest
from cwt import COSE
from hypothesis import given
from hypothesis import strategies as st

from tests.wire import central_factories as cf
from wire import cbor, qr
from wire.errors import (
    ExpiredError,
    HeaderError,
    IssuerError,
    NonCanonicalError,
    QrError,
    SchemaError,
    SignatureError,
    UndecodableError,
    UnknownKeyError,
    WireError,
)
from wire.keys import KeySet
from wire.tickets import (
    CLAIM_NAMES,
    HOURS_48,
    Ticket,
    issue_ticket,
    ticket_from_qr,
    ticket_qr,
    verify_ticket,
)

KEYS = cf.CENTRAL_KEYS
TICKET = cf.ticket()

# WIRE.md's claim table, written out again here rather than imported from the code under test.
CLAIM_TABLE = {
    1: "iss",
    6: "iat",
    4: "exp",
    7: "cti",
    -65537: "seller_site",
    -65538: "seller",
    -65539: "buyer",
    -65540: "plate",
    -65541: "coal",
    -65542: "max_net_kg",
    -65543: "dest_site",
    -65544: "no",
    -65545: "transit_s",
}
KEY_OF = {name: key for key, name in CLAIM_TABLE.items()}


def claims(**changes: Any) -> dict[Any, Any]:
    """The integer-keyed claims of ``cf.ticket()``; ``...`` deletes a claim."""
    values = {KEY_OF[name]: value for name, value in cf.ticket_values().items()}
    for name, value in changes.items():
        key = KEY_OF[name]
        if value is ...:
            del values[key]
        else:
            values[key] = value
    return values


def payload_of(raw: bytes) -> dict[Any, Any]:
    value = cbor2.loads(raw)
    assert value.tag == 18
    payload: dict[Any, Any] = cbor2.loads(value.value[2])
    return payload


# --- round trip ----------------------------------------------------------------------------


def test_claim_table_is_wire_md() -> None:
    assert CLAIM_NAMES == CLAIM_TABLE


def test_every_claim_survives_a_round_trip() -> None:
    expected = cf.ticket_values()
    checked = verify_ticket(TICKET.raw, KEYS, now_s=cf.TICKET_IAT)
    assert checked == TICKET
    assert checked.raw == TICKET.raw
    assert checked.kid == cf.CENTRAL_KID
    for name, value in expected.items():
        assert getattr(checked, name) == value, name
    assert checked.plate == "陕K12345"
    assert checked.id == cf.CTI.hex()


def test_the_payload_holds_exactly_the_13_integer_claims() -> None:
    payload = payload_of(TICKET.raw)
    assert sorted(payload) == sorted(CLAIM_TABLE)
    assert all(type(key) is int for key in payload)
    assert {CLAIM_TABLE[key]: value for key, value in payload.items()} == cf.ticket_values()
    assert payload == TICKET.claims()


def test_the_unicode_plate_is_utf8_in_the_payload() -> None:
    # -65540 is 0x3a 0x00010003, then a text string of 9 bytes (3 for 陕, 6 ASCII): 0x69.
    assert b"\x3a\x00\x01\x00\x03\x69" + "陕K12345".encode() in TICKET.raw


def test_envelope_is_the_cose_rules() -> None:
    raw = TICKET.raw
    assert raw[:2] == b"\xd2\x84"
    protected = cbor.dumps({1: -8, 4: cf.CENTRAL_KID.encode()})
    assert raw[2:3] == bytes([0x40 | len(protected)])
    assert raw[3 : 3 + len(protected)] == protected
    assert raw[3 + len(protected)] == 0xA0
    assert cbor.dumps(payload_of(raw)) == cbor2.loads(raw).value[2]


def test_cwt_library_verifies_the_ticket_and_keeps_every_claim() -> None:
    payload = COSE.new().decode(TICKET.raw, cf.CENTRAL.public.cose)
    assert cbor2.loads(payload) == TICKET.claims()


def test_json_form_names_the_claims() -> None:
    document = TICKET.to_json()
    assert document["cti"] == cf.CTI.hex()
    assert len(document["cti"]) == 32
    assert document["cti"] == document["cti"].lower()
    assert document["kid"] == cf.CENTRAL_KID
    assert document["plate"] == "陕K12345"
    assert document["no"] == cf.NUMBER
    assert set(document) == set(CLAIM_TABLE.values()) | {"kid"}


def test_defaults_are_48_hours() -> None:
    values = cf.ticket_values()
    del values["exp"], values["transit_s"]
    ticket = issue_ticket(cf.CENTRAL, **values)
    assert ticket.exp == cf.TICKET_IAT + 48 * 3600 == cf.TICKET_IAT + HOURS_48
    assert ticket.transit_s == 48 * 3600


def test_new_energy_plate() -> None:
    assert cf.ticket(plate="陕KD12345").plate == "陕KD12345"


PLATES = st.sampled_from(["陕K12345", "陕KD12345", "京A8888F", "蒙B2C3D4", "晋M00001"])
IDS = st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)
UINT = st.integers(min_value=0, max_value=2**64 - 1)


@given(
    iss=st.text(min_size=1, max_size=63),
    iat=st.integers(min_value=0, max_value=2**63),
    lifetime=st.integers(min_value=1, max_value=2**62),
    cti=st.binary(min_size=16, max_size=16),
    seller_site=IDS,
    seller=IDS,
    buyer=IDS,
    plate=PLATES,
    coal=st.text(min_size=1, max_size=32),
    max_net_kg=st.integers(min_value=1, max_value=2**64 - 1),
    dest_site=IDS,
    no=st.text(string.ascii_uppercase + string.digits + "-", min_size=1, max_size=32),
    transit_s=UINT,
)
def test_any_valid_claims_round_trip(**values: Any) -> None:
    lifetime = values.pop("lifetime")
    ticket = issue_ticket(cf.CENTRAL, exp=values["iat"] + lifetime, **values)
    checked = verify_ticket(ticket.raw, KEYS, now_s=None)
    assert checked == ticket
    for name, value in values.items():
        assert getattr(checked, name) == value


# --- verification: signature, alg, issuer, loading deadline --------------------------------


def test_loading_deadline_uses_the_callers_clock() -> None:
    assert verify_ticket(TICKET.raw, KEYS, now_s=cf.TICKET_IAT).no == cf.NUMBER
    assert verify_ticket(TICKET.raw, KEYS, now_s=cf.TICKET_EXP - 1).no == cf.NUMBER
    for now_s in (cf.TICKET_EXP, cf.TICKET_EXP + 1, cf.TICKET_EXP + 10**9):
        with pytest.raises(ExpiredError) as caught:
            verify_ticket(TICKET.raw, KEYS, now_s=now_s)
        assert caught.value.limit == cf.TICKET_EXP
        assert caught.value.now == now_s
        assert caught.value.reason == "expired"
        assert cf.NUMBER in caught.value.message


def test_no_clock_skips_the_deadline_for_a_loaded_ticket() -> None:
    # A ticket loaded in time stays verifiable in transit and at arrival, years later too.
    assert verify_ticket(TICKET.raw, KEYS, now_s=None) == TICKET


def test_check_loadable() -> None:
    TICKET.check_loadable(now_s=cf.TICKET_EXP - 1)
    with pytest.raises(ExpiredError):
        TICKET.check_loadable(now_s=cf.TICKET_EXP)


def test_expected_issuer() -> None:
    assert verify_ticket(TICKET.raw, KEYS, now_s=None, issuer=cf.ISS).iss == cf.ISS
    with pytest.raises(IssuerError, match="expected 'ordos-energy-bureau'"):
        verify_ticket(TICKET.raw, KEYS, now_s=None, issuer="ordos-energy-bureau")


def test_a_ticket_signed_by_a_device_key_is_an_issuer_error() -> None:
    forged = cf.raw_sign1(claims(), cf.DEVICE_KEY)
    keys = KeySet([cf.CENTRAL.public, cf.DEVICE_KEY.public])  # even with the device key known
    with pytest.raises(IssuerError) as caught:
        verify_ticket(forged, keys, now_s=None)
    assert cf.DEVICE in caught.value.message
    assert caught.value.reason == "wrong_issuer"


def test_a_device_key_cannot_issue_a_ticket() -> None:
    with pytest.raises(ValueError, match="central key"):
        cf.ticket(key=cf.DEVICE_KEY)


def test_a_ticket_signed_by_an_unpublished_central_key() -> None:
    forged = cf.ticket(key=cf.ROGUE_CENTRAL)
    with pytest.raises(UnknownKeyError) as caught:
        verify_ticket(forged.raw, KEYS, now_s=None)
    assert caught.value.kid == cf.ROGUE_CENTRAL.kid


def test_a_ticket_claiming_centrals_kid_but_signed_by_another_key() -> None:
    forged = cf.raw_sign1(claims(max_net_kg=90_000), cf.ROGUE_CENTRAL, kid=cf.CENTRAL_KID)
    with pytest.raises(SignatureError) as caught:
        verify_ticket(forged, KEYS, now_s=None)
    assert caught.value.kid == cf.CENTRAL_KID


def test_an_old_central_key_still_verifies_its_tickets() -> None:
    old = cf.central_key("central-20250301", seed_byte=2)
    ticket = cf.ticket(key=old)
    keys = KeySet([cf.CENTRAL.public, old.public])
    assert verify_ticket(ticket.raw, keys, now_s=None).kid == old.kid


def test_alg_ed25519_is_accepted() -> None:
    raw = cf.raw_sign1(claims(), alg=-19)
    assert verify_ticket(raw, KEYS, now_s=None).claims() == TICKET.claims()


@pytest.mark.parametrize("alg", [-7, -35, -257, -9, 0, -19 + 1])
def test_other_algs_are_refused(alg: int) -> None:
    with pytest.raises(HeaderError, match=f"alg {alg}"):
        verify_ticket(cf.raw_sign1(claims(), alg=alg), KEYS, now_s=None)


def test_cwt_tag_61_is_refused() -> None:
    with pytest.raises(UndecodableError, match="tag 18"):
        verify_ticket(b"\xd8\x3d" + TICKET.raw, KEYS, now_s=None)


def test_non_canonical_claims_are_refused() -> None:
    raw = cf.raw_sign1(claims(), canonical=False)  # cbor2 keeps 6 before 4
    with pytest.raises(NonCanonicalError):
        verify_ticket(raw, KEYS, now_s=None)


def test_truncated_ticket_is_refused_at_every_length() -> None:
    for size in range(len(TICKET.raw)):
        with pytest.raises(WireError):
            verify_ticket(TICKET.raw[:size], KEYS, now_s=None)


@pytest.mark.parametrize("data", [b"", "CT1:...", None, bytearray(TICKET.raw)])
def test_not_bytes(data: Any) -> None:
    with pytest.raises(WireError):
        verify_ticket(data, KEYS, now_s=None)


# --- claims: unknown, missing, wrongly typed -----------------------------------------------


@pytest.mark.parametrize(
    "key", [2, 8, 3, 5, -65546, -65536, -65600, 99, "iss", "plate", b"\x01"], ids=repr
)
def test_unknown_claims_are_refused_by_name(key: Any) -> None:
    payload = claims()
    payload[key] = "x"
    with pytest.raises(SchemaError) as caught:
        verify_ticket(cf.raw_sign1(payload), KEYS, now_s=None)
    assert repr(key) in caught.value.message
    assert caught.value.field == "ticket"


@pytest.mark.parametrize("name", sorted(CLAIM_TABLE.values()))
def test_every_claim_is_required(name: str) -> None:
    with pytest.raises(SchemaError) as caught:
        verify_ticket(cf.raw_sign1(claims(**{name: ...})), KEYS, now_s=None)
    assert caught.value.field == f"ticket.{name}"
    assert "missing" in caught.value.message


WRONG_CLAIMS = [
    ("iss", 7),
    ("iss", ""),
    ("iss", "x" * 64),
    ("iss", None),
    ("iat", str(cf.TICKET_IAT)),
    ("iat", -1),
    ("iat", True),
    ("iat", None),
    ("exp", str(cf.TICKET_EXP)),
    ("exp", -1),
    ("exp", [cf.TICKET_EXP]),
    ("cti", cf.CTI.hex()),
    ("cti", cf.CTI[:15]),
    ("cti", cf.CTI + b"\x00"),
    ("cti", None),
    ("seller_site", 12),
    ("seller_site", "Shenmu Mine 12"),
    ("seller_site", "-yl-shenmu"),
    ("seller_site", "s" * 64),
    ("seller", "Shenmu Coal"),
    ("seller", b"seller"),
    ("buyer", ""),
    ("buyer", {"id": "buyer"}),
    ("plate", 12345),
    ("plate", b"\xe9\x99\x95K12345"),
    ("plate", ""),
    ("plate", "陕k12345"),
    ("coal", ""),
    ("coal", None),
    ("coal", "c" * 33),
    ("max_net_kg", 0),
    ("max_net_kg", -1),
    ("max_net_kg", "35000"),
    ("max_net_kg", None),
    ("max_net_kg", False),
    ("dest_site", ""),
    ("dest_site", "Fugu Power"),
    ("no", 123),
    ("no", "n" * 33),
    ("no", ""),
    ("transit_s", -5),
    ("transit_s", None),
    ("transit_s", "48h"),
]


@pytest.mark.parametrize(("name", "value"), WRONG_CLAIMS, ids=lambda v: repr(v)[:20])
def test_wrongly_typed_claims_are_named(name: str, value: Any) -> None:
    with pytest.raises(SchemaError) as caught:
        verify_ticket(cf.raw_sign1(claims(**{name: value})), KEYS, now_s=None)
    assert caught.value.field == f"ticket.{name}"


@pytest.mark.parametrize(("name", "value"), WRONG_CLAIMS, ids=lambda v: repr(v)[:20])
def test_issuing_refuses_what_verifying_refuses(name: str, value: Any) -> None:
    with pytest.raises(SchemaError) as caught:
        cf.ticket(**{name: value})
    assert caught.value.field == f"ticket.{name}"


def test_negative_integers_that_cbor_cannot_hold_as_uint() -> None:
    with pytest.raises(SchemaError) as caught:
        verify_ticket(cf.raw_sign1(claims(max_net_kg=-(2**64))), KEYS, now_s=None)
    assert caught.value.field == "ticket.max_net_kg"


@pytest.mark.parametrize("exp", [cf.TICKET_IAT, cf.TICKET_IAT - 1, 0])
def test_exp_must_be_after_iat(exp: int) -> None:
    with pytest.raises(SchemaError, match="must be after iat") as caught:
        verify_ticket(cf.raw_sign1(claims(exp=exp)), KEYS, now_s=None)
    assert caught.value.field == "ticket.exp"
    with pytest.raises(SchemaError, match="must be after iat"):
        cf.ticket(exp=exp)


@pytest.mark.parametrize(
    "plate",
    [
        "陕k12345",
        "陕K·12345",
        "陕K 12345",
        "陕\uff2b\uff11\uff12\uff13\uff14\uff15",
        " 陕K12345",
        "陕K-12345",
    ],
)
def test_a_plate_that_is_not_normalised_is_refused(plate: str) -> None:
    with pytest.raises(SchemaError, match="not a normalised plate") as caught:
        verify_ticket(cf.raw_sign1(claims(plate=plate)), KEYS, now_s=None)
    assert caught.value.field == "ticket.plate"
    with pytest.raises(SchemaError, match="not a normalised plate"):
        cf.ticket(plate=plate)


@pytest.mark.parametrize(
    ("plate", "reason"),
    [
        ("陕K1234", "length"),
        ("陕KI2345", "i_or_o"),
        ("AK12345", "province"),
        ("陕K12345X", "new_energy_format"),
    ],
)
def test_a_plate_that_is_no_plate_is_a_schema_error_saying_why(plate: str, reason: str) -> None:
    with pytest.raises(SchemaError) as caught:
        verify_ticket(cf.raw_sign1(claims(plate=plate)), KEYS, now_s=None)
    assert caught.value.field == "ticket.plate"
    assert f"({reason})" in caught.value.message


def test_a_trailer_plate_is_not_a_ticket_plate() -> None:
    with pytest.raises(WireError):
        verify_ticket(cf.raw_sign1(claims(plate="陕K1234挂")), KEYS, now_s=None)


def test_payload_that_is_not_a_map() -> None:
    with pytest.raises(SchemaError, match="payload must be a map"):
        verify_ticket(cf.raw_sign1(list(claims().items())), KEYS, now_s=None)


# --- QR text -------------------------------------------------------------------------------


def test_qr_round_trip() -> None:
    text = ticket_qr(TICKET)
    print(f"ticket: {len(TICKET.raw)} COSE bytes, {len(text)} QR characters")
    assert text.startswith("CT1:")
    assert set(text[4:]) <= set(qr.ALPHABET)
    raw = ticket_from_qr(text)
    assert raw == TICKET.raw
    assert verify_ticket(raw, KEYS, now_s=cf.TICKET_IAT) == TICKET


def test_qr_is_zlib_in_base45() -> None:
    assert zlib.decompress(qr.b45decode(ticket_qr(TICKET)[4:])) == TICKET.raw


def test_qr_of_a_receipt_is_not_a_ticket() -> None:
    with pytest.raises(QrError, match="'CT1:'"):
        ticket_from_qr(qr.encode_qr(qr.RECEIPT_PREFIX, TICKET.raw))


def test_qr_above_4_kib_is_refused() -> None:
    with pytest.raises(QrError, match="more than 4096"):
        ticket_from_qr(qr.encode_qr(qr.TICKET_PREFIX, TICKET.raw + bytes(4096)))


def test_qr_holding_a_record_is_not_a_ticket() -> None:
    text = qr.encode_qr(qr.TICKET_PREFIX, cf.record().raw)
    keys = KeySet([cf.CENTRAL.public, cf.DEVICE_KEY.public])
    with pytest.raises(IssuerError):
        verify_ticket(ticket_from_qr(text), keys, now_s=None)


# --- bit flips -----------------------------------------------------------------------------


def test_flipping_each_bit_of_a_ticket_fails_verification() -> None:
    raw = TICKET.raw
    for bit in range(len(raw) * 8):
        with pytest.raises(WireError):
            verify_ticket(cf.flip(raw, bit), KEYS, now_s=None)


@given(st.data())
def test_flipping_bits_of_a_ticket_qr_fails(data: st.DataObject) -> None:
    raw = TICKET.raw
    bits = data.draw(st.sets(st.integers(0, len(raw) * 8 - 1), min_size=1, max_size=4))
    flipped = raw
    for bit in bits:
        flipped = cf.flip(flipped, bit)
    text = qr.encode_qr(qr.TICKET_PREFIX, flipped)
    with pytest.raises(WireError):
        verify_ticket(ticket_from_qr(text), KEYS, now_s=None)


def test_ticket_type_is_frozen() -> None:
    with pytest.raises(AttributeError):
        TICKET.plate = "陕K54321"  # type: ignore[misc]
    assert isinstance(TICKET, Ticket)


@given(st.binary(max_size=400))
def test_any_bytes_fail_with_a_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        verify_ticket(data, KEYS, now_s=None)


@given(cf.mutations(claims(), st.integers(-65_600, 10) | st.text(max_size=4)))
def test_any_signed_claims_give_a_ticket_or_a_wire_error(payload: dict[Any, Any]) -> None:
    try:
        ticket = verify_ticket(cf.raw_sign1(payload), KEYS, now_s=cf.TICKET_IAT)
    except WireError:
        return
    assert ticket.claims() == payload
