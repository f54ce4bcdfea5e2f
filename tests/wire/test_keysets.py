"""Central's key set as JWKS and COSE_KeySet, central's kid, and key-set files for ``--keys``."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire import central_factories as cf
from wire import cbor, central, keysets
from wire.errors import (
    IssuerError,
    KeyFileError,
    SchemaError,
    UndecodableError,
    UnknownKeyError,
    WireError,
)
from wire.keyfiles import read_key_set, write_key_pair
from wire.keys import KeySet, SigningKey

OLD = cf.central_key("central-20250301", seed_byte=2)  # '-' and '_' in its base64url x
NEW = cf.CENTRAL
KEYS = KeySet([NEW.public, OLD.public])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "kty": "OKP",
        "crv": "Ed25519",
        "kid": OLD.kid,
        "x": b64url(OLD.public.raw),
    }
    value.update(changes)
    return {k: v for k, v in value.items() if v is not ...}


def cose_key(**changes: Any) -> dict[int, Any]:
    value: dict[int, Any] = keysets.cose_key(OLD.public)
    for name, item in changes.items():
        label = {"kty": 1, "kid": 2, "alg": 3, "crv": -1, "x": -2, "d": -4}[name]
        if item is ...:
            del value[label]
        else:
            value[label] = item
    return value


def same_keys(a: KeySet, b: KeySet) -> bool:
    return sorted(a) == sorted(b) and all(a[kid].raw == b[kid].raw for kid in a)


# --- central's kid -------------------------------------------------------------------------


def test_central_kid_is_the_day_the_key_was_made() -> None:
    assert central.central_kid(dt.date(2026, 11, 29)) == "central-20261129"
    assert central.central_kid(dt.date(2027, 1, 5)) == "central-20270105"


@pytest.mark.parametrize(
    ("kid", "central_"),
    [
        ("central-20261129", True),
        ("central-2026112", False),
        ("central-202611290", False),
        ("central-2026-11-29", False),
        ("central-abcdefgh", False),
        ("yl-shenmu-mine-0012-gate-02", False),
        ("xcentral-20261129", False),
    ],
)
def test_is_central_kid(kid: str, central_: bool) -> None:
    assert central.is_central_kid(kid) is central_


def test_only_a_central_key_signs_central_objects() -> None:
    with pytest.raises(ValueError, match="central key"):
        central.sign_central({"a": 1}, cf.DEVICE_KEY)


def test_verify_central_refuses_a_device_key_even_in_the_key_set() -> None:
    raw = cf.raw_sign1({"a": 1}, cf.DEVICE_KEY)
    keys = KeySet([NEW.public, cf.DEVICE_KEY.public])
    with pytest.raises(IssuerError, match="not a central key"):
        central.verify_central(raw, keys, what="thing")
    assert central.verify_central(central.sign_central({"a": 1}, NEW), keys, what="x").payload


def test_verify_central_refuses_an_unpublished_central_key() -> None:
    raw = central.sign_central({"a": 1}, cf.ROGUE_CENTRAL)
    with pytest.raises(UnknownKeyError) as caught:
        central.verify_central(raw, KEYS, what="thing")
    assert caught.value.kid == cf.ROGUE_CENTRAL.kid


# --- JWKS ----------------------------------------------------------------------------------


def test_jwks_round_trip_through_json() -> None:
    document = json.loads(json.dumps(keysets.jwks(KEYS)))
    parsed = keysets.parse_jwks(document)
    assert same_keys(parsed, KEYS)
    assert [key["kid"] for key in document["keys"]] == sorted(KEYS)


def test_jwks_entries_are_rfc8037_okp_keys() -> None:
    (entry,) = keysets.jwks(KeySet([OLD.public]))["keys"]
    assert entry["kty"] == "OKP"
    assert entry["crv"] == "Ed25519"
    assert entry["kid"] == OLD.kid
    assert entry["x"] == b64url(OLD.public.raw)
    assert "=" not in entry["x"]
    assert len(entry["x"]) == 43
    assert entry.get("alg", "EdDSA") == "EdDSA"
    assert "d" not in entry  # never a private key


def test_empty_jwks() -> None:
    assert keysets.jwks(KeySet()) == {"keys": []}
    assert len(keysets.parse_jwks({"keys": []})) == 0


def test_jwks_may_omit_alg_or_name_ed25519() -> None:
    for alg in (..., "EdDSA", "Ed25519"):
        keys = keysets.parse_jwks({"keys": [jwk(alg=alg)]})
        assert keys[OLD.kid].raw == OLD.public.raw


def test_jwks_extra_members_are_ignored() -> None:
    keys = keysets.parse_jwks({"keys": [jwk(use="sig", key_ops=["verify"])], "extra": 1})
    assert keys[OLD.kid].raw == OLD.public.raw


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        (jwk(kty="EC"), "jwks.keys[0]"),
        (jwk(kty="RSA"), "jwks.keys[0]"),
        (jwk(kty="okp"), "jwks.keys[0]"),
        (jwk(kty=...), "jwks.keys[0].kty"),
        (jwk(kty=1), "jwks.keys[0].kty"),
        (jwk(crv="X25519"), "jwks.keys[0]"),
        (jwk(crv="Ed448"), "jwks.keys[0]"),
        (jwk(crv="P-256"), "jwks.keys[0]"),
        (jwk(crv=...), "jwks.keys[0].crv"),
        (jwk(alg="ES256"), "jwks.keys[0]"),
        (jwk(alg="RS256"), "jwks.keys[0]"),
        (jwk(alg="none"), "jwks.keys[0]"),
        (jwk(alg=None), "jwks.keys[0]"),
        (jwk(x=...), "jwks.keys[0].x"),
        (jwk(x=b64url(OLD.public.raw[:31])), "jwks.keys[0].x"),
        (jwk(x=b64url(OLD.public.raw + b"\x00")), "jwks.keys[0].x"),
        (jwk(x=b64url(OLD.public.raw * 2)), "jwks.keys[0].x"),
        (jwk(x=""), "jwks.keys[0].x"),
        (jwk(x=b64url(OLD.public.raw) + "!"), "jwks.keys[0].x"),
        (jwk(x="A" * 42), "jwks.keys[0].x"),  # 31.5 bytes
        (jwk(x="A"), "jwks.keys[0].x"),  # 6 bits
        (jwk(x=list(OLD.public.raw)), "jwks.keys[0].x"),
        (jwk(kid=...), "jwks.keys[0].kid"),
        (jwk(kid=""), "jwks.keys[0].kid"),
        (jwk(kid=7), "jwks.keys[0].kid"),
        (jwk(kid="c" * 64), "jwks.keys[0].kid"),
        (jwk(kid="Central 2026"), "kid"),
        ("not a key", "jwks.keys[0]"),
        ([jwk()], "jwks.keys[0]"),
        (None, "jwks.keys[0]"),
    ],
)
def test_jwks_strict_parsing(entry: object, where: str) -> None:
    with pytest.raises(SchemaError) as caught:
        keysets.parse_jwks({"keys": [entry]})
    assert caught.value.field == where


def test_the_bad_entry_is_named_by_index() -> None:
    good = keysets.jwks(KeySet([NEW.public]))["keys"][0]
    with pytest.raises(SchemaError) as caught:
        keysets.parse_jwks({"keys": [good, jwk(crv="X25519")]})
    assert caught.value.field == "jwks.keys[1]"


@pytest.mark.parametrize(
    "document", [[jwk()], "keys", None, 3, {}, {"keys": jwk()}, {"keys": None}, {"Keys": []}]
)
def test_jwks_that_is_not_a_map_with_a_keys_array(document: object) -> None:
    with pytest.raises(SchemaError):
        keysets.parse_jwks(document)


def test_jwks_x_with_non_alphabet_characters_is_refused() -> None:
    x = b64url(OLD.public.raw)
    with pytest.raises(SchemaError):
        keysets.parse_jwks({"keys": [jwk(x=x[:10] + "!!!!" + x[10:])]})


def test_jwks_x_in_standard_base64_is_refused() -> None:
    x = b64url(OLD.public.raw)
    assert "-" in x or "_" in x
    standard = x.replace("-", "+").replace("_", "/")
    with pytest.raises(SchemaError):
        keysets.parse_jwks({"keys": [jwk(x=standard)]})


def test_jwks_x_with_padding_is_refused() -> None:
    with pytest.raises(SchemaError):
        keysets.parse_jwks({"keys": [jwk(x=b64url(OLD.public.raw) + "=")]})


def test_jwks_with_two_keys_under_one_kid_is_a_schema_error() -> None:
    other = cf.central_key(OLD.kid, seed_byte=9)
    with pytest.raises(SchemaError):
        keysets.parse_jwks({"keys": [jwk(), jwk(x=b64url(other.public.raw))]})


def test_jwks_with_the_same_key_twice_is_one_key() -> None:
    assert list(keysets.parse_jwks({"keys": [jwk(), jwk()]})) == [OLD.kid]


# --- COSE_KeySet ---------------------------------------------------------------------------


def test_cose_key_set_round_trip() -> None:
    data = keysets.encode_cose_key_set(KEYS)
    assert same_keys(keysets.decode_cose_key_set(data), KEYS)


def test_cose_key_set_bytes_are_the_contract() -> None:
    data = keysets.encode_cose_key_set(KEYS)
    value = cbor2.loads(data)
    assert value == [
        {1: 1, 2: kid.encode(), 3: -8, -1: 6, -2: KEYS[kid].raw} for kid in sorted(KEYS)
    ]
    assert data == cbor.dumps(value)  # deterministic CBOR
    first = keysets.cose_key(OLD.public)
    # {1: 1, 2: h'kid', 3: -8, -1: 6, -2: h'x'} with keys in bytewise order 1, 2, 3, -1, -2
    assert cbor.dumps(first).startswith(b"\xa5\x01\x01\x02\x50" + OLD.kid.encode() + b"\x03\x27")


def test_empty_cose_key_set() -> None:
    assert keysets.encode_cose_key_set(KeySet()) == b"\x80"
    assert len(keysets.decode_cose_key_set(b"\x80")) == 0


def test_cose_key_may_name_alg_ed25519_or_omit_it() -> None:
    for alg in (..., -19):
        keys = keysets.decode_cose_key_set(cbor.dumps([cose_key(alg=alg)]))
        assert keys[OLD.kid].raw == OLD.public.raw


@pytest.mark.parametrize(
    "entry",
    [
        cose_key(kty=2),  # EC2
        cose_key(kty=4),  # Symmetric
        cose_key(kty=...),
        cose_key(kty="OKP"),
        cose_key(crv=4),  # X25519
        cose_key(crv=7),  # Ed448
        cose_key(crv=1),  # P-256
        cose_key(crv=...),
        cose_key(alg=-7),  # ES256
        cose_key(alg=-35),
        cose_key(alg=-9),  # ESP256
        cose_key(alg="EdDSA"),
        cose_key(x=...),
        cose_key(x=OLD.public.raw[:31]),
        cose_key(x=OLD.public.raw + b"\x00"),
        cose_key(x=b64url(OLD.public.raw)),
        cose_key(kid=...),
        cose_key(kid=OLD.kid),  # text, not bytes
        cose_key(kid=b"\xff\xfe"),
        cose_key(kid=b"Central 2026"),
        cose_key(kid=b""),
        {"kty": "OKP", "crv": "Ed25519", "x": b64url(OLD.public.raw)},  # a JWK in CBOR
        [1, 6],
        b"key",
        None,
    ],
)
def test_cose_key_set_strict_parsing(entry: object) -> None:
    with pytest.raises(SchemaError) as caught:
        keysets.decode_cose_key_set(cbor.dumps([entry]))
    assert caught.value.field == "keys[0]"


@pytest.mark.parametrize(
    "data",
    [
        cbor.dumps(keysets.cose_key(OLD.public)),  # a single COSE_Key, not a set
        cbor.dumps({"keys": []}),
        cbor.dumps(b"keys"),
        cbor.dumps(None),
        b"",
        b"\x81",  # truncated
        keysets.encode_cose_key_set(KEYS) + b"\x00",  # trailing bytes
        b'{"keys": []}',
    ],
)
def test_cose_key_set_that_is_not_an_array(data: bytes) -> None:
    with pytest.raises(UndecodableError):
        keysets.decode_cose_key_set(data)


@pytest.mark.parametrize("entry", [cose_key(kty=True), cose_key(crv=6.0), cose_key(alg=-8.0)])
def test_cose_key_labels_of_the_wrong_type_are_refused(entry: dict[int, Any]) -> None:
    with pytest.raises(WireError):
        keysets.decode_cose_key_set(cbor2.dumps([entry]))


def test_cose_key_set_with_two_keys_under_one_kid_is_a_schema_error() -> None:
    other = cf.central_key(OLD.kid, seed_byte=9)
    data = cbor.dumps([cose_key(), keysets.cose_key(other.public)])
    with pytest.raises(SchemaError):
        keysets.decode_cose_key_set(data)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_key_set_or_a_wire_error(data: bytes) -> None:
    try:
        keys = keysets.decode_cose_key_set(data)
    except WireError:
        return
    assert isinstance(keys, KeySet)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)
KEY_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "kty": st.sampled_from(["OKP", "EC", 1]) | JSON,
        "crv": st.sampled_from(["Ed25519", "X25519"]) | JSON,
        "alg": st.sampled_from(["EdDSA", "Ed25519", "ES256"]) | JSON,
        "kid": st.sampled_from([OLD.kid, "Bad Kid"]) | JSON,
        "x": st.sampled_from([b64url(OLD.public.raw), "AAAA"]) | st.text(max_size=60) | JSON,
    },
)


@given(st.lists(KEY_FIELDS | JSON, max_size=3))
def test_any_jwks_gives_a_key_set_or_a_wire_error(entries: list[Any]) -> None:
    try:
        keys = keysets.parse_jwks({"keys": entries})
    except WireError:
        return
    assert all(kid == OLD.kid for kid in keys)


# --- key-set files for every --keys option -------------------------------------------------


def test_parse_key_set_file_tells_jwks_from_cose() -> None:
    as_json = json.dumps(keysets.jwks(KEYS), indent=2).encode()
    assert same_keys(keysets.parse_key_set_file(b"\n  " + as_json, source="k.json"), KEYS)
    as_cbor = keysets.encode_cose_key_set(KEYS)
    assert same_keys(keysets.parse_key_set_file(as_cbor, source="k.cbor"), KEYS)


def test_parse_key_set_file_with_broken_json() -> None:
    with pytest.raises(UndecodableError, match=r"k\.json: not JSON"):
        keysets.parse_key_set_file(b'{"keys": [', source="k.json")
    with pytest.raises(UndecodableError, match="not JSON"):
        keysets.parse_key_set_file(b"{\xff\xfe}", source="k.json")


def test_media_types() -> None:
    assert keysets.COSE_KEY_SET_MEDIA_TYPE == "application/cose-key-set"
    assert keysets.JWKS_MEDIA_TYPE == "application/jwk-set+json"


def test_read_key_set_takes_every_kind_of_key_file(tmp_path: Path) -> None:
    jwks_file = tmp_path / "central-keys.json"
    jwks_file.write_text(json.dumps(keysets.jwks(KeySet([NEW.public]))))
    cose_file = tmp_path / "central-keys.cbor"
    cose_file.write_bytes(keysets.encode_cose_key_set(KeySet([OLD.public])))
    pem_dir = tmp_path / "devices"
    pem_dir.mkdir()
    write_key_pair(cf.DEVICE_KEY, pem_dir)
    gate = SigningKey.from_seed(b"\x05" * 32, kid="yl-shenmu-mine-0012-gate-01")
    pem_file = tmp_path / f"{gate.kid}.pub"
    pem_file.write_bytes(gate.public.to_pem())

    keys = read_key_set([jwks_file, cose_file, pem_dir, pem_file])
    assert sorted(keys) == sorted([NEW.kid, OLD.kid, cf.DEVICE_KEY.kid, gate.kid])
    assert keys[NEW.kid].raw == NEW.public.raw
    assert keys[OLD.kid].raw == OLD.public.raw
    assert keys[cf.DEVICE_KEY.kid].raw == cf.DEVICE_KEY.public.raw


def test_read_key_set_of_a_jwks_verifies_a_central_object(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(keysets.jwks(KeySet([NEW.public]))))
    keys = read_key_set([path])
    ticket = cf.ticket()
    assert central.verify_central(ticket.raw, keys, what="ticket").kid == NEW.kid


@pytest.mark.parametrize(
    "content",
    [
        b"hello",
        b'{"keys": [{"kty": "EC"}]}',
        b'{"keys": ',
        cbor.dumps({"keys": 1}),
        cbor.dumps([{1: 2}]),
        b"",
    ],
)
def test_read_key_set_refuses_a_file_that_holds_no_key_set(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "keys.bin"
    path.write_bytes(content)
    with pytest.raises(KeyFileError) as caught:
        read_key_set([path])
    assert caught.value.path == str(path)


def test_read_key_set_with_two_keys_under_one_kid_names_the_file(tmp_path: Path) -> None:
    other = cf.central_key(OLD.kid, seed_byte=9)
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [jwk(), jwk(x=b64url(other.public.raw))]}))
    with pytest.raises(KeyFileError):
        read_key_set([path])


def test_a_published_key_set_with_private_key_material_is_refused() -> None:
    with pytest.raises(SchemaError, match="private key"):
        keysets.parse_jwks({"keys": [jwk(d=b64url(b"\x01" * 32))]})
    with pytest.raises(SchemaError, match="private key"):
        keysets.decode_cose_key_set(cbor2.dumps([{**cose_key(), -4: b"\x01" * 32}]))


def test_jwks_x_with_non_zero_trailing_bits_is_refused() -> None:
    x = jwk()["x"]
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(x[-1])
    twisted = x[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last ^ 1]
    with pytest.raises(SchemaError, match="trailing bits"):
        keysets.parse_jwks({"keys": [jwk(x=twisted)]})
