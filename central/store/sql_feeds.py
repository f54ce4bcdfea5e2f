"""The feeds part of the portable store: the feed journal and its marks, the sources the
feed builders read, tax declarations, webhook subscriptions and their outbox (migration 0009,
docs/feeds.md).

Journal ids commit in order: appending takes a transaction-level advisory lock on PostgreSQL
(SQLite has one writer), so a platform paging by id never skips an item that commits late, and
``(feed, key)`` is unique, so an item derived twice is stored once. The outbox rows of the
webhooks that want an item are written in the same transaction as the item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from central.errors import NotFoundError, StoreError
from central.feeds.model import (
    Delivery,
    FeedItem,
    FeedName,
    TaxDeclaration,
    TaxOutcome,
    TonnageFact,
    Webhook,
    WeighingRow,
)
from central.store.model import Sighting, StoredTicket
from central.store.sql_api import _SIGHTING, _sighting
from central.store.sql_base import Row, SqlBase, TxT, json_value
from central.store.sql_tickets import _TICKET, _ticket

_NS_GLOBAL = 0x63670000  # as central.store.postgres
_LOCK_FEED = 10
_ITEM = (
    "SELECT id, feed, key, kind, enterprise, parties, subject, at, added_at, body FROM feed_items"
)
_WEBHOOK = "SELECT id, token, enterprise, feed, url, secret, created_at, deleted_at FROM webhooks"


def _parties_text(parties: Sequence[str]) -> str:
    return "," + ",".join(sorted(set(parties))) + "," if parties else ""


def _item(row: Row) -> FeedItem:
    return FeedItem(
        id=int(row[0]),
        feed=row[1],
        key=row[2],
        kind=row[3],
        enterprise=row[4],
        parties=tuple(p for p in str(row[5]).split(",") if p),
        subject=row[6],
        at=int(row[7]),
        added_at=int(row[8]),
        body=json_value(row[9]),
    )


def _webhook(row: Row) -> Webhook:
    return Webhook(
        id=int(row[0]),
        token=int(row[1]),
        enterprise=row[2],
        feed=row[3],
        url=row[4],
        secret=row[5],
        created_at=int(row[6]),
        deleted_at=None if row[7] is None else int(row[7]),
    )


def _day(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


class FeedSql(SqlBase[TxT]):
    """Feed methods of :class:`~central.store.base.Store`."""

    def _lock_feed(self, tx: TxT) -> None:
        if self.backend == "postgresql":
            tx.run("SELECT pg_advisory_xact_lock(?, ?)", (_NS_GLOBAL, _LOCK_FEED))

    # --- journal ------------------------------------------------------------------------------
    def append_feed_items(
        self, items: Sequence[FeedItem], *, now_ms: int, marks: Mapping[str, int] | None = None
    ) -> list[FeedItem]:
        def work(tx: TxT) -> list[FeedItem]:
            self._lock_feed(tx)
            added: list[FeedItem] = []
            hooks = [_webhook(r) for r in tx.rows(f"{_WEBHOOK} WHERE deleted_at IS NULL")]
            for item in items:
                row = tx.one(
                    "INSERT INTO feed_items (feed, key, kind, enterprise, parties, subject, at,"
                    " added_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (feed, key) DO NOTHING RETURNING id",
                    (
                        item.feed,
                        item.key,
                        item.kind,
                        item.enterprise,
                        _parties_text(item.parties),
                        item.subject,
                        item.at,
                        now_ms,
                        self._json_param(item.body),
                    ),
                )
                if row is None:
                    continue
                item_id = int(row[0])
                for hook in hooks:
                    if hook.feed == item.feed and (
                        hook.enterprise is None or hook.enterprise in item.parties
                    ):
                        tx.run(
                            "INSERT INTO webhook_outbox (webhook, item, next_at) VALUES (?, ?, ?)",
                            (hook.id, item_id, now_ms),
                        )
                added.append(_with_id(item, item_id, now_ms))
            for name, value in sorted((marks or {}).items()):
                tx.run(
                    "INSERT INTO feed_marks (name, value) VALUES (?, ?) ON CONFLICT (name)"
                    " DO UPDATE SET value = excluded.value WHERE feed_marks.value < excluded.value",
                    (name, value),
                )
            return added

        return self._write(work)

    def feed_items(
        self,
        feed: FeedName,
        *,
        after: int = 0,
        limit: int = 100,
        party: str | None = None,
        since_at: int | None = None,
    ) -> list[FeedItem]:
        if limit < 1:
            raise StoreError(f"limit must be at least 1, not {limit}")
        where = ["feed = ?", "id > ?"]
        params: list[Any] = [feed, after]
        if party is not None:
            where.append("parties LIKE ?")
            params.append(f"%,{party},%")
        if since_at is not None:
            where.append("at >= ?")
            params.append(since_at)
        sql = f"{_ITEM} WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        params.append(limit)
        return [_item(r) for r in self._read(lambda tx: tx.rows(sql, params))]

    def feed_marks(self) -> dict[str, int]:
        rows = self._read(lambda tx: tx.rows("SELECT name, value FROM feed_marks"))
        return {str(r[0]): int(r[1]) for r in rows}

    # --- sources ------------------------------------------------------------------------------
    def tonnage_facts(self, *, first_day: str, last_day: str) -> list[TonnageFact]:
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT w.day, w.site, w.direction, t.coal, sum(w.net_kg), count(*)"
                " FROM weighings AS w LEFT JOIN tickets AS t ON t.cti = w.ticket"
                " WHERE w.day >= ? AND w.day <= ?"
                " GROUP BY w.day, w.site, w.direction, t.coal",
                (first_day, last_day),
            )
        )
        facts = [
            TonnageFact(
                day=_day(r[0]),
                site=r[1],
                direction=r[2],
                coal=r[3],
                net_kg=int(r[4]),
                weighings=int(r[5]),
            )
            for r in rows
        ]
        return sorted(facts, key=lambda f: (f.day, f.site, f.direction, f.coal or ""))

    def first_weighing_day(self) -> str | None:
        row = self._read(lambda tx: tx.one("SELECT min(day) FROM weighings"))
        return None if row is None or row[0] is None else _day(row[0])

    def weighing_rows(self, *, since_ts: int) -> list[WeighingRow]:
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT r.record_id, w.device, w.site, w.direction, w.ts, w.net_kg, w.plate,"
                " w.ticket, r.raw FROM weighings AS w"
                " JOIN records AS r ON r.device = w.device AND r.seq = w.seq"
                " WHERE w.ts >= ? ORDER BY w.ts, r.record_id",
                (since_ts,),
            )
        )
        return [
            WeighingRow(
                record_id=bytes(r[0]),
                device=r[1],
                site=r[2],
                direction=r[3],
                ts=int(r[4]),
                net_kg=int(r[5]),
                plate=r[6],
                ticket=None if r[7] is None else bytes(r[7]),
                raw=bytes(r[8]),
            )
            for r in rows
        ]

    def loaded_tickets(self, *, since_ms: int) -> list[StoredTicket]:
        rows = self._read(
            lambda tx: tx.rows(
                f"{_TICKET} WHERE loaded_at IS NOT NULL AND loaded_at >= ? ORDER BY loaded_at, cti",
                (since_ms,),
            )
        )
        return [_ticket(r) for r in rows]

    def recent_sightings(self, *, since_ms: int) -> list[Sighting]:
        rows = self._read(
            lambda tx: tx.rows(
                f"{_SIGHTING} WHERE recorded_at >= ? OR seen_at >= ? ORDER BY id",
                (since_ms, since_ms),
            )
        )
        return [_sighting(r) for r in rows]

    # --- tax declarations -------------------------------------------------------------------
    def put_tax_declarations(
        self, values: Sequence[TaxDeclaration], *, actor: str, at: int
    ) -> list[TaxOutcome]:
        def work(tx: TxT) -> list[TaxOutcome]:
            outcomes: list[TaxOutcome] = []
            for value in values:
                if tx.one("SELECT 1 FROM enterprises WHERE id = ?", (value.enterprise,)) is None:
                    raise NotFoundError(
                        f"no enterprise {value.enterprise!r}",
                        kind="enterprise",
                        key=value.enterprise,
                    )
                old = tx.one(
                    "SELECT sold_kg, value_yuan FROM tax_declarations"
                    " WHERE enterprise = ? AND period = ?",
                    (value.enterprise, value.period),
                )
                if old is not None and (int(old[0]), int(old[1])) == (
                    value.sold_kg,
                    value.value_yuan,
                ):
                    outcomes.append("unchanged")
                    continue
                tx.run(
                    "INSERT INTO tax_declarations (enterprise, period, sold_kg, value_yuan,"
                    " submitted_at, submitted_by) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (enterprise, period) DO UPDATE SET sold_kg = excluded.sold_kg,"
                    " value_yuan = excluded.value_yuan, submitted_at = excluded.submitted_at,"
                    " submitted_by = excluded.submitted_by",
                    (value.enterprise, value.period, value.sold_kg, value.value_yuan, at, actor),
                )
                outcome: TaxOutcome = "added" if old is None else "replaced"
                outcomes.append(outcome)
                detail = {
                    "enterprise": value.enterprise,
                    "period": value.period,
                    "sold_kg": value.sold_kg,
                    "value_yuan": value.value_yuan,
                    "outcome": outcome,
                }
                self._audit(tx, at=at, actor=actor, action="tax.declare", detail=detail)
            return outcomes

        return self._write(work)

    def tax_declarations(
        self, *, first_period: str, last_period: str, enterprise: str | None = None
    ) -> list[TaxDeclaration]:
        sql = (
            "SELECT enterprise, period, sold_kg, value_yuan, submitted_at, submitted_by"
            " FROM tax_declarations WHERE period >= ? AND period <= ?"
        )
        params: list[Any] = [first_period, last_period]
        if enterprise is not None:
            sql += " AND enterprise = ?"
            params.append(enterprise)
        sql += " ORDER BY period, enterprise"
        return [
            TaxDeclaration(
                enterprise=r[0],
                period=r[1],
                sold_kg=int(r[2]),
                value_yuan=int(r[3]),
                submitted_at=int(r[4]),
                submitted_by=r[5],
            )
            for r in self._read(lambda tx: tx.rows(sql, params))
        ]

    # --- webhooks -----------------------------------------------------------------------------
    def add_webhook(
        self,
        *,
        token: int,
        enterprise: str | None,
        feed: FeedName,
        url: str,
        secret: str,
        actor: str,
        at: int,
    ) -> Webhook:
        def work(tx: TxT) -> Webhook:
            row = tx.one(
                "INSERT INTO webhooks (token, enterprise, feed, url, secret, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (token, enterprise, feed, url, secret, at),
            )
            if row is None:
                raise StoreError("INSERT INTO webhooks … RETURNING id returned no row")
            hook = Webhook(
                id=int(row[0]),
                token=token,
                enterprise=enterprise,
                feed=feed,
                url=url,
                secret=secret,
                created_at=at,
            )
            detail = {"id": hook.id, "feed": feed, "url": url, "token": token}
            self._audit(tx, at=at, actor=actor, action="webhook.create", detail=detail)
            return hook

        return self._write(work)

    def list_webhooks(self, *, token: int | None = None) -> list[Webhook]:
        sql = f"{_WEBHOOK} WHERE deleted_at IS NULL"
        params: list[Any] = []
        if token is not None:
            sql += " AND token = ?"
            params.append(token)
        return [_webhook(r) for r in self._read(lambda tx: tx.rows(sql + " ORDER BY id", params))]

    def delete_webhook(self, webhook_id: int, *, token: int | None, actor: str, at: int) -> None:
        def work(tx: TxT) -> None:
            sql = "UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL"
            params: list[Any] = [at, webhook_id]
            if token is not None:
                sql += " AND token = ?"
                params.append(token)
            if tx.run(sql, params) == 0:
                raise NotFoundError(f"no webhook {webhook_id}", kind="webhook", key=str(webhook_id))
            self._audit(tx, at=at, actor=actor, action="webhook.delete", detail={"id": webhook_id})

        self._write(work)

    def due_deliveries(self, *, now_ms: int, limit: int = 100) -> list[Delivery]:
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT o.id, o.attempts, o.next_at, o.last_error, w.id, w.token, w.enterprise,"
                " w.feed, w.url, w.secret, w.created_at, w.deleted_at, i.id, i.feed, i.key,"
                " i.kind, i.enterprise, i.parties, i.subject, i.at, i.added_at, i.body"
                " FROM webhook_outbox AS o JOIN webhooks AS w ON w.id = o.webhook"
                " JOIN feed_items AS i ON i.id = o.item"
                " WHERE o.delivered_at IS NULL AND o.next_at <= ? AND w.deleted_at IS NULL"
                " ORDER BY o.webhook, o.item LIMIT ?",
                (now_ms, limit),
            )
        )
        return [
            Delivery(
                id=int(r[0]),
                attempts=int(r[1]),
                next_at=int(r[2]),
                last_error=r[3],
                webhook=_webhook(r[4:12]),
                item=_item(r[12:22]),
            )
            for r in rows
        ]

    def finish_delivery(self, delivery_id: int, *, at: int) -> None:
        self._write(
            lambda tx: tx.run(
                "UPDATE webhook_outbox SET delivered_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE id = ? AND delivered_at IS NULL",
                (at, delivery_id),
            )
        )

    def retry_delivery(self, delivery_id: int, *, next_at: int, error: str) -> None:
        self._write(
            lambda tx: tx.run(
                "UPDATE webhook_outbox SET attempts = attempts + 1, next_at = ?, last_error = ?"
                " WHERE id = ? AND delivered_at IS NULL",
                (next_at, error[:500], delivery_id),
            )
        )

    def webhook_backlog(self) -> int:
        row = self._read(
            lambda tx: tx.one(
                "SELECT count(*) FROM webhook_outbox AS o JOIN webhooks AS w ON w.id = o.webhook"
                " WHERE o.delivered_at IS NULL AND w.deleted_at IS NULL"
            )
        )
        return 0 if row is None else int(row[0])


def _with_id(item: FeedItem, item_id: int, now_ms: int) -> FeedItem:
    return FeedItem(
        feed=item.feed,
        key=item.key,
        kind=item.kind,
        subject=item.subject,
        at=item.at,
        body=item.body,
        enterprise=item.enterprise,
        parties=item.parties,
        id=item_id,
        added_at=now_ms,
    )
