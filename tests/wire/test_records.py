"""Records: built, signed and verified exactly as WIRE.md says; everything else refused."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from cwt import COSE
from hypothesis import given
from hypothesis import strategies as st

from tests.wire import factories
from wire import cbor
from wire.errors import (
    HeaderError,
    NonCanonicalError,
    SchemaError,
    SignatureError,
    UndecodableError,
    UnknownKeyError,
    WireError,
)
from wire.keys import KeySet, SigningKey
from wire.records import ZERO_HASH, Record, decode_record, sign_record, verify_record

KEY = factories.device_key()
KEYS = KeySet([KEY.public])


def sign(body_type: str = "weighing", **changes: Any) -> Record:
    values: dict[str, Any] = {
        "site": factories.SITE,
        "device": KEY.kid,
        "seq": 1,
        "prev": ZERO_HASH,
        "ts": factories.TS,
        "body": factories.BODIES[body_type](),
    }
    values.update(changes)
    return sign_record(KEY, **values)


def raw_sign1(
    protected: bytes, payload: bytes, key: SigningKey = KEY, *, unprotected: Any = None
) -> bytes:
    """A COSE_Sign1 with exactly these header and payload bytes, validly signed."""
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    signature = key.key.sign(to_sign)
    return cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected or {}, payload, signature]))


def header(kid: str = KEY.kid, alg: int = -8) -> bytes:
    return cbor.dumps({1: alg, 4: kid.encode()})


def payload_map(**changes: Any) -> dict[str, Any]:
    payload = sign().payload()
    payload.update(changes)
    return payload


@pytest.mark.parametrize("body_type", sorted(factories.BODIES))
def test_each_body_type_round_trips(body_type: str) -> None:
    record = sign(body_type)
    checked = verify_record(record.raw, KEYS)
    assert checked == record
    assert checked.body == factories.BODIES[body_type]()
    assert cbor.dumps(checked.payload()) == cbor2.loads(record.raw).value[2]
    assert decode_record(record.raw) == record


def test_envelope_bytes_are_exactly_the_contract() -> None:
    raw = sign().raw
    kid = KEY.kid.encode()
    assert raw[:2] == b"\xd2\x84"  # tag 18 as one byte, array of four
    protected = b"\xa2\x01\x27\x04" + bytes([0x40 | len(kid)]) + kid
    assert raw[2:3] == bytes([0x40 | len(protected)])
    assert raw[3 : 3 + len(protected)] == protected
    assert raw[3 + len(protected)] == 0xA0  # empty unprotected map


def test_cwt_verifies_our_bytes() -> None:
    record = sign()
    assert COSE.new().decode(record.raw, KEY.public.cose) == cbor2.loads(record.raw).value[2]


def test_another_cose_library_verifies_our_bytes_and_we_verify_its() -> None:
    pycose_messages = pytest.importorskip("pycose.messages")
    pycose_keys = pytest.importorskip("pycose.keys")
    record = sign()
    public = pycose_keys.OKPKey(crv="ED25519", x=KEY.public.raw)
    message = pycose_messages.Sign1Message.decode(record.raw)
    message.key = public
    assert message.verify_signature()
    assert message.payload == cbor2.loads(record.raw).value[2]

    private = pycose_keys.OKPKey(crv="ED25519", x=KEY.public.raw, d=KEY.key.private_bytes_raw())
    ours = cbor.dumps(record.payload())
    theirs = pycose_messages.Sign1Message(
        phdr={1: -8, 4: KEY.kid.encode()},
        uhdr={},
        payload=ours,
        key=private,
    ).encode(tag=True)
    assert verify_record(theirs, KEYS).payload() == record.payload()


def test_alg_ed25519_is_accepted_on_verify() -> None:
    raw = raw_sign1(header(alg=-19), cbor.dumps(payload_map()))
    assert verify_record(raw, KEYS).seq == 1


def test_unknown_keys_are_kept() -> None:
    body = factories.weighing()
    with_extras = sign_record(
        KEY,
        site=factories.SITE,
        device=KEY.kid,
        seq=1,
        prev=ZERO_HASH,
        ts=factories.TS,
        body=type(body)(**{**_fields(body), "extras": {"zz_new": [1, 2]}}),
    )
    checked = verify_record(with_extras.raw, KEYS)
    assert checked.body.extras == {"zz_new": [1, 2]}
    assert cbor.dumps(checked.payload()) == cbor2.loads(with_extras.raw).value[2]


def _fields(body: Any) -> dict[str, Any]:
    return {name: getattr(body, name) for name in body.__dataclass_fields__}


# --- bad input: each a typed error naming what is wrong ------------------------------------


def test_truncated_bytes_are_refused_at_every_length() -> None:
    raw = sign().raw
    for size in range(len(raw)):
        with pytest.raises(WireError):
            verify_record(raw[:size], KEYS)


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (lambda r: r + b"\x00", UndecodableError, "after the end"),
        (lambda r: b"\xd8\x12" + r[1:], NonCanonicalError, "envelope"),  # tag in two bytes
        (lambda r: r[1:], UndecodableError, "tag 18"),  # untagged
        (lambda r: b"\xd1" + r[1:], UndecodableError, "tag 18"),  # COSE_Mac0's tag
        (lambda r: cbor2.dumps([1, 2]), UndecodableError, "tag 18"),
    ],
)
def test_envelope_problems(mutate: Any, error: type[WireError], message: str) -> None:
    with pytest.raises(error, match=message):
        verify_record(mutate(sign().raw), KEYS)


def test_non_empty_unprotected_header() -> None:
    raw = raw_sign1(header(), cbor.dumps(payload_map()), unprotected={4: KEY.kid.encode()})
    with pytest.raises(HeaderError, match="unprotected"):
        verify_record(raw, KEYS)


@pytest.mark.parametrize("alg", [-7, -35, -257, 5, -9])
def test_other_algs_are_refused_even_with_a_valid_signature(alg: int) -> None:
    raw = raw_sign1(header(alg=alg), cbor.dumps(payload_map()))
    with pytest.raises(HeaderError, match=f"alg {alg}"):
        verify_record(raw, KEYS)


@pytest.mark.parametrize(
    ("protected", "message"),
    [
        (cbor.dumps({1: -8}), "exactly alg"),
        (cbor.dumps({1: -8, 4: b"yl-mine-a-gate-1", 3: 0}), "exactly alg"),
        (cbor.dumps({1: -8, 4: "yl-mine-a-gate-1"}), "byte string"),
        (cbor.dumps({1: -8, 4: b"\xff\xfe"}), "UTF-8"),
        (cbor.dumps({1: -8, 4: b"Not An Id"}), "not a valid id"),
        (cbor.dumps([1, -8]), "must be a map"),
        (cbor2.dumps({4: b"yl-mine-a-gate-1", 1: -8}), "bytewise order"),
        (b"\xa2\x01\x27\x04\x50yl-mine-a-gate-1\x00", "after the end"),
    ],
)
def test_protected_header_problems(protected: bytes, message: str) -> None:
    with pytest.raises((HeaderError, NonCanonicalError, UndecodableError), match=message):
        verify_record(raw_sign1(protected, cbor.dumps(payload_map())), KEYS)


def test_payload_reencoded_by_a_relay_is_refused() -> None:
    # Same map, other deterministic-looking encoding: cbor2's length-first order differs from
    # bytewise only for mixed keys, so write the text keys unsorted instead.
    payload = payload_map()
    unsorted = cbor2.dumps(dict(reversed(list(payload.items()))))
    with pytest.raises(NonCanonicalError, match="payload: map keys not in bytewise order"):
        verify_record(raw_sign1(header(), unsorted), KEYS)


def test_payload_with_duplicate_keys_is_refused() -> None:
    payload = cbor.dumps(payload_map())
    # Append a second "v" by raising the map's count and adding the pair at the end.
    assert payload[0] == 0xA8
    doubled = b"\xa9" + payload[1:] + b"\x61v\x01"
    with pytest.raises(NonCanonicalError, match="duplicate map key"):
        verify_record(raw_sign1(header(), doubled), KEYS)


def test_payload_with_a_long_form_integer_is_refused() -> None:
    payload = cbor.dumps(payload_map())
    index = payload.index(b"\x61v\x01") + 2
    longer = payload[:index] + b"\x18\x01" + payload[index + 1 :]
    with pytest.raises(NonCanonicalError, match="shortest form"):
        verify_record(raw_sign1(header(), longer), KEYS)


@pytest.mark.parametrize("payload", [cbor.dumps([1, 2]), cbor.dumps("text"), cbor.dumps(7)])
def test_payload_that_is_not_a_map(payload: bytes) -> None:
    with pytest.raises(SchemaError, match="payload must be a map"):
        verify_record(raw_sign1(header(), payload), KEYS)


def test_unknown_kid() -> None:
    stranger = factories.device_key("yl-mine-b-gate-9", seed_byte=9)
    record = sign_record(
        stranger,
        site=factories.SITE,
        device=stranger.kid,
        seq=1,
        prev=ZERO_HASH,
        ts=factories.TS,
        body=factories.status(),
    )
    with pytest.raises(UnknownKeyError) as caught:
        verify_record(record.raw, KEYS)
    assert caught.value.kid == "yl-mine-b-gate-9"
    assert caught.value.reason == "unknown_device"


def test_kid_of_another_known_device_does_not_verify() -> None:
    other = factories.device_key("yl-mine-a-gate-2", seed_byte=8)
    keys = KeySet([KEY.public, other.public])
    forged = raw_sign1(header(kid=other.kid), cbor.dumps(payload_map(device=other.kid)), key=KEY)
    with pytest.raises(SignatureError, match="yl-mine-a-gate-2"):
        verify_record(forged, keys)


def test_kid_must_equal_device_field() -> None:
    other = factories.device_key("yl-mine-a-gate-2", seed_byte=8)
    raw = raw_sign1(header(kid=other.kid), cbor.dumps(payload_map()), key=other)
    with pytest.raises(HeaderError, match="does not match the device field"):
        verify_record(raw, KeySet([other.public]))


def test_large_payloads_verify() -> None:
    big = factories.event()
    detail = {"samples": [[n, n * 7] for n in range(12_000)]}  # about 70 KB of CBOR
    record = sign("event", body=type(big)(**{**_fields(big), "detail": detail}))
    assert len(record.raw) > 65_536
    assert verify_record(record.raw, KEYS).body == record.body


def test_long_kid_header_must_be_well_formed() -> None:
    kid = "yl-shenmu-mine-0012-gate-0002-x"
    assert len(kid) >= 24
    key = factories.device_key(kid, seed_byte=11)
    # a2 01 27 04 then a bstr head claiming the kid fits in one byte: not well-formed CBOR
    malformed = b"\xa2\x01\x27\x04" + bytes([0x40 | 0x1F]) + kid.encode()
    payload = cbor.dumps(payload_map(device=kid))
    with pytest.raises((UndecodableError, NonCanonicalError, HeaderError)):
        verify_record(raw_sign1(malformed, payload, key), KeySet([key.public]))


def test_bignums_are_refused_even_where_the_schema_is_open() -> None:
    payload = payload_map()
    payload["zz_extra"] = 1  # placeholder replaced by a bignum below
    raw_payload = cbor.dumps(payload).replace(
        b"\x68zz_extra\x01", b"\x68zz_extra\xc2\x49\x01" + bytes(8)
    )
    with pytest.raises(NonCanonicalError, match="tag 2"):
        verify_record(raw_sign1(header(), raw_payload), KEYS)


def test_signature_of_wrong_length() -> None:
    raw = sign().raw
    short = raw[:-66] + b"\x58\x3f" + raw[-63:]
    with pytest.raises(SignatureError, match="64 bytes"):
        verify_record(short, KEYS)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"v": 2}, "record.v"),
        ({"seq": 0}, "record.seq"),
        ({"seq": "1"}, "record.seq"),
        ({"prev": b"\x01" * 32}, "record.prev"),  # seq 1 links to zeros
        ({"prev": b"\x00" * 31}, "record.prev"),
        ({"ts": -1}, "record.ts"),
        ({"type": "bogus"}, "record.type"),
        ({"site": "Mine A"}, "record.site"),
        ({"body": [1]}, "record.body"),
    ],
)
def test_wrong_top_level_fields_are_named(changes: dict[str, Any], field: str) -> None:
    raw = raw_sign1(header(), cbor.dumps(payload_map(**changes)))
    with pytest.raises(SchemaError) as caught:
        verify_record(raw, KEYS)
    assert caught.value.field == field


@pytest.mark.parametrize("name", ["v", "site", "device", "seq", "prev", "ts", "type", "body"])
def test_missing_top_level_fields_are_named(name: str) -> None:
    payload = payload_map()
    del payload[name]
    with pytest.raises(SchemaError, match=f"record.{name} is missing"):
        verify_record(raw_sign1(header(), cbor.dumps(payload)), KEYS)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("direction", "sideways"),
        ("pass", "third"),
        ("plate_conf", 101),
        ("ticket", b"\x00" * 15),
        ("gross_kg", "49020"),
        ("tare_source", "guessed"),
        ("decision", "maybe"),
        ("reasons", []),
        ("reasons", ["ok", 3]),
        ("evidence", None),
        ("operator", 12),
    ],
)
def test_wrong_weighing_fields_are_named(name: str, value: object) -> None:
    payload = payload_map()
    payload["body"][name] = value
    with pytest.raises(SchemaError) as caught:
        verify_record(raw_sign1(header(), cbor.dumps(payload)), KEYS)
    assert caught.value.field == f"body.{name}"


@pytest.mark.parametrize("name", sorted(factories.weighing().to_map()))
def test_every_weighing_field_is_required(name: str) -> None:
    payload = payload_map()
    del payload["body"][name]
    with pytest.raises(SchemaError, match=f"body.{name} is missing"):
        verify_record(raw_sign1(header(), cbor.dumps(payload)), KEYS)


@pytest.mark.parametrize(
    ("body_type", "path", "value", "field"),
    [
        ("evidence", ("scale", "protocol"), "rs232", "body.scale.protocol"),
        ("evidence", ("readings",), [[0, "1"]], "body.readings"),
        ("evidence", ("beams", "front"), [[0, 1]], "body.beams.front"),
        ("evidence", ("photos",), [b"\x00"], "body.photos"),
        ("event", ("severity",), "panic", "body.severity"),
        ("event", ("ref",), b"\x00" * 31, "body.ref"),
        ("status", ("lanes", "lane-1"), "dancing", "body.lanes"),
        ("status", ("lanes", "lane-1"), [], "body.lanes"),  # unhashable: no TypeError
        ("status", ("lanes", "lane-1"), {"idle": 1}, "body.lanes"),
        ("status", ("backlog",), -3, "body.backlog"),
    ],
)
def test_wrong_nested_fields_are_named(
    body_type: str, path: tuple[str, ...], value: object, field: str
) -> None:
    payload = sign(body_type).payload()
    target = payload["body"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(SchemaError) as caught:
        verify_record(raw_sign1(header(), cbor.dumps(payload)), KEYS)
    assert caught.value.field == field


def test_sign_refuses_a_record_a_verifier_would_refuse() -> None:
    with pytest.raises(SchemaError):
        sign(seq=2, prev=b"\x01" * 31)
    with pytest.raises(ValueError, match="own key"):
        sign(device="yl-mine-a-gate-2")


# --- properties ----------------------------------------------------------------------------

RECORDS = {name: sign(name).raw for name in factories.BODIES}


@given(st.sampled_from(sorted(RECORDS)), st.data())
def test_flipping_any_bit_fails_verification(body_type: str, data: st.DataObject) -> None:
    raw = RECORDS[body_type]
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    flipped = bytearray(raw)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(WireError):
        verify_record(bytes(flipped), KEYS)


@given(st.binary(max_size=600))
def test_any_bytes_verify_or_fail_with_a_typed_error(data: bytes) -> None:
    with pytest.raises(WireError):
        verify_record(data, KEYS)


def test_flipping_each_bit_of_a_weighing_fails_verification() -> None:
    raw = RECORDS["weighing"]
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(WireError):
            verify_record(bytes(flipped), KEYS)
