"""Device certificates: CWTs binding a device key (cnf, RFC 8747) to its device and site."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire import central_factories as cf
from wire import keysets
from wire.certificates import TWO_YEARS_S, Certificate, verify_certificate
from wire.errors import (
    ExpiredError,
    HeaderError,
    IssuerError,
    SchemaError,
    SignatureError,
    UnknownKeyError,
    WireError,
)
from wire.keys import KeySet
from wire.records import verify_record

KEYS = cf.CENTRAL_KEYS
CERT = cf.certificate()
EXP = cf.CERT_IAT + TWO_YEARS_S


def claims(**changes: Any) -> dict[int, Any]:
    """The claims of ``CERT`` by label; ``...`` deletes one."""
    labels = {"iss": 1, "sub": 2, "exp": 4, "iat": 6, "cnf": 8, "site": -65600}
    values: dict[int, Any] = cbor2.loads(cbor2.loads(CERT.raw).value[2])
    for name, value in changes.items():
        if value is ...:
            del values[labels[name]]
        else:
            values[labels[name]] = value
    return values


def cnf(**changes: Any) -> dict[int, Any]:
    key = keysets.cose_key(cf.DEVICE_KEY.public)
    labels = {"kty": 1, "kid": 2, "alg": 3, "crv": -1, "x": -2}
    for name, value in changes.items():
        key[labels[name]] = value
    return {1: key}


def test_issued_and_verified() -> None:
    checked = verify_certificate(CERT.raw, KEYS, now_s=cf.TICKET_IAT)
    assert checked == CERT
    assert checked.kid == cf.CENTRAL_KID
    assert checked.iss == cf.ISS
    assert checked.device == cf.DEVICE
    assert checked.site == cf.SITE
    assert checked.iat == cf.CERT_IAT
    assert checked.exp == EXP
    assert checked.key.kid == cf.DEVICE
    assert checked.key.raw == cf.DEVICE_KEY.public.raw
    assert isinstance(checked, Certificate)


def test_claims_are_wire_md() -> None:
    payload = claims()
    assert payload == {
        1: cf.ISS,
        2: cf.DEVICE,
        4: EXP,
        6: cf.CERT_IAT,
        8: {1: {1: 1, 2: cf.DEVICE.encode(), 3: -8, -1: 6, -2: cf.DEVICE_KEY.public.raw}},
        -65600: cf.SITE,
    }


def test_default_validity_is_two_years_and_exp_can_be_given() -> None:
    assert TWO_YEARS_S == 2 * 365 * 24 * 3600
    assert CERT.exp - CERT.iat == TWO_YEARS_S
    short = cf.certificate(exp=cf.CERT_IAT + 3600)
    assert verify_certificate(short.raw, KEYS, now_s=None).exp == cf.CERT_IAT + 3600


def test_the_certified_key_verifies_the_devices_records() -> None:
    record = cf.record()
    assert verify_record(record.raw, KeySet([CERT.key])).device == cf.DEVICE


def test_renewal_by_enrolling_the_same_key_again() -> None:
    renewed = cf.certificate(iat=EXP - 86400)
    assert renewed.key.raw == CERT.key.raw
    assert verify_certificate(renewed.raw, KEYS, now_s=EXP + 1).exp == EXP - 86400 + TWO_YEARS_S


# --- validity window -----------------------------------------------------------------------


@pytest.mark.parametrize("now_s", [cf.CERT_IAT, cf.CERT_IAT + 1, EXP - 1, None])
def test_valid_inside_the_window(now_s: int | None) -> None:
    assert verify_certificate(CERT.raw, KEYS, now_s=now_s) == CERT


@pytest.mark.parametrize(
    ("now_s", "limit"),
    [(cf.CERT_IAT - 1, cf.CERT_IAT), (0, cf.CERT_IAT), (EXP, EXP), (EXP + 10**6, EXP)],
)
def test_invalid_outside_the_window(now_s: int, limit: int) -> None:
    with pytest.raises(ExpiredError) as caught:
        verify_certificate(CERT.raw, KEYS, now_s=now_s)
    assert caught.value.limit == limit
    assert caught.value.now == now_s
    assert cf.DEVICE in caught.value.message


def test_check_valid_at() -> None:
    CERT.check_valid_at(now_s=cf.CERT_IAT)
    with pytest.raises(ExpiredError):
        CERT.check_valid_at(now_s=EXP)


@pytest.mark.parametrize("exp", [cf.CERT_IAT, cf.CERT_IAT - 1])
def test_exp_must_be_after_iat(exp: int) -> None:
    with pytest.raises(SchemaError, match="after iat") as caught:
        verify_certificate(cf.raw_sign1(claims(exp=exp)), KEYS, now_s=None)
    assert caught.value.field == "certificate.exp"
    with pytest.raises(SchemaError, match="after iat"):
        cf.certificate(exp=exp)


# --- cnf -----------------------------------------------------------------------------------


def test_cnf_key_of_another_device_is_refused() -> None:
    other = cf.device_key("yl-shenmu-mine-0012-gate-01", seed_byte=8)
    payload = claims(cnf={1: keysets.cose_key(other.public)})
    with pytest.raises(SchemaError, match="is not the subject") as caught:
        verify_certificate(cf.raw_sign1(payload), KEYS, now_s=None)
    assert caught.value.field == "certificate.cnf"


def test_sub_of_another_device_is_refused() -> None:
    payload = claims(sub="yl-shenmu-mine-0012-gate-01")
    with pytest.raises(SchemaError, match="is not the subject"):
        verify_certificate(cf.raw_sign1(payload), KEYS, now_s=None)


def test_cnf_key_bytes_are_what_the_device_signs_with() -> None:
    other = cf.device_key(cf.DEVICE, seed_byte=8)  # same kid, another key
    forged = cf.raw_sign1(claims(cnf={1: keysets.cose_key(other.public)}))
    certificate = verify_certificate(forged, KEYS, now_s=None)  # central did sign it...
    assert certificate.key.raw != cf.DEVICE_KEY.public.raw
    with pytest.raises(SignatureError):  # ... so the real device's records fail under it
        verify_record(cf.record().raw, KeySet([certificate.key]))


@pytest.mark.parametrize(
    "value",
    [
        {},
        {1: keysets.cose_key(cf.DEVICE_KEY.public), 2: b"extra"},
        {3: b"kid only"},  # RFC 8747 kid form: the key itself is required here
        {"1": keysets.cose_key(cf.DEVICE_KEY.public)},
        [keysets.cose_key(cf.DEVICE_KEY.public)],
        keysets.cose_key(cf.DEVICE_KEY.public),  # the COSE_Key without the {1: …} wrapper
        cf.DEVICE_KEY.public.raw,
        None,
    ],
    ids=["empty", "extra", "kid-only", "text-label", "array", "bare-key", "raw-bytes", "null"],
)
def test_cnf_must_be_exactly_one_cose_key(value: Any) -> None:
    with pytest.raises(SchemaError) as caught:
        verify_certificate(cf.raw_sign1(claims(cnf=value)), KEYS, now_s=None)
    assert caught.value.field == "certificate.cnf"


@pytest.mark.parametrize(
    "changes",
    [
        {"kty": 2},
        {"crv": 4},
        {"alg": -7},
        {"x": cf.DEVICE_KEY.public.raw[:31]},
        {"kid": cf.DEVICE},
    ],
    ids=repr,
)
def test_cnf_key_must_be_an_ed25519_key(changes: dict[str, Any]) -> None:
    with pytest.raises(SchemaError) as caught:
        verify_certificate(cf.raw_sign1(claims(cnf=cnf(**changes))), KEYS, now_s=None)
    assert caught.value.field == "certificate.cnf"


# --- issuer --------------------------------------------------------------------------------


def test_signed_by_a_non_central_key() -> None:
    forged = cf.raw_sign1(claims(), cf.DEVICE_KEY)
    keys = KeySet([cf.CENTRAL.public, cf.DEVICE_KEY.public])
    with pytest.raises(IssuerError, match="not a central key"):
        verify_certificate(forged, keys, now_s=None)


def test_a_device_cannot_certify_itself() -> None:
    with pytest.raises(ValueError, match="central key"):
        cf.certificate(key=cf.DEVICE_KEY)


def test_signed_by_an_unpublished_central_key() -> None:
    forged = cf.certificate(key=cf.ROGUE_CENTRAL)
    with pytest.raises(UnknownKeyError):
        verify_certificate(forged.raw, KEYS, now_s=None)


def test_centrals_kid_with_another_signature() -> None:
    forged = cf.raw_sign1(claims(site=cf.OTHER_SITE), cf.ROGUE_CENTRAL, kid=cf.CENTRAL_KID)
    with pytest.raises(SignatureError):
        verify_certificate(forged, KEYS, now_s=None)


def test_alg_ed25519_accepted_and_others_refused() -> None:
    assert verify_certificate(cf.raw_sign1(claims(), alg=-19), KEYS, now_s=None).device
    with pytest.raises(HeaderError):
        verify_certificate(cf.raw_sign1(claims(), alg=-7), KEYS, now_s=None)


# --- schema --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["iss", "sub", "exp", "iat", "cnf", "site"])
def test_every_claim_is_required(name: str) -> None:
    with pytest.raises(SchemaError, match="missing"):
        verify_certificate(cf.raw_sign1(claims(**{name: ...})), KEYS, now_s=None)


@pytest.mark.parametrize("key", [3, 5, 7, -65537, -65601, "site"], ids=repr)
def test_unknown_claims_are_refused(key: Any) -> None:
    payload = claims()
    payload[key] = "x"
    with pytest.raises(SchemaError, match="unknown claims"):
        verify_certificate(cf.raw_sign1(payload), KEYS, now_s=None)


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("iss", 1, "certificate.iss"),
        ("iss", "", "certificate.iss"),
        ("sub", b"yl-shenmu-mine-0012-gate-02", "certificate.sub"),
        ("sub", "Gate 2", "certificate.sub"),
        ("sub", "central-20261129", "certificate.sub"),  # central's kids are not devices
        ("iat", "1795910400", "certificate.iat"),
        ("iat", -1, "certificate.iat"),
        ("exp", None, "certificate.exp"),
        ("site", "Shenmu Mine", "certificate.site"),
        ("site", 12, "certificate.site"),
        ("site", None, "certificate.site"),
    ],
)
def test_wrong_claims_are_named(name: str, value: Any, field: str) -> None:
    with pytest.raises(SchemaError) as caught:
        verify_certificate(cf.raw_sign1(claims(**{name: value})), KEYS, now_s=None)
    assert caught.value.field == field


def test_a_central_key_cannot_be_certified_as_a_device() -> None:
    with pytest.raises(SchemaError, match="reserved prefix"):
        cf.certificate(cf.ROGUE_CENTRAL.public)


def test_issuing_refuses_a_bad_site() -> None:
    with pytest.raises(SchemaError) as caught:
        cf.certificate(site="Shenmu Mine")
    assert caught.value.field == "certificate.site"


def test_truncated_certificate_is_refused_at_every_length() -> None:
    for size in range(len(CERT.raw)):
        with pytest.raises(WireError):
            verify_certificate(CERT.raw[:size], KEYS, now_s=None)


def test_a_ticket_is_not_a_certificate() -> None:
    with pytest.raises(SchemaError):
        verify_certificate(cf.ticket().raw, KEYS, now_s=None)


# --- bit flips -----------------------------------------------------------------------------


def test_flipping_each_bit_of_a_certificate_fails_verification() -> None:
    raw = CERT.raw
    for bit in range(len(raw) * 8):
        with pytest.raises(WireError):
            verify_certificate(cf.flip(raw, bit), KEYS, now_s=None)


@given(st.sets(st.integers(0, len(CERT.raw) * 8 - 1), min_size=2, max_size=8))
def test_flipping_several_bits_fails_verification(bits: set[int]) -> None:
    raw = CERT.raw
    for bit in bits:
        raw = cf.flip(raw, bit)
    with pytest.raises(WireError):
        verify_certificate(raw, KEYS, now_s=None)


@given(cf.mutations(claims(), st.integers(-65_610, 10) | st.text(max_size=4)))
def test_any_signed_claims_give_a_certificate_or_a_wire_error(payload: dict[Any, Any]) -> None:
    try:
        certificate = verify_certificate(cf.raw_sign1(payload), KEYS, now_s=None)
    except WireError:
        return
    assert certificate.device == payload[2]


@given(cf.mutations(cnf()[1], st.integers(-5, 5)))
def test_any_cnf_key_gives_a_certificate_or_a_wire_error(key: dict[Any, Any]) -> None:
    try:
        verify_certificate(cf.raw_sign1(claims(cnf={1: key})), KEYS, now_s=None)
    except WireError:
        return
