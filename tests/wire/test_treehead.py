"""Signed tree heads: {"size", "root", "ts"} signed by central, and nothing else."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire import central_factories as cf
from tests.wire import factories
from wire import merkle
from wire.errors import (
    HeaderError,
    IssuerError,
    SchemaError,
    SignatureError,
    UnknownKeyError,
    WireError,
)
from wire.keys import KeySet
from wire.treehead import TreeHead, sign_tree_head, verify_tree_head

KEYS = cf.CENTRAL_KEYS
LEAVES = [record.raw for record in factories.chain(factories.device_key(), 7)]
ROOT = merkle.root_hash(LEAVES)
TS = cf.LOADED_MS
HEAD = sign_tree_head(cf.CENTRAL, size=len(LEAVES), root=ROOT, ts=TS)


def payload(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"size": len(LEAVES), "root": ROOT, "ts": TS}
    value.update(changes)
    return {k: v for k, v in value.items() if v is not ...}


def test_sign_and_verify() -> None:
    checked = verify_tree_head(HEAD.raw, KEYS)
    assert checked == HEAD
    assert checked == TreeHead(raw=HEAD.raw, kid=cf.CENTRAL_KID, size=7, root=ROOT, ts=TS)


def test_payload_is_exactly_size_root_ts() -> None:
    assert cbor2.loads(cbor2.loads(HEAD.raw).value[2]) == payload()
    assert HEAD.raw[:2] == b"\xd2\x84"


def test_the_empty_log() -> None:
    head = sign_tree_head(cf.CENTRAL, size=0, root=merkle.EMPTY_ROOT, ts=TS)
    assert verify_tree_head(head.raw, KEYS).root == merkle.EMPTY_ROOT


def test_a_tree_head_proves_inclusion_of_a_record() -> None:
    head = verify_tree_head(HEAD.raw, KEYS)
    hashes = [merkle.leaf_hash(leaf) for leaf in LEAVES]
    proof = merkle.inclusion_proof(hashes, 3)
    # Raises ProofError unless record 4 is leaf 3 of the log the head signs.
    merkle.verify_inclusion(
        leaf_hash=hashes[3], index=3, tree_size=head.size, proof=proof, root=head.root
    )
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(
            leaf_hash=hashes[4], index=3, tree_size=head.size, proof=proof, root=head.root
        )


def test_alg_ed25519_is_accepted() -> None:
    assert verify_tree_head(cf.raw_sign1(payload(), alg=-19), KEYS).size == 7


@pytest.mark.parametrize("name", ["extra", "sig", "v", "leaves", "prev_root"])
def test_extra_fields_are_refused(name: str) -> None:
    with pytest.raises(SchemaError, match="not a tree head field") as caught:
        verify_tree_head(cf.raw_sign1(payload(**{name: 1})), KEYS)
    assert caught.value.field == f"tree_head.{name}"


def test_non_text_extra_key_is_refused() -> None:
    value: dict[Any, Any] = payload()
    value[1] = 1
    with pytest.raises(SchemaError):
        verify_tree_head(cf.raw_sign1(value), KEYS)


@pytest.mark.parametrize("name", ["size", "root", "ts"])
def test_missing_fields(name: str) -> None:
    with pytest.raises(SchemaError, match="missing") as caught:
        verify_tree_head(cf.raw_sign1(payload(**{name: ...})), KEYS)
    assert caught.value.field == f"tree_head.{name}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("size", -1),
        ("size", "7"),
        ("size", None),
        ("root", ROOT[:31]),
        ("root", ROOT + b"\x00"),
        ("root", ROOT.hex()),
        ("root", None),
        ("ts", -1),
        ("ts", None),
    ],
)
def test_wrong_fields_are_named(name: str, value: Any) -> None:
    with pytest.raises(SchemaError) as caught:
        verify_tree_head(cf.raw_sign1(payload(**{name: value})), KEYS)
    assert caught.value.field == f"tree_head.{name}"


def test_signing_refuses_a_wrong_root() -> None:
    with pytest.raises(SchemaError):
        sign_tree_head(cf.CENTRAL, size=1, root=ROOT[:16], ts=TS)


def test_signed_by_a_device_key() -> None:
    forged = cf.raw_sign1(payload(size=1), cf.DEVICE_KEY)
    with pytest.raises(IssuerError):
        verify_tree_head(forged, KeySet([cf.CENTRAL.public, cf.DEVICE_KEY.public]))
    with pytest.raises(ValueError, match="central key"):
        sign_tree_head(cf.DEVICE_KEY, size=1, root=ROOT, ts=TS)


def test_signed_by_an_unpublished_central_key() -> None:
    forged = sign_tree_head(cf.ROGUE_CENTRAL, size=1, root=ROOT, ts=TS)
    with pytest.raises(UnknownKeyError):
        verify_tree_head(forged.raw, KEYS)


def test_centrals_kid_with_another_signature() -> None:
    forged = cf.raw_sign1(payload(size=1), cf.ROGUE_CENTRAL, kid=cf.CENTRAL_KID)
    with pytest.raises(SignatureError):
        verify_tree_head(forged, KEYS)


def test_another_alg() -> None:
    with pytest.raises(HeaderError):
        verify_tree_head(cf.raw_sign1(payload(), alg=-7), KEYS)


def test_truncated_tree_head_is_refused_at_every_length() -> None:
    for size in range(len(HEAD.raw)):
        with pytest.raises(WireError):
            verify_tree_head(HEAD.raw[:size], KEYS)


def test_flipping_each_bit_of_a_tree_head_fails_verification() -> None:
    for bit in range(len(HEAD.raw) * 8):
        with pytest.raises(WireError):
            verify_tree_head(cf.flip(HEAD.raw, bit), KEYS)


@given(
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    ts=st.integers(0, 2**64 - 1),
)
def test_any_head_round_trips(size: int, root: bytes, ts: int) -> None:
    head = sign_tree_head(cf.CENTRAL, size=size, root=root, ts=ts)
    assert verify_tree_head(head.raw, KEYS) == head


@given(cf.mutations(payload(), st.text(max_size=8) | st.integers()))
def test_any_signed_payload_gives_a_tree_head_or_a_wire_error(value: dict[Any, Any]) -> None:
    try:
        head = verify_tree_head(cf.raw_sign1(value), KEYS)
    except WireError:
        return
    assert value == {"size": head.size, "root": head.root, "ts": head.ts}
