"""Signed acks from central (WIRE.md "Acks"): a forged ack must never free a journal entry."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire import central_factories as cf
from wire.acks import REJECT_REVOKED, REJECT_UNKNOWN_DEVICE, Ack, build_ack, verify_ack
from wire.errors import (
    HeaderError,
    IssuerError,
    NonCanonicalError,
    SchemaError,
    SignatureError,
    UnknownKeyError,
    WireError,
)
from wire.keys import KeySet

KEYS = cf.CENTRAL_KEYS
TS = cf.LOADED_MS + 850
ACK = build_ack(cf.CENTRAL, device=cf.DEVICE, seq=48_211, ts=TS)
REJECT = build_ack(cf.CENTRAL, device=cf.DEVICE, seq=48_100, ts=TS, reject=REJECT_REVOKED)


def payload(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"device": cf.DEVICE, "seq": 48_211, "ts": TS}
    value.update(changes)
    return {k: v for k, v in value.items() if v is not ...}


def test_ack_round_trip() -> None:
    checked = verify_ack(ACK.raw, KEYS)
    assert checked == ACK
    assert checked == Ack(
        raw=ACK.raw, kid=cf.CENTRAL_KID, device=cf.DEVICE, seq=48_211, ts=TS, reject=None
    )


def test_ack_payload_is_exactly_device_seq_ts() -> None:
    assert cbor2.loads(cbor2.loads(ACK.raw).value[2]) == payload()
    assert ACK.raw[:2] == b"\xd2\x84"


@pytest.mark.parametrize("reason", [REJECT_REVOKED, REJECT_UNKNOWN_DEVICE])
def test_reject_round_trip(reason: str) -> None:
    ack = build_ack(cf.CENTRAL, device=cf.DEVICE, seq=0, ts=TS, reject=reason)
    checked = verify_ack(ack.raw, KEYS)
    assert checked.reject == reason
    assert checked.seq == 0
    assert cbor2.loads(cbor2.loads(ack.raw).value[2]) == payload(seq=0, reject=reason)


def test_reject_reasons_are_wire_md() -> None:
    assert (REJECT_REVOKED, REJECT_UNKNOWN_DEVICE) == ("revoked", "unknown_device")


def test_seq_zero_means_nothing_stored_yet() -> None:
    assert verify_ack(build_ack(cf.CENTRAL, device=cf.DEVICE, seq=0, ts=0).raw, KEYS).seq == 0


def test_ack_of_a_large_seq() -> None:
    ack = build_ack(cf.CENTRAL, device=cf.DEVICE, seq=2**64 - 1, ts=TS)
    assert verify_ack(ack.raw, KEYS).seq == 2**64 - 1


def test_alg_ed25519_is_accepted() -> None:
    assert verify_ack(cf.raw_sign1(payload(), alg=-19), KEYS).seq == 48_211


# --- forged acks ---------------------------------------------------------------------------


def test_ack_signed_by_a_device_key_is_refused() -> None:
    # A device (or anyone holding a device key) forging central's ack to itself or a peer.
    forged = cf.raw_sign1(payload(seq=10**9), cf.DEVICE_KEY)
    keys = KeySet([cf.CENTRAL.public, cf.DEVICE_KEY.public])
    with pytest.raises(IssuerError):
        verify_ack(forged, keys)


def test_a_device_key_cannot_build_an_ack() -> None:
    with pytest.raises(ValueError, match="central key"):
        build_ack(cf.DEVICE_KEY, device=cf.DEVICE, seq=1, ts=TS)


def test_ack_signed_by_a_central_key_not_in_the_key_set_is_refused() -> None:
    forged = build_ack(cf.ROGUE_CENTRAL, device=cf.DEVICE, seq=10**9, ts=TS)
    with pytest.raises(UnknownKeyError) as caught:
        verify_ack(forged.raw, KEYS)
    assert caught.value.kid == cf.ROGUE_CENTRAL.kid


def test_ack_under_centrals_kid_with_another_signature_is_refused() -> None:
    forged = cf.raw_sign1(payload(seq=10**9), cf.ROGUE_CENTRAL, kid=cf.CENTRAL_KID)
    with pytest.raises(SignatureError):
        verify_ack(forged, KEYS)


def test_ack_with_another_alg_is_refused() -> None:
    with pytest.raises(HeaderError):
        verify_ack(cf.raw_sign1(payload(), alg=-7), KEYS)


# --- schema --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["extra", "seq2", "reason", "site", "v"])
def test_extra_fields_are_refused(name: str) -> None:
    with pytest.raises(SchemaError, match="is not an ack field") as caught:
        verify_ack(cf.raw_sign1(payload(**{name: 1})), KEYS)
    assert caught.value.field == f"ack.{name}"


@pytest.mark.parametrize("key", [1, b"seq", -1])
def test_non_text_keys_are_refused(key: Any) -> None:
    value: dict[Any, Any] = payload()
    value[key] = 1
    with pytest.raises(SchemaError):
        verify_ack(cf.raw_sign1(value), KEYS)


@pytest.mark.parametrize("name", ["device", "seq", "ts"])
def test_missing_fields(name: str) -> None:
    with pytest.raises(SchemaError, match="missing") as caught:
        verify_ack(cf.raw_sign1(payload(**{name: ...})), KEYS)
    assert caught.value.field == f"ack.{name}"


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("device", "Gate 2", "ack.device"),
        ("device", b"yl-shenmu-mine-0012-gate-02", "ack.device"),
        ("device", "central-20261129", "ack.device"),
        ("device", "", "ack.device"),
        ("seq", -1, "ack.seq"),
        ("seq", "48211", "ack.seq"),
        ("seq", None, "ack.seq"),
        ("seq", True, "ack.seq"),
        ("ts", -1, "ack.ts"),
        ("ts", None, "ack.ts"),
        ("reject", None, "ack.reject"),
        ("reject", "", "ack.reject"),
        ("reject", 1, "ack.reject"),
        ("reject", True, "ack.reject"),
    ],
)
def test_wrong_fields_are_named(name: str, value: Any, field: str) -> None:
    with pytest.raises(SchemaError) as caught:
        verify_ack(cf.raw_sign1(payload(**{name: value})), KEYS)
    assert caught.value.field == field


def test_building_refuses_what_verifying_refuses() -> None:
    with pytest.raises(SchemaError):
        build_ack(cf.CENTRAL, device="central-20261129", seq=1, ts=TS)
    with pytest.raises(SchemaError):
        build_ack(cf.CENTRAL, device=cf.DEVICE, seq=-1, ts=TS)
    with pytest.raises(SchemaError):
        build_ack(cf.CENTRAL, device=cf.DEVICE, seq=1, ts=TS, reject="")


def test_non_canonical_ack_is_refused() -> None:
    # Deterministic order is length first ("ts", "seq", "device"); alphabetical is not.
    assert list(cbor2.loads(cbor2.loads(ACK.raw).value[2])) == ["ts", "seq", "device"]
    unsorted = {"device": cf.DEVICE, "seq": 1, "ts": TS}
    with pytest.raises(NonCanonicalError):
        verify_ack(cf.raw_sign1(unsorted, canonical=False), KEYS)


def test_truncated_ack_is_refused_at_every_length() -> None:
    for size in range(len(REJECT.raw)):
        with pytest.raises(WireError):
            verify_ack(REJECT.raw[:size], KEYS)


def test_a_record_is_not_an_ack() -> None:
    keys = KeySet([cf.CENTRAL.public, cf.DEVICE_KEY.public])
    with pytest.raises(IssuerError):
        verify_ack(cf.record().raw, keys)


# --- bit flips -----------------------------------------------------------------------------


@pytest.mark.parametrize("ack", [ACK, REJECT], ids=["ack", "reject"])
def test_flipping_each_bit_of_an_ack_fails_verification(ack: Ack) -> None:
    for bit in range(len(ack.raw) * 8):
        with pytest.raises(WireError):
            verify_ack(cf.flip(ack.raw, bit), KEYS)


@given(st.sets(st.integers(0, len(ACK.raw) * 8 - 1), min_size=2, max_size=8))
def test_flipping_several_bits_fails_verification(bits: set[int]) -> None:
    raw = ACK.raw
    for bit in bits:
        raw = cf.flip(raw, bit)
    with pytest.raises(WireError):
        verify_ack(raw, KEYS)


@given(cf.mutations(payload(reject=REJECT_REVOKED), st.text(max_size=8) | st.integers()))
def test_any_signed_payload_gives_an_ack_or_a_wire_error(value: dict[Any, Any]) -> None:
    try:
        ack = verify_ack(cf.raw_sign1(value), KEYS)
    except WireError:
        return
    assert (ack.device, ack.seq, ack.ts) == (value["device"], value["seq"], value["ts"])
    assert set(value) <= {"device", "seq", "ts", "reject"}
