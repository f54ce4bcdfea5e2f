"""Deterministic CBOR: our encoder's bytes, and a verifier's refusal of everything else."""

from __future__ import annotations

import contextlib

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire import cbor
from wire.errors import EncodeError, NonCanonicalError, UndecodableError

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.text(max_size=20),
    st.binary(max_size=20),
)
keys = st.one_of(
    st.text(max_size=8), st.integers(min_value=-(2**40), max_value=2**40), st.binary(max_size=4)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)


def test_keys_sort_bytewise_not_length_first() -> None:
    # 24 encodes as 18 18, -1 as 20: bytewise 24 comes first; cbor2's canonical puts -1 first.
    assert cbor.dumps({-1: "a", 24: "b"}) == bytes.fromhex("a2 1818 6162 20 6161".replace(" ", ""))
    assert cbor2.dumps({-1: "a", 24: "b"}, canonical=True) != cbor.dumps({-1: "a", 24: "b"})
    assert cbor.dumps({"bb": 1, "a": 2, "c": 3}) == bytes.fromhex(
        "a3 6161 02 6163 03 626262 01".replace(" ", "")
    )


@given(values)
def test_our_encoding_is_accepted_and_round_trips(value: object) -> None:
    data = cbor.dumps(value)
    decoded = cbor.loads(data)
    cbor.check_canonical(data, decoded, what="value")
    assert cbor.dumps(decoded) == data


@given(st.dictionaries(st.text(max_size=6), st.integers(0, 1000), min_size=2, max_size=6))
def test_any_other_key_order_is_refused(mapping: dict[str, int]) -> None:
    data = cbor.dumps(mapping)
    reordered = dict(reversed(list(cbor.loads(data).items())))
    raw = cbor2.dumps(reordered)  # keeps the reversed order
    with pytest.raises(NonCanonicalError, match="bytewise order"):
        cbor.check_canonical(raw, cbor.loads(raw), what="map")


@pytest.mark.parametrize(
    ("hex_bytes", "problem"),
    [
        ("1817", "shortest form"),  # 23 written in two bytes
        ("5900026162", "shortest form"),  # a byte string length in three bytes
        ("5f4161ff", "indefinite-length"),
        ("a2616101616102", "duplicate map key"),
        ("f93e00", "floating-point"),
        ("fb3ff8000000000000", "floating-point"),
        ("c11a5f5e1000", "tag 1"),
        ("a26162016161 02", "bytewise order"),
    ],
)
def test_non_deterministic_forms_are_named(hex_bytes: str, problem: str) -> None:
    data = bytes.fromhex(hex_bytes.replace(" ", ""))
    with pytest.raises(NonCanonicalError, match=problem):
        cbor.check_canonical(data, cbor.loads(data), what="item")


@pytest.mark.parametrize("hex_bytes", ["", "ff", "a1", "58036162", "0102", "f7"])
def test_malformed_truncated_or_trailing_is_undecodable(hex_bytes: str) -> None:
    with pytest.raises(UndecodableError):
        cbor.loads(bytes.fromhex(hex_bytes))


@pytest.mark.parametrize("value", [1.5, 2**64, -(2**64) - 1, {1.0: 1}, {(1, 2): 3}, object()])
def test_encoder_refuses_what_the_contract_cannot_carry(value: object) -> None:
    with pytest.raises(EncodeError):
        cbor.dumps(value)


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_fail_with_a_typed_error(data: bytes) -> None:
    try:
        value = cbor.loads(data)
    except UndecodableError:
        return
    with contextlib.suppress(NonCanonicalError):
        cbor.check_canonical(data, value, what="fuzz")
