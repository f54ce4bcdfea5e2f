"""The Merkle tree behind central's signed tree head (WIRE.md "Signed tree head").

RFC 9162 (Certificate Transparency 2.0) §2.1, with SHA-256::

    leaf hash   = SHA-256(0x00 ‖ leaf bytes)
    node hash   = SHA-256(0x01 ‖ left ‖ right)
    empty tree  = SHA-256("")

A tree of n > 1 leaves splits at k, the largest power of two below n: the left subtree holds the
first k leaves and is complete, the right one holds the rest.

Pure: no I/O and no clock. Proofs are built from a sequence of leaf hashes (what central stores)
in O(n); :class:`CompactRange` keeps the running root in O(log n) memory and time per leaf, so
central never rehashes the log to publish a tree head. Verifiers follow the RFC's algorithms
step by step (§2.1.3.2, §2.1.4.2) and raise :class:`ProofError` when a proof does not hold;
arguments no proof could make sensible (negative sizes, an index outside the tree a proof is
asked for, ``first > second``) raise :class:`ValueError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from wire.errors import RemoteError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(RemoteError):
    """An inclusion or consistency proof (or a root it is checked against) does not hold.

    ``kind`` is ``"inclusion"`` or ``"consistency"``: which of the two proofs failed.
    """

    reason = "bad_proof"

    def __init__(self, message: str, *, kind: Literal["inclusion", "consistency"]) -> None:
        super().__init__(message)
        self.kind = kind


def leaf_hash(data: bytes) -> bytes:
    """Hash of one leaf: SHA-256(0x00 ‖ data). For the STH, ``data`` is a record's COSE bytes."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """Root of the tree over leaf *data* (each item is hashed with :func:`leaf_hash`)."""
    return root_from_leaf_hashes([leaf_hash(data) for data in leaves])


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """Root of the tree over precomputed leaf hashes, in O(n) time and O(log n) memory."""
    return CompactRange().extend(leaf_hashes).root()


