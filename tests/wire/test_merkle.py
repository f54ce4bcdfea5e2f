"""RFC 9162 Merkle tree: known answers, a naive reference, tampered proofs, and properties.

Known-answer vectors are the Certificate Transparency reference vectors as kept in
github.com/transparency-dev/merkle (the Go successor of google/certificate-transparency's
merkle_tree_test): ``testonly/constants.go`` (leaf inputs, node hashes, root hashes for sizes
0..8) and ``proof/verify_test.go`` (inclusion and consistency proofs). The Go inclusion vectors
number leaves from 1; they are converted to 0-based indexes here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.errors import RemoteError
from wire.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# --- Known answers (transparency-dev/merkle testonly/constants.go, proof/verify_test.go) -----

CT_LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]

CT_LEAF_HASHES = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
]

# Indexed by tree size, 0..8.
CT_ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# Each vector: 0-based leaf index, tree size, inclusion proof.
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# Each vector: first tree size, second tree size, consistency proof.
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


# --- A naive reference, written from the RFC 9162 §2.1 definitions and nothing else ---------


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: Sequence[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return ref_leaf(leaves[0])
    k = ref_split(n)
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = ref_split(n)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: Sequence[bytes], *, b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = ref_split(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b=b), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], b=False), ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    if m in (0, len(leaves)):
        return []
    return ref_subproof(m, leaves, b=True)


# 64 leaves of varied length (including empty ones); trees of every size 1..64 are prefixes.
LEAVES = [i.to_bytes(2, "big") * (i % 5) for i in range(64)]
LEAF_HASHES = [ref_leaf(d) for d in LEAVES]
ROOTS = [ref_mth(LEAVES[:n]) for n in range(len(LEAVES) + 1)]
SIZES = range(1, len(LEAVES) + 1)


def flipped(proof: Sequence[bytes], i: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ 0x01]) + out[i][1:]
    return out


# --- Known answers ---------------------------------------------------------------------------


def test_empty_tree() -> None:
    assert CT_ROOTS[0] == EMPTY_ROOT
    assert root_hash([]) == EMPTY_ROOT
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def test_known_leaf_hashes() -> None:
    assert [leaf_hash(d) for d in CT_LEAVES] == CT_LEAF_HASHES


@pytest.mark.parametrize("size", range(1, 9))
def test_known_roots(size: int) -> None:
    assert root_hash(CT_LEAVES[:size]) == CT_ROOTS[size]
    assert root_from_leaf_hashes(CT_LEAF_HASHES[:size]) == CT_ROOTS[size]
    assert CompactRange.from_leaf_hashes(CT_LEAF_HASHES[:size]).root() == CT_ROOTS[size]


def test_known_roots_incrementally() -> None:
    tree = CompactRange()
    for size, lh in enumerate(CT_LEAF_HASHES, start=1):
        tree = tree.append(lh)
        assert tree.size == size
        assert tree.root() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(CT_LEAF_HASHES[:size], index) == proof
    verify_inclusion(
        leaf_hash=CT_LEAF_HASHES[index],
        index=index,
        tree_size=size,
        proof=proof,
        root=CT_ROOTS[size],
    )


@pytest.mark.parametrize(("first", "second", "proof"), CT_CONSISTENCY)
def test_known_consistency_proofs(first: int, second: int, proof: list[bytes]) -> None:
    assert consistency_proof(CT_LEAF_HASHES, first, second) == proof
    verify_consistency(
        first=first,
        second=second,
        first_root=CT_ROOTS[first],
        second_root=CT_ROOTS[second],
        proof=proof,
    )


# --- Against the naive reference, every size 1..64 -------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_root_matches_reference(size: int) -> None:
    assert root_hash(LEAVES[:size]) == ROOTS[size]
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == ROOTS[size]
    assert CompactRange.from_leaf_hashes(LEAF_HASHES[:size]).root() == ROOTS[size]


@pytest.mark.parametrize("size", SIZES)
def test_every_inclusion_proof(size: int) -> None:
    hashes = LEAF_HASHES[:size]
    for index in range(size):
        proof = inclusion_proof(hashes, index)
        assert proof == ref_path(index, LEAVES[:size])
        verify_inclusion(
            leaf_hash=hashes[index], index=index, tree_size=size, proof=proof, root=ROOTS[size]
        )


@pytest.mark.parametrize("second", SIZES)
def test_every_consistency_proof(second: int) -> None:
    for first in range(second + 1):
        proof = consistency_proof(LEAF_HASHES, first, second)
        assert proof == ref_proof(first, LEAVES[:second])
        verify_consistency(
            first=first,
            second=second,
            first_root=ROOTS[first],
            second_root=ROOTS[second],
            proof=proof,
        )


def test_consistency_proof_uses_only_the_first_second_leaves() -> None:
    # Central passes its whole stored log; a proof to an older head must ignore later leaves.
    assert consistency_proof(LEAF_HASHES, 3, 7) == consistency_proof(LEAF_HASHES[:7], 3, 7)


# --- Tampered proofs -------------------------------------------------------------------------


def inclusion_fails(*, leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    with pytest.raises(ProofError) as info:
        verify_inclusion(leaf_hash=leaf, index=index, tree_size=size, proof=proof, root=root)
    assert info.value.kind == "inclusion"


def consistency_fails(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> None:
    with pytest.raises(ProofError) as info:
        verify_consistency(
            first=first, second=second, first_root=first_root, second_root=second_root, proof=proof
        )
    assert info.value.kind == "consistency"


@pytest.mark.parametrize("size", range(1, 34))
def test_tampered_inclusion_proofs_fail(size: int) -> None:
    hashes = LEAF_HASHES[:size]
    root = ROOTS[size]
    for index in range(size):
        proof = inclusion_proof(hashes, index)
        leaf = hashes[index]

        def fails(
            *,
            leaf: bytes = leaf,
            index: int = index,
            size: int = size,
            proof: list[bytes] = proof,
            root: bytes = root,
        ) -> None:
            inclusion_fails(leaf=leaf, index=index, size=size, proof=proof, root=root)

        for i in range(len(proof)):
            fails(proof=flipped(proof, i))
        # A tree size is only ever checked together with the signed root of that size.
        for wrong_size in (size - 1, size + 1, size * 2, size // 2):
            if 0 <= wrong_size <= len(LEAVES):
                fails(size=wrong_size, root=ROOTS[wrong_size])
        for wrong_index in (index - 1, index + 1, index ^ 2, size, size + 5):
            if wrong_index >= 0 and wrong_index != index:
                fails(index=wrong_index)
        for other in range(size):
            if other != index and hashes[other] != leaf:
                fails(leaf=hashes[other])  # another leaf at this position
        fails(leaf=leaf_hash(b"not a leaf"))
        fails(root=EMPTY_ROOT)
        fails(root=root_hash([b"other", b"tree"]))
        if proof:
            fails(proof=proof[:-1])
            fails(proof=proof[1:])
        fails(proof=[*proof, root])
        fails(proof=[root, *proof])
        fails(proof=[*proof, bytes(32)])
        if len(proof) > 1:
            fails(proof=[proof[0], bytes(32), *proof[1:]])
            fails(proof=list(reversed(proof)))


@pytest.mark.parametrize("size", range(2, 18))
def test_swapped_leaves_change_root_and_fail(size: int) -> None:
    for i in range(size):
        for j in range(i + 1, size):
            swapped = list(LEAF_HASHES[:size])
            swapped[i], swapped[j] = swapped[j], swapped[i]
            if swapped == LEAF_HASHES[:size]:
                continue
            assert root_from_leaf_hashes(swapped) != ROOTS[size]
            inclusion_fails(
                leaf=swapped[i],
                index=i,
                size=size,
                proof=inclusion_proof(swapped, i),
                root=ROOTS[size],
            )


def test_size_is_bound_by_the_signed_root_not_by_the_proof() -> None:
    # RFC 9162 proofs do not encode the tree size: a proof for leaf 0 of 3 also "verifies" for
    # size 4 against the size-3 root, because both paths have the same shape. That is sound
    # only because verifiers take (size, root) together from one signed tree head; the tampering
    # tests above therefore always pair a wrong size with that size's own root.
    proof = inclusion_proof(LEAF_HASHES[:3], 0)
    verify_inclusion(leaf_hash=LEAF_HASHES[0], index=0, tree_size=4, proof=proof, root=ROOTS[3])
    inclusion_fails(leaf=LEAF_HASHES[0], index=0, size=4, proof=proof, root=ROOTS[4])


def test_proofs_longer_or_shorter_than_the_size_fail_even_when_roots_match() -> None:
    # The RFC's "sn" checks catch a size that the path cannot belong to, even when the hashes
    # would fold to the given root: leaf 1 with sibling leaf 0 hashes to the size-2 root, but
    # a tree of size 1 has no sibling (step 4a) ...
    inclusion_fails(leaf=LEAF_HASHES[1], index=0, size=1, proof=[LEAF_HASHES[0]], root=ROOTS[2])
    # ... and the proof from 3 to 4 leads to the size-4 root, but not to a size-8 head (step 7).
    consistency_fails(
        first=3,
        second=8,
        first_root=ROOTS[3],
        second_root=ROOTS[4],
        proof=consistency_proof(LEAF_HASHES, 3, 4),
    )
    # ... and the proof from 7 to 8 folds to the roots of 7 and 8, but is too long for 3 to 4
    # (step 6a: the walk runs out of tree while proof hashes remain).
    consistency_fails(
        first=3,
        second=4,
        first_root=ROOTS[7],
        second_root=ROOTS[8],
        proof=consistency_proof(LEAF_HASHES, 7, 8),
    )


@pytest.mark.parametrize("second", range(2, 34))
def test_tampered_consistency_proofs_fail(second: int) -> None:
    for first in range(1, second):
        proof = consistency_proof(LEAF_HASHES, first, second)
        r1, r2 = ROOTS[first], ROOTS[second]

        def fails(
            *,
            first: int = first,
            second: int = second,
            first_root: bytes = r1,
            second_root: bytes = r2,
            proof: list[bytes] = proof,
        ) -> None:
            consistency_fails(
                first=first,
                second=second,
                first_root=first_root,
                second_root=second_root,
                proof=proof,
            )

        for i in range(len(proof)):
            fails(proof=flipped(proof, i))
        for wrong_first in (first - 1, first + 1, first ^ 2, first // 2):
            if 0 < wrong_first <= second and wrong_first != first:
                fails(first=wrong_first, first_root=ROOTS[wrong_first])
        for wrong_second in (second - 1, second + 1, second * 2):
            if first <= wrong_second <= len(LEAVES) and wrong_second != second:
                fails(second=wrong_second, second_root=ROOTS[wrong_second])
        fails(first_root=ROOTS[first - 1])
        fails(second_root=ROOTS[second - 1])
        fails(first_root=r2, second_root=r1)
        fails(proof=[])
        fails(proof=proof[:-1])
        fails(proof=proof[1:])
        fails(proof=[*proof, r1])
        fails(proof=[*proof, r2])
        fails(proof=[*proof, bytes(32)])
        fails(proof=[r1, *proof])
        fails(proof=[r2, *proof])
        fails(proof=[proof[0], *proof])
        if len(proof) > 1:
            fails(proof=list(reversed(proof)))


def test_consistency_proof_of_a_rewritten_log_fails() -> None:
    # The log that forked after leaf 4 cannot prove it extends the honest size-6 head.
    forked = [*LEAF_HASHES[:4], leaf_hash(b"rewritten"), *LEAF_HASHES[5:10]]
    consistency_fails(
        first=6,
        second=10,
        first_root=ROOTS[6],
        second_root=root_from_leaf_hashes(forked),
        proof=consistency_proof(forked, 6, 10),
    )


# --- Edge cases of sizes 0 and equal sizes ---------------------------------------------------

OTHER = hashlib.sha256(b"other").digest()


def test_consistency_with_equal_sizes() -> None:
    verify_consistency(first=5, second=5, first_root=ROOTS[5], second_root=ROOTS[5], proof=[])
    verify_consistency(first=0, second=0, first_root=EMPTY_ROOT, second_root=EMPTY_ROOT, proof=[])
    consistency_fails(first=5, second=5, first_root=ROOTS[5], second_root=OTHER, proof=[])
    consistency_fails(
        first=5, second=5, first_root=ROOTS[5], second_root=ROOTS[5], proof=[ROOTS[5]]
    )
    consistency_fails(first=0, second=0, first_root=OTHER, second_root=OTHER, proof=[])
    consistency_fails(
        first=0, second=0, first_root=EMPTY_ROOT, second_root=EMPTY_ROOT, proof=[EMPTY_ROOT]
    )


def test_consistency_from_the_empty_tree() -> None:
    verify_consistency(first=0, second=7, first_root=EMPTY_ROOT, second_root=ROOTS[7], proof=[])
    consistency_fails(first=0, second=7, first_root=OTHER, second_root=ROOTS[7], proof=[])
    consistency_fails(
        first=0, second=7, first_root=EMPTY_ROOT, second_root=ROOTS[7], proof=[EMPTY_ROOT]
    )


def test_inclusion_in_empty_or_too_small_tree_fails() -> None:
    inclusion_fails(leaf=LEAF_HASHES[0], index=0, size=0, proof=[], root=EMPTY_ROOT)
    inclusion_fails(leaf=LEAF_HASHES[1], index=1, size=1, proof=[], root=ROOTS[1])


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33], ids=["empty", "short", "long"])
def test_hashes_of_the_wrong_size_fail(bad: bytes) -> None:
    # Equal garbage must not "verify" where no hashing happens (one leaf, equal sizes).
    inclusion_fails(leaf=bad, index=0, size=1, proof=[], root=bad)
    inclusion_fails(leaf=LEAF_HASHES[0], index=0, size=2, proof=[bad], root=ROOTS[2])
    consistency_fails(first=3, second=3, first_root=bad, second_root=bad, proof=[])
    consistency_fails(first=0, second=3, first_root=EMPTY_ROOT, second_root=bad, proof=[])
    consistency_fails(
        first=3, second=4, first_root=ROOTS[3], second_root=ROOTS[4], proof=[bad, bad]
    )


def test_proof_error_shape() -> None:
    with pytest.raises(ProofError) as info:
        verify_inclusion(leaf_hash=LEAF_HASHES[0], index=0, tree_size=1, proof=[], root=EMPTY_ROOT)
    assert isinstance(info.value, RemoteError)
    assert info.value.reason == "bad_proof"
    assert info.value.message == str(info.value)


# --- Misuse raises ValueError ----------------------------------------------------------------

MISUSE: list[tuple[str, Callable[[], object]]] = [
    ("index past end", lambda: inclusion_proof(LEAF_HASHES[:4], 4)),
    ("negative index", lambda: inclusion_proof(LEAF_HASHES[:4], -1)),
    ("empty tree", lambda: inclusion_proof([], 0)),
    ("first > second", lambda: consistency_proof(LEAF_HASHES, 5, 4)),
    ("second past end", lambda: consistency_proof(LEAF_HASHES[:4], 2, 5)),
    ("negative first", lambda: consistency_proof(LEAF_HASHES, -1, 4)),
    (
        "verify first > second",
        lambda: verify_consistency(
            first=5, second=4, first_root=ROOTS[5], second_root=ROOTS[4], proof=[]
        ),
    ),
    (
        "verify negative index",
        lambda: verify_inclusion(
            leaf_hash=LEAF_HASHES[0], index=-1, tree_size=4, proof=[], root=ROOTS[4]
        ),
    ),
    ("short leaf hash", lambda: root_from_leaf_hashes([b"\x00" * 31])),
    ("append short leaf hash", lambda: CompactRange().append(b"")),
    ("frontier length", lambda: CompactRange(size=3, frontier=(ROOTS[2],))),
    ("negative size", lambda: CompactRange(size=-1)),
    ("frontier hash size", lambda: CompactRange(size=1, frontier=(b"x",))),
]


@pytest.mark.parametrize("call", [c for _, c in MISUSE], ids=[name for name, _ in MISUSE])
def test_misuse_raises_value_error(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        call()


# --- CompactRange ----------------------------------------------------------------------------


def test_compact_range_state_round_trips() -> None:
    # Central can persist (size, frontier) and resume without reloading the log.
    tree = CompactRange.from_leaf_hashes(LEAF_HASHES[:45])
    assert len(tree.frontier) == (45).bit_count()
    resumed = CompactRange(size=tree.size, frontier=tree.frontier)
    assert resumed.extend(LEAF_HASHES[45:]).root() == ROOTS[64]
    assert tree.root() == ROOTS[45]  # a value: appending made a new range


def test_compact_range_is_frozen() -> None:
    tree = CompactRange()
    with pytest.raises(AttributeError):
        tree.size = 3  # type: ignore[misc]


# --- Properties ------------------------------------------------------------------------------

leaf_lists = st.lists(st.binary(max_size=24), max_size=80)


@settings(deadline=None, max_examples=60)
@given(leaves=leaf_lists, data=st.data())
def test_incremental_root_equals_naive(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(d) for d in leaves]
    cut = data.draw(st.integers(0, len(leaves)), label="cut")
    tree = CompactRange()
    for lh in hashes[:cut]:
        tree = tree.append(lh)
    assert tree.root() == ref_mth(leaves[:cut])
    tree = tree.extend(hashes[cut:])
    assert tree.size == len(leaves)
    assert tree.root() == ref_mth(leaves)
    assert tree.root() == root_hash(leaves)
    assert tree == CompactRange.from_leaf_hashes(hashes)


@settings(deadline=None, max_examples=60)
@given(leaves=st.lists(st.binary(max_size=8), min_size=1, max_size=80), data=st.data())
def test_random_proofs_verify(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(d) for d in leaves]
    n = len(hashes)
    index = data.draw(st.integers(0, n - 1), label="index")
    first = data.draw(st.integers(0, n), label="first")
    second = data.draw(st.integers(first, n), label="second")
    verify_inclusion(
        leaf_hash=hashes[index],
        index=index,
        tree_size=n,
        proof=inclusion_proof(hashes, index),
        root=ref_mth(leaves),
    )
    verify_consistency(
        first=first,
        second=second,
        first_root=ref_mth(leaves[:first]),
        second_root=ref_mth(leaves[:second]),
        proof=consistency_proof(hashes, first, second),
    )


def test_node_hash_is_domain_separated_from_leaf_hash() -> None:
    left, right = LEAF_HASHES[0], LEAF_HASHES[1]
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right) != leaf_hash(left + right)
