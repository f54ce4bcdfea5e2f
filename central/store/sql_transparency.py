"""The transparency log and the metrics counts of the portable store (migration 0008; see
:mod:`central.transparency.tree` for the node layout and docs/transparency.md).

Ingest calls :meth:`TransparencySql._append_to_log` with the records a batch newly inserted, as
the last step of its transaction. It bumps the one row of ``transparency_state`` first: on
PostgreSQL that row lock is held to the commit, so appends are serialised and leaf numbers
follow commit order with no hole (SQLite has one writer anyway). Taking it last keeps the
serialised part of a batch short: a few node reads and inserts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from central.store.model import (
    IncomingRecord,
    LogEntry,
    StoreCounts,
    StoredRecord,
    StoredTreeHead,
)
from central.store.sql_base import Row, SqlBase, TxT
from central.transparency import tree
from central.transparency.tree import NodeKey

_NODE_CHUNK = 200  # keys per query: (level = ? AND idx = ?) OR … stays a short statement
_HEAD = "SELECT size, root, ts, kid, raw FROM tree_heads"


def _head(row: Row) -> StoredTreeHead:
    return StoredTreeHead(
        size=int(row[0]), root=bytes(row[1]), ts=int(row[2]), kid=row[3], raw=bytes(row[4])
    )


def _record(row: Row) -> StoredRecord:
    return StoredRecord(
        raw=bytes(row[0]),
        record_id=bytes(row[1]),
        device=row[2],
        site=row[3],
        seq=int(row[4]),
        ts=int(row[5]),
        type=row[6],
        received_at=int(row[7]),
    )


def _nodes(tx: TxT, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
    wanted = sorted(keys)
    found: dict[NodeKey, bytes] = {}
    for start in range(0, len(wanted), _NODE_CHUNK):
        chunk = wanted[start : start + _NODE_CHUNK]
        where = " OR ".join(["(level = ? AND idx = ?)"] * len(chunk))  # placeholders only
        params = [value for key in chunk for value in key]
        statement = f"SELECT level, idx, hash FROM transparency_nodes WHERE {where}"  # noqa: S608
        for level, idx, value in tx.rows(statement, params):
            found[(int(level), int(idx))] = bytes(value)
    return found


class TransparencySql(SqlBase[TxT]):
    """The log's reads and writes (see :class:`~central.store.base.Store`)."""

    def _append_to_log(self, tx: TxT, inserted: Sequence[IncomingRecord], *, now_ms: int) -> None:
        if not inserted:
            return
        row = tx.one(
            "UPDATE transparency_state SET size = size + ? WHERE id = 1 RETURNING size",
            (len(inserted),),
        )
        if row is None:
            raise LookupError("transparency_state has no row: migration 0008 did not run")
        size = int(row[0]) - len(inserted)
        keys = tree.frontier_keys(size)
        stored = _nodes(tx, keys)
        nodes = tree.append(
            size, [stored[key] for key in keys], [tree.leaf_hash(r.raw) for r in inserted]
        )
        tx.many(
            "INSERT INTO transparency_leaves (idx, record_id, appended_at) VALUES (?, ?, ?)",
            [(size + i, r.record_id, now_ms) for i, r in enumerate(inserted)],
        )
        tx.many(
            "INSERT INTO transparency_nodes (level, idx, hash) VALUES (?, ?, ?)",
            [(n.level, n.index, n.hash) for n in nodes],
        )

    def log_size(self) -> int:
        row = self._read(lambda tx: tx.one("SELECT size FROM transparency_state WHERE id = 1"))
        return 0 if row is None else int(row[0])

    def log_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        if not keys:
            return {}
        return self._read(lambda tx: _nodes(tx, keys))

    def log_index(self, record_id: bytes) -> int | None:
        row = self._read(
            lambda tx: tx.one(
                "SELECT idx FROM transparency_leaves WHERE record_id = ?", (record_id,)
            )
        )
        return None if row is None else int(row[0])

    def log_entries(self, *, after: int = -1, limit: int = 1000) -> list[LogEntry]:
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT l.idx, l.record_id, n.hash, l.appended_at,"
                " r.raw, r.record_id, r.device, r.site, r.seq, r.ts, r.type, r.received_at"
                " FROM transparency_leaves AS l"
                " LEFT JOIN transparency_nodes AS n ON n.level = 0 AND n.idx = l.idx"
                " LEFT JOIN records AS r ON r.record_id = l.record_id"
                " WHERE l.idx > ? ORDER BY l.idx LIMIT ?",
                (after, limit),
            )
        )
        return [
            LogEntry(
                index=int(r[0]),
                record_id=bytes(r[1]),
                leaf_hash=None if r[2] is None else bytes(r[2]),
                appended_at=int(r[3]),
                record=None if r[4] is None else _record(r[4:]),
            )
            for r in rows
        ]

    def log_level(
        self, level: int, *, after: int = -1, limit: int = 1000
    ) -> list[tuple[int, bytes]]:
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT idx, hash FROM transparency_nodes WHERE level = ? AND idx > ?"
                " ORDER BY idx LIMIT ?",
                (level, after, limit),
            )
        )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def unlogged_records(self, *, limit: int = 1000) -> list[StoredRecord]:
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT raw, record_id, device, site, seq, ts, type, received_at FROM records AS r"
                " WHERE NOT EXISTS (SELECT 1 FROM transparency_leaves AS l"
                " WHERE l.record_id = r.record_id)"
                " ORDER BY received_at, device, seq LIMIT ?",
                (limit,),
            )
        )
        return [_record(r) for r in rows]

    def add_tree_head(self, head: StoredTreeHead) -> StoredTreeHead:
        def work(tx: TxT) -> StoredTreeHead:
            tx.run(
                "INSERT INTO tree_heads (size, root, ts, kid, raw) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (size) DO NOTHING",
                (head.size, head.root, head.ts, head.kid, head.raw),
            )
            row = tx.one(f"{_HEAD} WHERE size = ?", (head.size,))
            if row is None:
                raise LookupError(f"tree head {head.size} vanished")
            return _head(row)

        return self._write(work)

    def tree_head(self, size: int | None = None) -> StoredTreeHead | None:
        row = self._read(
            lambda tx: (
                tx.one(f"{_HEAD} ORDER BY size DESC LIMIT 1")
                if size is None
                else tx.one(f"{_HEAD} WHERE size = ?", (size,))
            )
        )
        return None if row is None else _head(row)

    def tree_heads(self, *, after_size: int = -1, limit: int = 1000) -> list[StoredTreeHead]:
        rows = self._read(
            lambda tx: tx.rows(f"{_HEAD} WHERE size > ? ORDER BY size LIMIT ?", (after_size, limit))
        )
        return [_head(r) for r in rows]


