"""The transparency log's tree as central stores it: every complete subtree's hash, once.

WIRE.md "Signed tree head" and :mod:`wire.merkle` define the tree (RFC 9162 hashing over the COSE
bytes of accepted records, in acceptance order). :mod:`wire.merkle` builds proofs from the list
of all leaf hashes in O(n); central instead keeps, for every *complete* subtree (``2**level``
leaves starting at leaf ``index * 2**level``), its hash as a node ``(level, index)``. Level 0
holds the leaf hashes. Nodes never change once written: a complete subtree stays complete as the
log grows, so the nodes of any earlier tree size are all still there.

With them, every hash a proof or a tree head needs is O(log n) node reads:

- the root of a tree of ``size`` folds the complete subtrees that make up ``[0, size)``, one per
  set bit of ``size``;
- an RFC 9162 proof lists subtree roots of ranges ``[lo, hi)``; each such range is either a
  complete subtree (one node) or runs to the end of the tree, and is then the fold of at most
  log2(size) nodes. An inclusion or consistency proof needs O(log² n) node reads at worst,
  typically far fewer, and never a leaf walk;
- appending k leaves to a tree of n writes k + (fewer than k + log2 n) nodes, reading only the
  log2 n nodes of the current frontier.

Pure: no I/O, no clock. The store reads and writes the nodes; the two-phase shape (first the
node keys a result needs, then the result from those nodes) lets it fetch them in one query.
The proofs are byte for byte those of :func:`wire.merkle.inclusion_proof` and
:func:`wire.merkle.consistency_proof` (a property test checks it), and verify with
:mod:`wire.merkle`'s verifiers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from wire.merkle import EMPTY_ROOT, leaf_hash, node_hash

__all__ = [
    "Node",
    "NodeKey",
    "append",
    "consistency_ranges",
    "frontier_keys",
    "inclusion_ranges",
    "keys_for",
    "leaf_hash",
    "resolve",
    "root_of",
]

NodeKey = tuple[int, int]
"""``(level, index)``: the complete subtree of ``2**level`` leaves from leaf ``index << level``."""

Range = tuple[int, int]
"""``(lo, hi)``: the leaves ``lo`` … ``hi - 1``, whose RFC 9162 subtree root a proof lists."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    level: int
    index: int
    hash: bytes

    @property
    def key(self) -> NodeKey:
        return (self.level, self.index)


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _complete(lo: int, hi: int) -> NodeKey | None:
    """The node that is exactly ``[lo, hi)``, if that range is one complete subtree."""
    width = hi - lo
    if width & (width - 1) == 0 and lo % width == 0:
        level = width.bit_length() - 1
        return (level, lo >> level)
    return None


def _range_keys(lo: int, hi: int, out: set[NodeKey]) -> None:
    # RFC 9162 MTH(D[lo:hi]) splits at k; a complete subtree is one stored node.
    while True:
        key = _complete(lo, hi)
        if key is not None:
            out.add(key)
            return
        k = _split(hi - lo)
        _range_keys(lo, lo + k, out)
        lo += k


def _range_root(lo: int, hi: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    key = _complete(lo, hi)
    if key is not None:
        try:
            return nodes[key]
        except KeyError:
            raise LookupError(f"node {key} is not stored") from None
    k = _split(hi - lo)
    return node_hash(_range_root(lo, lo + k, nodes), _range_root(lo + k, hi, nodes))


def keys_for(ranges: Iterable[Range]) -> set[NodeKey]:
    """Every node needed to compute the subtree roots of ``ranges`` (see :func:`resolve`)."""
    out: set[NodeKey] = set()
    for lo, hi in ranges:
        if not 0 <= lo < hi:
            raise ValueError(f"[{lo}, {hi}) is not a range of leaves")
        _range_keys(lo, hi, out)
    return out


def resolve(ranges: Sequence[Range], nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """The subtree roots of ``ranges``, from ``nodes`` (which must hold :func:`keys_for`'s
    keys; ``LookupError`` names a missing one)."""
    return [_range_root(lo, hi, nodes) for lo, hi in ranges]


def frontier_keys(size: int) -> list[NodeKey]:
    """The complete subtrees that make up a tree of ``size`` leaves, largest (leftmost) first."""
    if size < 0:
        raise ValueError(f"tree size must not be negative, got {size}")
    keys: list[NodeKey] = []
    pos = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, pos >> level))
            pos += 1 << level
    return keys


def root_of(size: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """The root of the tree of ``size`` leaves (:data:`wire.merkle.EMPTY_ROOT` for 0), from the
    nodes of :func:`frontier_keys`: smaller subtrees are right children of larger ones."""
    hashes = [nodes[key] for key in frontier_keys(size)]
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for h in reversed(hashes[:-1]):
        root = node_hash(h, root)
    return root


def append(size: int, frontier: Sequence[bytes], leaf_hashes: Iterable[bytes]) -> list[Node]:
    """The nodes to store when ``leaf_hashes`` are appended to a tree of ``size`` leaves whose
    :func:`frontier_keys` nodes hold ``frontier``: each new leaf (level 0) and each subtree it
    completes, in the order they complete."""
    keys = frontier_keys(size)
    if len(frontier) != len(keys):
        raise ValueError(
            f"a tree of size {size} has {len(keys)} frontier nodes, not {len(frontier)}"
        )
    stack = [Node(level=lv, index=ix, hash=h) for (lv, ix), h in zip(keys, frontier, strict=True)]
    written: list[Node] = []
    for h in leaf_hashes:
        if len(h) != 32:
            raise ValueError(f"leaf hashes are 32 bytes, got {len(h)}")
        node = Node(level=0, index=size, hash=h)
        size += 1
        written.append(node)
        while stack and stack[-1].level == node.level:
            left = stack.pop()
            node = Node(
                level=node.level + 1, index=left.index >> 1, hash=node_hash(left.hash, node.hash)
            )
            written.append(node)
        stack.append(node)
    return written


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose roots make PATH(index, D[size]) of RFC 9162 §2.1.3.1, bottom-up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The ranges whose roots make PROOF(first, D[second]) of RFC 9162 §2.1.4.1 (empty when
    ``first`` is 0 or equals ``second``, as :func:`wire.merkle.consistency_proof` does)."""
    if first < 0 or second < 0:
        raise ValueError(f"tree sizes must not be negative: {first}, {second}")
    if first > second:
        raise ValueError(f"first tree size {first} is larger than second tree size {second}")
    if first in (0, second):
        return []
    ranges: list[Range] = []
    m, lo, hi = first, 0, second
    known = True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            m -= k
            lo += k
            known = False
    if not known:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges
