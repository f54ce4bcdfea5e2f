"""The transparency log over a store: signed tree heads, inclusion and consistency proofs.

What is logged: every record ingest stores (new, valid; WIRE.md "Signed tree head"), appended by
the store in the transaction that stores it (:mod:`central.store.sql_transparency`). Here the
log is read: :func:`current_head` signs a tree head when the log has grown since the last one
and keeps it (one per size, so consistency between any two published sizes can be proven
later); :func:`inclusion` and :func:`consistency` build RFC 9162 proofs against kept heads from
O(log² n) stored nodes at most (:mod:`central.transparency.tree`). JSON forms for the API and
for ``coalgate audit verify`` are in :mod:`central.transparency.jsonform`.
"""

from __future__ import annotations

from dataclasses import dataclass

from central.errors import ConflictError, NotFoundError
from central.store.base import Store
from central.store.model import StoredTreeHead
from central.transparency import tree
from wire.keys import SigningKey
from wire.treehead import sign_tree_head


@dataclass(frozen=True, slots=True, kw_only=True)
class Inclusion:
    """Leaf ``index`` of the tree of ``head.size`` is the record ``record_id``; ``path`` is the
    RFC 9162 audit path (bottom-up)."""

    record_id: bytes
    index: int
    path: tuple[bytes, ...]
    head: StoredTreeHead


@dataclass(frozen=True, slots=True, kw_only=True)
class Consistency:
    """The tree of ``second.size`` extends the one of ``first.size``; ``path`` is the RFC 9162
    consistency proof."""

    first: StoredTreeHead
    second: StoredTreeHead
    path: tuple[bytes, ...]


def root(store: Store, size: int) -> bytes:
    """The root of the log's first ``size`` leaves, from O(log n) stored nodes."""
    if not 0 <= size <= store.log_size():
        raise NotFoundError(f"the log has no tree of size {size}", kind="tree", key=str(size))
    return tree.root_of(size, store.log_nodes(tree.frontier_keys(size)))


def current_head(store: Store, key: SigningKey, *, now_ms: int) -> StoredTreeHead:
    """The latest kept tree head, after signing and keeping a new one if the log has grown
    since (or if none was kept yet). Safe in several processes: one head per size is kept,
    and whichever was kept first is returned."""
    latest = store.tree_head()
    size = store.log_size()
    if latest is not None and latest.size >= size:
        return latest
    signed = sign_tree_head(key, size=size, root=root(store, size), ts=now_ms)
    return store.add_tree_head(
        StoredTreeHead(size=size, root=signed.root, ts=signed.ts, kid=signed.kid, raw=signed.raw)
    )


def head(store: Store, size: int | None = None) -> StoredTreeHead:
    """The kept head of ``size`` (the latest when ``None``); ``NotFoundError`` if none."""
    found = store.tree_head(size)
    if found is None:
        what = (
            "no tree head has been signed yet" if size is None else f"no tree head of size {size}"
        )
        raise NotFoundError(what, kind="tree_head", key=str(size))
    return found


def inclusion(store: Store, record_id: bytes, *, size: int | None = None) -> Inclusion:
    """The proof that record ``record_id`` is in the tree of the kept head of ``size`` (the
    latest when ``None``). ``NotFoundError`` when the record is no leaf or there is no such
    head; ``ConflictError`` when the record was appended after that head (ask again after the
    next one)."""
    index = store.log_index(record_id)
    if index is None:
        raise NotFoundError(
            f"record {record_id.hex()} is not in the transparency log",
            kind="leaf",
            key=record_id.hex(),
        )
    against = head(store, size)
    if index >= against.size:
        raise ConflictError(
            f"record {record_id.hex()} is leaf {index}, after the tree head of size "
            f"{against.size}: ask again once a later tree head is signed",
            kind="leaf",
            key=record_id.hex(),
        )
    ranges = tree.inclusion_ranges(index, against.size)
    path = tree.resolve(ranges, store.log_nodes(tree.keys_for(ranges)))
    return Inclusion(record_id=record_id, index=index, path=tuple(path), head=against)


def consistency(store: Store, first: int, second: int) -> Consistency:
    """The proof that the kept head of ``second`` extends the kept head of ``first``
    (``ValueError`` unless ``first`` ≤ ``second``). ``NotFoundError`` unless both sizes have
    kept heads."""
    if first > second:
        raise ValueError(f"first ({first}) must not be larger than second ({second})")
    old, new = head(store, first), head(store, second)
    ranges = tree.consistency_ranges(first, second)
    path = tree.resolve(ranges, store.log_nodes(tree.keys_for(ranges)))
    return Consistency(first=old, second=new, path=tuple(path))
