"""central.transparency.tree against wire.merkle: the stored-node proofs are byte for byte the
RFC 9162 proofs wire builds from all leaves, and they verify with wire's verifiers."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.transparency import tree
from wire import merkle


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def build(hashes: list[bytes], chunks: list[int]) -> dict[tree.NodeKey, bytes]:
    """Append ``hashes`` in batches of the given sizes, as ingest does, keeping every node."""
    nodes: dict[tree.NodeKey, bytes] = {}
    size = 0
    for chunk in chunks:
        batch = hashes[size : size + chunk]
        frontier = [nodes[k] for k in tree.frontier_keys(size)]
        for node in tree.append(size, frontier, batch):
            assert node.key not in nodes, "a node is written once"
            nodes[node.key] = node.hash
        size += len(batch)
    return nodes


def chunked(n: int, cuts: list[int]) -> list[int]:
    out, left = [], n
    for cut in cuts:
        if left <= 0:
            break
        out.append(min(cut, left))
        left -= out[-1]
    if left > 0:
        out.append(left)
    return out


@given(
    n=st.integers(min_value=1, max_value=150),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=10),
    data=st.data(),
)
def test_proofs_from_stored_nodes_equal_wires_and_verify(
    n: int, cuts: list[int], data: st.DataObject
) -> None:
    hashes = leaves(n)
    nodes = build(hashes, chunked(n, cuts))
    size = data.draw(st.integers(min_value=1, max_value=n), label="size")
    root = tree.root_of(size, nodes)
    assert root == merkle.root_from_leaf_hashes(hashes[:size])
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    ranges = tree.inclusion_ranges(index, size)
    path = tree.resolve(ranges, {k: nodes[k] for k in tree.keys_for(ranges)})
    assert path == merkle.inclusion_proof(hashes[:size], index)
    merkle.verify_inclusion(
        leaf_hash=hashes[index], index=index, tree_size=size, proof=path, root=root
    )
    first = data.draw(st.integers(min_value=0, max_value=size), label="first")
    ranges = tree.consistency_ranges(first, size)
    proof = tree.resolve(ranges, {k: nodes[k] for k in tree.keys_for(ranges)})
    assert proof == merkle.consistency_proof(hashes, first, size)
    merkle.verify_consistency(
        first=first,
        second=size,
        first_root=tree.root_of(first, nodes),
        second_root=root,
        proof=proof,
    )


@given(size=st.integers(min_value=0, max_value=10**12))
def test_a_frontier_is_one_complete_subtree_per_set_bit(size: int) -> None:
    keys = tree.frontier_keys(size)
    assert [level for level, _ in keys] == sorted(
        (i for i in range(size.bit_length()) if size >> i & 1), reverse=True
    )
    assert sum(1 << level for level, _ in keys) == size
    covered = 0
    for level, index in keys:
        assert index << level == covered, "contiguous from leaf 0"
        covered += 1 << level


@pytest.mark.parametrize("size", [1, 2, 3, 1000, 2**20 + 1, 10**9 + 7])
def test_a_proof_needs_few_nodes_however_large_the_tree(size: int) -> None:
    bound = size.bit_length() ** 2 + 1
    for index in {0, size // 2, size - 1}:
        assert len(tree.keys_for(tree.inclusion_ranges(index, size))) <= bound
    for first in {1, size // 3 or 1, size - 1 or 1}:
        assert len(tree.keys_for(tree.consistency_ranges(first, size))) <= bound


def test_a_missing_node_and_a_wrong_frontier_are_errors() -> None:
    nodes = build(leaves(5), [5])
    del nodes[(2, 0)]
    with pytest.raises(LookupError, match=r"\(2, 0\)"):
        tree.root_of(5, nodes)
    with pytest.raises(ValueError, match="frontier"):
        tree.append(5, [], [hashlib.sha256(b"x").digest()])
    with pytest.raises(ValueError, match="outside"):
        tree.inclusion_ranges(5, 5)