@dataclass(frozen=True, slots=True, kw_only=True)
class CompactRange:
    """The running state of an append-only tree: its size and the roots of its full subtrees.

    ``frontier`` holds one hash per set bit of ``size``, largest (leftmost) subtree first; that
    is all the tree a new leaf or the root needs. It is a value: :meth:`append` returns a new
    range, so a caller can compute the next state and keep it only once the leaf is stored.
    Both fields are small enough to persist, so a restart need not reload every leaf.
    """

    size: int = 0
    frontier: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"tree size must not be negative, got {self.size}")
        if len(self.frontier) != self.size.bit_count():
            raise ValueError(
                f"a tree of size {self.size} has {self.size.bit_count()} full subtrees, "
                f"not {len(self.frontier)}"
            )
        for h in self.frontier:
            if len(h) != HASH_SIZE:
                raise ValueError(f"frontier hashes are {HASH_SIZE} bytes, got {len(h)}")

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> CompactRange:
        """The range over ``leaf_hashes``, built in O(n) (for loading a stored log)."""
        return cls().extend(leaf_hashes)

    def append(self, leaf_hash: bytes) -> CompactRange:
        """The range with one more leaf (given as its leaf hash); O(log n)."""
        _check_leaf_hash(leaf_hash)
        stack = list(self.frontier)
        _push(stack, self.size, leaf_hash)
        return CompactRange(size=self.size + 1, frontier=tuple(stack))

    def extend(self, leaf_hashes: Iterable[bytes]) -> CompactRange:
        """The range with all of ``leaf_hashes`` appended, in order."""
        stack = list(self.frontier)
        size = self.size
        for h in leaf_hashes:
            _check_leaf_hash(h)
            _push(stack, size, h)
            size += 1
        return CompactRange(size=size, frontier=tuple(stack))

    def root(self) -> bytes:
        """The tree's root hash (:data:`EMPTY_ROOT` for size 0); O(log n)."""
        return _fold(self.frontier)


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 §2.1.3.1 for the tree over all of ``leaf_hashes``.

    The audit path from the leaf's sibling up to the root's child; O(n).
    """
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root, remembering the sibling subtree at each level; the RFC lists
    # them bottom-up, so the list is reversed at the end.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(_subtree_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_subtree_root(leaf_hashes, lo, lo + k))
            lo += k
    proof.reverse()
    return proof


def verify_inclusion(
    *, leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`ProofError` unless the proof holds; an index at or past
    ``tree_size`` fails verification (step 1), as it would for a wrong size in a proof.
    """
    if index < 0 or tree_size < 0:
        raise ValueError(f"index and tree size must not be negative: {index}, {tree_size}")
    _check_hashes("inclusion", leaf_hash=leaf_hash, root=root, proof=proof)
    # 1. An index outside the tree cannot be proven.
    if index >= tree_size:
        raise ProofError(
            f"leaf index {index} is outside a tree of size {tree_size}", kind="inclusion"
        )
    # 2.-3.
    fn, sn = index, tree_size - 1
    r = leaf_hash
    # 4.
    for p in proof:
        if sn == 0:
            raise ProofError(
                f"inclusion proof is longer than a tree of size {tree_size} allows",
                kind="inclusion",
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # 5.
    if sn != 0:
        raise ProofError(
            f"inclusion proof is shorter than a tree of size {tree_size} needs", kind="inclusion"
        )
    if r != root:
        raise ProofError(
            f"inclusion proof for leaf {index} of {tree_size} does not lead to the root",
            kind="inclusion",
        )


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 §2.1.4.1 over the first ``second`` leaf hashes.

    Empty when ``first == second`` (SUBPROOF(m, D[m], true) is empty) and when ``first`` is 0:
    the RFC defines proofs for 0 < first < second only, and every tree extends the empty one.
    O(second).
    """
    if first < 0 or second < 0:
        raise ValueError(f"tree sizes must not be negative: {first}, {second}")
    if first > second:
        raise ValueError(f"first tree size {first} is larger than second tree size {second}")
    if second > len(leaf_hashes):
        raise ValueError(f"tree size {second} exceeds the {len(leaf_hashes)} leaves given")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    m, lo, hi = first, 0, second
    # SUBPROOF(m, D[lo:hi], b), unrolled: it recurses into one side only, appending the other
    # side's root after the deeper part, so collect top-down and reverse.
    known = True  # b: the subtree of the old tree at this point is one the verifier knows
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_subtree_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_subtree_root(leaf_hashes, lo, lo + k))
            m -= k
            lo += k
            known = False
    if not known:
        proof.append(_subtree_root(leaf_hashes, lo, hi))
    proof.reverse()
    return proof


def verify_consistency(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``second`` leaves with ``second_root`` extends the one of ``first``.

    RFC 9162 §2.1.4.2 for 0 < first < second. The RFC defines no proof outside that range; as
    PROOF(m, D[m]) is empty, ``first == second`` holds with an empty proof and equal roots, and
    ``first == 0`` holds with an empty proof when ``first_root`` is the empty tree's root (every
    tree extends the empty tree, but a size-0 head with another root is a false head).
    Raises :class:`ProofError` unless the proof holds.
    """
    if first < 0 or second < 0:
        raise ValueError(f"tree sizes must not be negative: {first}, {second}")
    if first > second:
        raise ValueError(f"first tree size {first} is larger than second tree size {second}")
    _check_hashes("consistency", first_root=first_root, second_root=second_root, proof=proof)
    if first in (0, second):
        if proof:
            raise ProofError(
                f"consistency proof from {first} to {second} must be empty", kind="consistency"
            )
        if first == 0 and first_root != EMPTY_ROOT:
            raise ProofError("the root of an empty tree is SHA-256 of nothing", kind="consistency")
        if first == second and first_root != second_root:
            raise ProofError(f"two different roots for tree size {first}", kind="consistency")
        return
    # 1.
    if not proof:
        raise ProofError(f"consistency proof from {first} to {second} is empty", kind="consistency")
    # 2.
    path = [first_root, *proof] if first & (first - 1) == 0 else list(proof)
    # 3.-4.
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError(
                f"consistency proof from {first} to {second} is too long", kind="consistency"
            )
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    if sn != 0:
        raise ProofError(
            f"consistency proof from {first} to {second} is too short", kind="consistency"
        )
    if fr != first_root:
        raise ProofError(
            f"consistency proof does not lead to the root of tree size {first}",
            kind="consistency",
        )
    if sr != second_root:
        raise ProofError(
            f"consistency proof does not lead to the root of tree size {second}",
            kind="consistency",
        )


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1): the left subtree's size."""
    return 1 << ((n - 1).bit_length() - 1)


def _push(stack: list[bytes], size: int, h: bytes) -> None:
    """Add leaf hash ``h`` as leaf number ``size`` to the frontier ``stack``, merging equals."""
    while size & 1:
        h = node_hash(stack.pop(), h)
        size >>= 1
    stack.append(h)


def _fold(frontier: Sequence[bytes]) -> bytes:
    """The root from a frontier: smaller subtrees are right children of the larger ones."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for h in reversed(frontier[:-1]):
        root = node_hash(h, root)
    return root


def _subtree_root(leaf_hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) over leaf hashes, without copying the sequence."""
    return CompactRange().extend(leaf_hashes[i] for i in range(lo, hi)).root()


def _check_leaf_hash(h: bytes) -> None:
    # A stored leaf hash of the wrong size is the caller's data, not a peer's.
    if len(h) != HASH_SIZE:
        raise ValueError(f"leaf hashes are {HASH_SIZE} bytes, got {len(h)}")


def _check_hashes(
    kind: Literal["inclusion", "consistency"], *, proof: Sequence[bytes], **named: bytes
) -> None:
    # Without this a proof of odd-sized "hashes" could verify where sizes make it trivial
    # (a one-leaf tree, equal sizes): b"" would equal b"".
    for name, value in named.items():
        if len(value) != HASH_SIZE:
            raise ProofError(f"{name} is {len(value)} bytes, not {HASH_SIZE}", kind=kind)
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(f"proof[{i}] is {len(p)} bytes, not {HASH_SIZE}", kind=kind)
