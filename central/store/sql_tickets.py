"""The ticket half of the portable store: issue within quota, revoke, sweep, the ledger, site
bundles' contents, and the transitions ingest applies in its own transaction.

The rules themselves are pure (:mod:`central.ticketing.lifecycle`); this module loads the
tickets concerned, locked, applies the rules and writes the result back.

Locks (PostgreSQL; SQLite's single writer needs none): issuing locks its enterprise's row
(``SELECT … FOR UPDATE``), so two issues for one enterprise run one after the other and the
second sees the first's reservation: quota cannot be over-issued. Ticket rows are locked
``FOR UPDATE`` in ascending cti order by ingest, sweep and revocation, after the device locks
and before the alarm lock (see :mod:`central.store.sql_base`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from central.errors import ConflictError, NotFoundError, QuotaExceededError
from central.store.model import (
    TICKET_FLAGS,
    Alarm,
    BundleContents,
    IncomingRecord,
    StoredTicket,
    TicketFlag,
    TicketSweep,
)
from central.store.sql_base import Row, SqlBase, TxT
from central.store.sql_registry import _VEHICLE, _vehicle
from central.ticketing import lifecycle
from central.ticketing.policy import Tolerance

_COLUMNS = (
    "cti", "no", "raw", "seller", "buyer", "seller_site", "dest_site", "plate", "coal",
    "max_net_kg", "iat", "exp", "transit_s", "issued_at", "quota_period", "quota_kg", "state",
    "flags", "source_net_kg", "loaded_at", "loaded_record", "dest_net_kg", "arrived_at",
    "arrived_record", "closed_at", "revoked_at", "expired_at",
)  # fmt: skip
_MUTABLE = _COLUMNS[15:]  # quota_kg onwards: what transitions change
# Built from the constant column names above, never from input.
_TICKET = f"SELECT {', '.join(_COLUMNS)} FROM tickets"  # noqa: S608
_INSERT = f"INSERT INTO tickets ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
_UPDATE = f"UPDATE tickets SET {', '.join(f'{c} = ?' for c in _MUTABLE)} WHERE cti = ?"  # noqa: S608


def _flags_text(flags: Iterable[TicketFlag]) -> str:
    return ",".join(sorted(flags))


def _flags(text: str) -> frozenset[TicketFlag]:
    return frozenset(f for f in TICKET_FLAGS if f in text.split(","))


def _ticket(row: Row) -> StoredTicket:
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in ("cti", "raw", "loaded_record", "arrived_record"):
        if values[name] is not None:
            values[name] = bytes(values[name])
    values["flags"] = _flags(values["flags"])
    return StoredTicket(**values)


def _params(ticket: StoredTicket, columns: Sequence[str]) -> list[Any]:
    values = [getattr(ticket, name) for name in columns]
    return [
        _flags_text(v) if name == "flags" else v for name, v in zip(columns, values, strict=True)
    ]


class TicketSql(SqlBase[TxT]):
    """Ticket methods of :class:`~central.store.base.Store`."""

    def _for_update(self) -> str:
        """The row-lock clause of a SELECT (PostgreSQL); SQLite locks the whole file."""
        return ""

    # --- issue, revoke, read ---------------------------------------------------------------
    def issue_ticket(
        self, value: StoredTicket, *, limit_kg: int, actor: str, at: int
    ) -> StoredTicket:
        def work(tx: TxT) -> StoredTicket:
            locked = tx.one(
                "SELECT id FROM enterprises WHERE id = ?" + self._for_update(),  # noqa: S608 - a constant
                (value.seller,),
            )
            if locked is None:
                raise NotFoundError(
                    f"no enterprise {value.seller!r}", kind="enterprise", key=value.seller
                )
            used = self._quota_used(tx, value.seller, value.quota_period)
            if used + value.quota_kg > limit_kg:
                raise QuotaExceededError(
                    f"enterprise {value.seller} has {max(limit_kg - used, 0)} kg of quota left in "
                    f"{value.quota_period} (limit {limit_kg} kg, {used} kg reserved or used); "
                    f"the ticket asks for {value.quota_kg} kg",
                    enterprise=value.seller,
                    period=value.quota_period,
                    limit_kg=limit_kg,
                    used_kg=used,
                )
            for column, key, shown in (("cti", value.cti, value.id), ("no", value.no, value.no)):
                sql = (
                    "SELECT 1 FROM tickets WHERE cti = ?"
                    if column == "cti"
                    else ("SELECT 1 FROM tickets WHERE no = ?")
                )
                if tx.one(sql, (key,)) is not None:
                    raise ConflictError(
                        f"ticket {column} {shown} exists already", kind="ticket", key=shown
                    )
            tx.run(_INSERT, _params(value, _COLUMNS))
            detail = {
                "cti": value.id, "no": value.no, "seller": value.seller,
                "seller_site": value.seller_site, "dest_site": value.dest_site,
                "plate": value.plate, "max_net_kg": value.max_net_kg,
                "quota_period": value.quota_period, "quota_used_kg": used + value.quota_kg,
                "quota_limit_kg": limit_kg,
            }  # fmt: skip
            self._audit(tx, at=at, actor=actor, action="ticket.issue", detail=detail)
            return value

        return self._write(work)

    def _quota_used(self, tx: TxT, enterprise: str, period: str) -> int:
        row = tx.one(
            "SELECT coalesce(sum(quota_kg), 0) FROM tickets WHERE seller = ? AND quota_period = ?",
            (enterprise, period),
        )
        return 0 if row is None else int(row[0])

    def quota_used(self, enterprise: str, period: str) -> int:
        return self._read(lambda tx: self._quota_used(tx, enterprise, period))

    def get_ticket(self, cti: bytes) -> StoredTicket:
        row = self._read(lambda tx: tx.one(f"{_TICKET} WHERE cti = ?", (cti,)))
        if row is None:
            raise NotFoundError(f"no ticket {cti.hex()}", kind="ticket", key=cti.hex())
        return _ticket(row)

    def list_tickets(
        self,
        *,
        state: str | None = None,
        enterprise: str | None = None,
        site: str | None = None,
        limit: int = 1000,
    ) -> list[StoredTicket]:
        sql = f"{_TICKET} WHERE 1 = 1"
        params: list[Any] = []
        if state is not None:
            sql += " AND state = ?"
            params.append(state)
        if enterprise is not None:
            sql += " AND (seller = ? OR buyer = ?)"
            params += [enterprise, enterprise]
        if site is not None:
            sql += " AND (seller_site = ? OR dest_site = ?)"
            params += [site, site]
        sql += " ORDER BY issued_at, cti LIMIT ?"
        params.append(limit)
        return [_ticket(r) for r in self._read(lambda tx: tx.rows(sql, params))]

    def revoke_ticket(self, cti: bytes, *, actor: str, at: int) -> StoredTicket:
        def work(tx: TxT) -> StoredTicket:
            found = self._lock_tickets(tx, [cti])
            if not found:
                raise NotFoundError(f"no ticket {cti.hex()}", kind="ticket", key=cti.hex())
            ticket = found[0]
            revoked = lifecycle.revoke(ticket, at=at)
            self._update_ticket(tx, revoked)
            detail = {
                "cti": ticket.id,
                "no": ticket.no,
                "was": ticket.state,
                "quota_kg": revoked.quota_kg,
            }
            self._audit(tx, at=at, actor=actor, action="ticket.revoke", detail=detail)
            return revoked

        return self._write(work)

    def _lock_tickets(self, tx: TxT, ctis: Iterable[bytes]) -> list[StoredTicket]:
        """Read (and on PostgreSQL lock) the tickets that exist among ``ctis``, in cti order."""
        found: list[StoredTicket] = []
        for cti in sorted(set(ctis)):
            row = tx.one(f"{_TICKET} WHERE cti = ?{self._for_update()}", (cti,))
            if row is not None:
                found.append(_ticket(row))
        return found

    def _update_ticket(self, tx: TxT, ticket: StoredTicket) -> None:
        tx.run(_UPDATE, [*_params(ticket, _MUTABLE), ticket.cti])

    # --- sweep ------------------------------------------------------------------------------
    def sweep_tickets(self, *, now_ms: int) -> TicketSweep:
        def work(tx: TxT) -> TicketSweep:
            candidates = tx.rows(
                "SELECT cti FROM tickets WHERE (state = 'issued' AND exp * 1000 <= ?)"
                " OR (state = 'loaded' AND loaded_at + transit_s * 1000 < ?"
                " AND flags NOT LIKE ?) ORDER BY cti",
                (now_ms, now_ms, "%overdue%"),
            )
            changed: list[StoredTicket] = []
            alarms: list[Alarm] = []
            for ticket in self._lock_tickets(tx, [bytes(r[0]) for r in candidates]):
                outcome = lifecycle.on_sweep(ticket, now_ms=now_ms)
                if outcome.ticket != ticket:
                    self._update_ticket(tx, outcome.ticket)
                    changed.append(outcome.ticket)
                    alarms.extend(outcome.alarms)
            return TicketSweep(
                changed=tuple(changed), alarms=tuple(self._insert_alarms(tx, alarms))
            )

        return self._write(work)

    # --- ingest -----------------------------------------------------------------------------
    def _apply_tickets(
        self, tx: TxT, inserted: Sequence[IncomingRecord], *, now_ms: int, tolerance: Tolerance
    ) -> tuple[list[Alarm], frozenset[str]]:
        """Move the tickets that newly stored weighings name; return the alarms to raise and
        the sites whose bundles changed. Runs inside the ingest transaction."""
        events = [
            (r.weighing.ticket, lifecycle.Weighed(
                record_id=r.record_id, device=r.device, site=r.site,
                direction=r.weighing.direction, decision=r.weighing.decision,
                net_kg=r.weighing.net_kg, ts=r.ts,
            ))
            for r in inserted
            if r.weighing is not None and r.weighing.ticket is not None
        ]  # fmt: skip
        if not events:
            return [], frozenset()
        tickets = {t.cti: t for t in self._lock_tickets(tx, [cti for cti, _ in events])}
        before = dict(tickets)
        alarms: list[Alarm] = []
        for cti, weighed in events:  # in batch order: an outbound and an inbound may share one
            ticket = tickets.get(cti)
            if ticket is None:
                continue  # not issued here: the gate's signature check refuses such tickets
            outcome = lifecycle.on_weighing(ticket, weighed, now_ms=now_ms, tolerance=tolerance)
            tickets[cti] = outcome.ticket
            alarms.extend(outcome.alarms)
        sites: set[str] = set()
        for cti, ticket in sorted(tickets.items()):
            if ticket != before[cti]:
                self._update_ticket(tx, ticket)
                if (ticket.state, ticket.source_net_kg) != (
                    before[cti].state,
                    before[cti].source_net_kg,
                ):
                    sites |= lifecycle.concerned_sites(ticket)
        return alarms, frozenset(sites)

    # --- bundles ----------------------------------------------------------------------------
    def bundle_contents(self, site: str, *, now_ms: int) -> BundleContents:
        def work(tx: TxT) -> BundleContents:
            if tx.one("SELECT 1 FROM sites WHERE id = ?", (site,)) is None:
                raise NotFoundError(f"no site {site!r}", kind="site", key=site)
            row = tx.one(
                "INSERT INTO bundle_versions (site, version) VALUES (?, 1)"
                " ON CONFLICT (site) DO UPDATE SET version = bundle_versions.version + 1"
                " RETURNING version",
                (site,),
            )
            version = 1 if row is None else int(row[0])
            open_rows = tx.rows(
                f"{_TICKET} WHERE (seller_site = ? OR dest_site = ?)"
                " AND state IN ('issued', 'loaded') ORDER BY iat, cti",
                (site, site),
            )
            # Revoked tickets a gate could still be shown: not yet past their loading deadline,
            # or loaded and still within their transit time.
            revoked = tx.rows(
                "SELECT cti FROM tickets WHERE (seller_site = ? OR dest_site = ?)"
                " AND state = 'revoked' AND (exp * 1000 > ?"
                " OR (loaded_at IS NOT NULL AND loaded_at + transit_s * 1000 > ?)) ORDER BY cti",
                (site, site, now_ms, now_ms),
            )
            vehicles = tx.rows(f"{_VEHICLE} ORDER BY plate")
            return BundleContents(
                site=site,
                version=version,
                tickets=tuple(_ticket(r) for r in open_rows),
                revoked=tuple(bytes(r[0]) for r in revoked),
                vehicles=tuple(_vehicle(r) for r in vehicles),
            )

        return self._write(work)

    def bundle_version(self, site: str) -> int:
        row = self._read(
            lambda tx: tx.one("SELECT version FROM bundle_versions WHERE site = ?", (site,))
        )
        return 0 if row is None else int(row[0])
