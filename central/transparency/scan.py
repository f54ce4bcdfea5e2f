"""``coalgate audit scan``: re-verify a whole store against its own transparency log.

Nothing is fixed, everything is reported: each problem is a :class:`Finding` with one line of
text. The scan reads the database in pages, in O(n) time and O(page + log n) memory (the chain
pass holds one device's page at a time):

1. every kept tree head: central's signature, and that its fields match its signed payload;
2. every leaf, in order: the record row it names still exists; the stored bytes still hash to
   the record's id (a record whose bytes were edited in the database fails here); the stored
   leaf hash is SHA-256(0x00 ‖ bytes); the bytes verify under the device's registered key and
   their payload matches the row's columns; and the root of the leaves so far, recomputed from
   the records' bytes, equals the signed root of every kept head of that size (a rewritten
   history fails here);
3. every stored node above the leaves is the hash of its two children, so every inclusion and
   consistency proof the API builds from them is one that a verifier accepts;
4. every device's chain: each record's ``prev`` is the id of the stored record before it;
5. no stored record is missing from the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from central.store.base import Store
from central.store.model import LogEntry, StoredTreeHead
from wire.errors import WireError
from wire.keys import KeySet, PublicKey
from wire.merkle import CompactRange, leaf_hash, node_hash
from wire.records import decode_record, verify_record
from wire.treehead import verify_tree_head

PAGE = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    kind: str
    """``bad_head``, ``record_missing``, ``record_changed``, ``leaf_changed``,
    ``bad_signature``, ``columns_changed``, ``history_rewritten``, ``node_changed``,
    ``broken_chain``, ``not_logged``, ``log_size``."""
    message: str


@dataclass(slots=True)
class ScanReport:
    leaves: int = 0
    heads: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, kind: str, message: str) -> None:
        self.findings.append(Finding(kind=kind, message=message))


def _short(value: bytes) -> str:
    return value.hex()[:16] + "…"


def _heads(store: Store) -> Iterator[StoredTreeHead]:
    after = -1
    while page := store.tree_heads(after_size=after, limit=PAGE):
        yield from page
        after = page[-1].size


def _entries(store: Store) -> Iterator[LogEntry]:
    after = -1
    while page := store.log_entries(after=after, limit=PAGE):
        yield from page
        after = page[-1].index


def _level(store: Store, level: int) -> Iterator[tuple[int, bytes]]:
    after = -1
    while page := store.log_level(level, after=after, limit=PAGE):
        yield from page
        after = page[-1][0]


def scan(store: Store, central_keys: KeySet) -> ScanReport:
    """Check ``store`` (see the module docstring); ``central_keys`` verify its tree heads."""
    report = ScanReport()
    signed = _check_heads(store, central_keys, report)
    size = store.log_size()
    _check_leaves(store, signed, report)
    if report.leaves != size:
        report.add("log_size", f"the log says it has {size} leaves, {report.leaves} are stored")
    _check_nodes(store, report.leaves, report)
    _check_chains(store, report)
    missing = store.unlogged_records(limit=PAGE)
    for record in missing:
        report.add(
            "not_logged",
            f"record {record.record_id.hex()} ({record.device} seq {record.seq}) is stored but "
            "is no leaf of the transparency log",
        )
    return report


def _check_heads(store: Store, keys: KeySet, report: ScanReport) -> dict[int, bytes]:
    signed: dict[int, bytes] = {}
    for head in _heads(store):
        report.heads += 1
        try:
            checked = verify_tree_head(head.raw, keys)
        except WireError as exc:
            report.add("bad_head", f"tree head of size {head.size}: {exc.reason}: {exc.message}")
            continue
        if (checked.size, checked.root, checked.ts) != (head.size, head.root, head.ts):
            report.add(
                "bad_head",
                f"tree head of size {head.size}: its columns differ from its signed payload "
                f"(size {checked.size}, root {_short(checked.root)})",
            )
        signed[checked.size] = checked.root
    return signed


def _check_leaves(store: Store, signed: dict[int, bytes], report: ScanReport) -> None:
    keys: dict[str, KeySet] = {
        d.id: KeySet([PublicKey.from_raw(d.public_key, kid=d.id)]) for d in store.list_devices()
    }
    compact = CompactRange()
    for entry in _entries(store):
        if entry.index != report.leaves:
            report.add("log_size", f"leaf {report.leaves} is missing (next stored: {entry.index})")
            return
        report.leaves += 1
        compact = compact.append(_leaf(entry, keys, report))
        root = signed.get(compact.size)
        if root is not None and compact.root() != root:
            report.add(
                "history_rewritten",
                f"tree head of size {compact.size}: the records stored now give root "
                f"{_short(compact.root())}, central signed {_short(root)}: the log changed "
                "after it was signed",
            )
    for size in sorted(s for s in signed if s > compact.size):
        report.add("history_rewritten", f"tree head of size {size} is beyond the stored log")


def _leaf(entry: LogEntry, keys: dict[str, KeySet], report: ScanReport) -> bytes:
    """The leaf hash of ``entry`` from its record's bytes (the stored hash if the row is gone),
    reporting what does not hold."""
    record, where = entry.record, f"leaf {entry.index}"
    if record is None:
        report.add("record_missing", f"{where}: record {entry.record_id.hex()} is gone")
        return entry.leaf_hash or bytes(32)
    name = f"record {record.record_id.hex()} ({record.device} seq {record.seq}, {where})"
    actual = hashlib.sha256(record.raw).digest()
    if actual != record.record_id:
        report.add(
            "record_changed",
            f"{name}: its bytes were changed after it was stored (they hash to {_short(actual)})",
        )
    computed = leaf_hash(record.raw)
    if entry.leaf_hash != computed:
        report.add("leaf_changed", f"{name}: the stored leaf hash is not the hash of its bytes")
    device_keys = keys.get(record.device)
    if device_keys is None:
        report.add("bad_signature", f"{name}: device {record.device} is not in the registry")
        return computed
    try:
        checked = verify_record(record.raw, device_keys)
    except WireError as exc:
        report.add("bad_signature", f"{name}: {exc.reason}: {exc.message}")
        return computed
    signed = (checked.device, checked.site, checked.seq, checked.ts, checked.type)
    if signed != (record.device, record.site, record.seq, record.ts, record.type):
        report.add("columns_changed", f"{name}: its columns differ from its signed payload")
    return computed


def _check_nodes(store: Store, size: int, report: ScanReport) -> None:
    level = 1
    while size >> level:
        children = _level(store, level - 1)
        parents = _level(store, level)
        for index in range(size >> level):
            left, right, parent = next(children, None), next(children, None), next(parents, None)
            if left is None or right is None or parent is None or parent[0] != index:
                report.add("node_changed", f"tree node ({level}, {index}) is missing")
                return
            if (left[0], right[0]) != (2 * index, 2 * index + 1):
                report.add("node_changed", f"tree nodes below ({level}, {index}) are missing")
                return
            if node_hash(left[1], right[1]) != parent[1]:
                report.add(
                    "node_changed",
                    f"tree node ({level}, {index}) is not the hash of its children: proofs "
                    "built from it will not verify",
                )
        level += 1


def _check_chains(store: Store, report: ScanReport) -> None:
    for device in store.list_devices():
        previous: tuple[int, bytes] | None = None  # (seq, id from the stored bytes)
        after = 0
        while page := store.records(device.id, after_seq=after, limit=PAGE):
            for record in page:
                own = hashlib.sha256(record.raw).digest()
                try:
                    prev = decode_record(record.raw).prev
                except WireError:
                    previous = (record.seq, own)
                    continue  # reported with the leaf already
                if previous is not None and previous[0] == record.seq - 1 and prev != previous[1]:
                    report.add(
                        "broken_chain",
                        f"record {record.record_id.hex()} ({device.id} seq {record.seq}): its "
                        f"prev {_short(prev)} is not the stored seq {record.seq - 1} "
                        f"({_short(previous[1])})",
                    )
                previous = (record.seq, own)
            after = page[-1].seq