class MetricsSql(SqlBase[TxT]):
    """The counts behind ``/metrics``."""

    def counts(self) -> StoreCounts:
        def work(tx: TxT) -> StoreCounts:
            size_row = tx.one("SELECT size FROM transparency_state WHERE id = 1")
            size = 0 if size_row is None else int(size_row[0])
            last = tx.one(
                "SELECT l.appended_at, r.ts FROM transparency_leaves AS l"
                " LEFT JOIN records AS r ON r.record_id = l.record_id"
                " WHERE l.idx = ?",
                (size - 1,),
            )
            quarantine = {
                str(reason): (int(kept), int(total))
                for reason, kept, total in tx.rows(
                    "SELECT reason, count(*), sum(count) FROM quarantine GROUP BY reason"
                )
            }
            alarms = {
                str(kind): int(n)
                for kind, n in tx.rows("SELECT kind, count(*) FROM alarms GROUP BY kind")
            }
            tickets = {
                str(state): int(n)
                for state, n in tx.rows("SELECT state, count(*) FROM tickets GROUP BY state")
            }
            return StoreCounts(
                log_size=size,
                last_stored_at=None if last is None else int(last[0]),
                last_record_ts=None if last is None or last[1] is None else int(last[1]),
                quarantine=quarantine,
                alarms=alarms,
                tickets=tickets,
            )

        return self._read(work)
