"""The ticket lifecycle of WIRE.md "E-ticket", as one table. Pure: tickets and events in, the
changed ticket and the alarms to raise out; the store applies the result in the transaction
that stored the weighing (so an effect is never lost nor applied twice).

Events are released weighings that name the ticket (``decision`` ``release`` and a net), the
sweep (a clock), and revocation:

============================  =========================  ===================================
event                         from                       to
============================  =========================  ===================================
outbound at seller_site       issued, expired            loaded (source net, loaded_at)
outbound at seller_site       arrived (inbound first)    closed (reconciled)
outbound at seller_site       loaded, closed, + source   unchanged, flag ``double_load``
inbound at dest_site          issued, expired, loaded    arrived, then closed at once when
                                                         the source net is known
inbound at dest_site          arrived, closed            unchanged (the first arrival counts)
any weighing, another site    any                        unchanged, flag ``wrong_site``
sweep, now ≥ exp              issued                     expired (quota released)
sweep, now > loaded_at+transit loaded                     unchanged, flag ``overdue``
revoke                        issued                     revoked (quota released)
revoke                        loaded                     revoked (quota stays settled: the
                                                         coal has left)
============================  =========================  ===================================

An inbound weighing may reach central before the outbound one (two edges, each uploading when
its link allows), hence ``arrived`` without a source net, closed when the outbound record
comes. ``expired`` is decided by central's sweep, but a gate that loaded in time while offline
uploads later: its record moves the ticket on, because the coal did leave. A revoked ticket is
not moved by weighings (the gate refuses it; a record naming it stays as evidence).

Flags are set once and each raises the central alarm of WIRE.md once: ``overdue`` →
``ticket_overdue``, ``discrepancy``, ``double_load``, ``wrong_site``. ``overdue`` is also set
at arrival when the arrival came later than ``loaded_at + transit_s`` and no sweep caught it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from central.errors import TicketStateError
from central.store.model import Alarm, Severity, StoredTicket, TicketFlag
from central.ticketing.policy import DEFAULT_TOLERANCE, Tolerance

FLAG_ALARMS: Mapping[TicketFlag, tuple[str, Severity]] = {
    "overdue": ("ticket_overdue", "warning"),
    "discrepancy": ("discrepancy", "warning"),
    "double_load": ("double_load", "alarm"),
    "wrong_site": ("wrong_site", "alarm"),
}
OPEN_STATES = ("issued", "loaded")
"""The states a bundle carries (WIRE.md "Site bundle")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Weighed:
    """A newly stored weighing record that names a ticket."""

    record_id: bytes
    device: str
    site: str
    direction: Literal["out", "in"]
    decision: Literal["release", "hold"]
    net_kg: int | None
    ts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    ticket: StoredTicket
    alarms: tuple[Alarm, ...] = ()


def _flag(
    ticket: StoredTicket,
    flag: TicketFlag,
    *,
    now_ms: int,
    detail: dict[str, object],
    weighed: Weighed | None = None,
) -> Outcome:
    """Set ``flag`` and raise its alarm, unless it is set already (then nothing happens)."""
    if flag in ticket.flags:
        return Outcome(ticket=ticket)
    kind, severity = FLAG_ALARMS[flag]
    alarm = Alarm(
        kind=kind,
        severity=severity,
        raised_at=now_ms,
        device=weighed.device if weighed else None,
        site=weighed.site if weighed else ticket.seller_site,
        detail={"cti": ticket.id, "no": ticket.no, "plate": ticket.plate, **detail},
        ref=weighed.record_id if weighed else None,
    )
    return Outcome(ticket=dataclasses.replace(ticket, flags=ticket.flags | {flag}), alarms=(alarm,))


def _then(first: Outcome, second: Outcome) -> Outcome:
    return Outcome(ticket=second.ticket, alarms=first.alarms + second.alarms)


def _reconcile(
    ticket: StoredTicket, *, source: int, dest: int, now_ms: int, tolerance: Tolerance
) -> Outcome:
    """Both nets are known (``source``, ``dest``): close, flagging a late arrival and a
    discrepancy."""
    outcome = Outcome(ticket=dataclasses.replace(ticket, state="closed", closed_at=now_ms))
    if (
        ticket.loaded_at is not None
        and ticket.arrived_at is not None
        and ticket.arrived_at - ticket.loaded_at > ticket.transit_s * 1000
    ):
        late = _flag(
            outcome.ticket,
            "overdue",
            now_ms=now_ms,
            detail={"loaded_at": ticket.loaded_at, "arrived_at": ticket.arrived_at},
        )
        outcome = _then(outcome, late)
    if tolerance.exceeded(source, dest):
        off = _flag(
            outcome.ticket,
            "discrepancy",
            now_ms=now_ms,
            detail={
                "source_net_kg": source,
                "dest_net_kg": dest,
                "allowed_kg": tolerance.allowed_kg(source),
            },
        )
        outcome = _then(outcome, off)
    return outcome


def on_weighing(
    ticket: StoredTicket,
    weighed: Weighed,
    *,
    now_ms: int,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
) -> Outcome:
    """Apply one newly stored weighing that names ``ticket`` (see the module's table)."""
    if weighed.site not in (ticket.seller_site, ticket.dest_site):
        return _flag(
            ticket,
            "wrong_site",
            now_ms=now_ms,
            weighed=weighed,
            detail={"at": weighed.site, "direction": weighed.direction},
        )
    if weighed.decision != "release" or weighed.net_kg is None or ticket.state == "revoked":
        return Outcome(ticket=ticket)
    if weighed.direction == "out" and weighed.site == ticket.seller_site:
        if ticket.source_net_kg is not None:
            return _flag(
                ticket,
                "double_load",
                now_ms=now_ms,
                weighed=weighed,
                detail={"first": ticket.loaded_record.hex() if ticket.loaded_record else None},
            )
        loaded = dataclasses.replace(
            ticket,
            state="loaded",
            source_net_kg=weighed.net_kg,
            loaded_at=weighed.ts,
            loaded_record=weighed.record_id,
            quota_kg=weighed.net_kg,  # settled at the loaded net
        )
        if loaded.dest_net_kg is not None:
            return _reconcile(
                loaded,
                source=weighed.net_kg,
                dest=loaded.dest_net_kg,
                now_ms=now_ms,
                tolerance=tolerance,
            )
        return Outcome(ticket=loaded)
    if weighed.direction == "in" and weighed.site == ticket.dest_site:
        if ticket.dest_net_kg is not None:
            return Outcome(ticket=ticket)
        arrived = dataclasses.replace(
            ticket,
            state="arrived",
            dest_net_kg=weighed.net_kg,
            arrived_at=weighed.ts,
            arrived_record=weighed.record_id,
        )
        if arrived.source_net_kg is not None:
            return _reconcile(
                arrived,
                source=arrived.source_net_kg,
                dest=weighed.net_kg,
                now_ms=now_ms,
                tolerance=tolerance,
            )
        return Outcome(ticket=arrived)
    return Outcome(ticket=ticket)  # outbound at the destination, inbound at the seller


def on_sweep(ticket: StoredTicket, *, now_ms: int) -> Outcome:
    """Expire an issued ticket past its loading deadline; flag a loaded one past its transit
    time. ``now_ms`` is central's clock."""
    if ticket.state == "issued" and now_ms >= ticket.exp * 1000:
        expired = dataclasses.replace(ticket, state="expired", expired_at=now_ms, quota_kg=0)
        return Outcome(ticket=expired)
    if (
        ticket.state == "loaded"
        and ticket.loaded_at is not None
        and now_ms > ticket.loaded_at + ticket.transit_s * 1000
    ):
        return _flag(
            ticket,
            "overdue",
            now_ms=now_ms,
            detail={"loaded_at": ticket.loaded_at, "transit_s": ticket.transit_s},
        )
    return Outcome(ticket=ticket)


def sweep_due(ticket: StoredTicket, *, now_ms: int) -> bool:
    """Whether :func:`on_sweep` would change ``ticket`` (the store selects with the same test)."""
    return on_sweep(ticket, now_ms=now_ms).ticket != ticket


def revoke(ticket: StoredTicket, *, at: int) -> StoredTicket:
    """Revoke an issued or loaded ticket; ``TicketStateError`` in any other state."""
    if ticket.state not in OPEN_STATES:
        raise TicketStateError(
            f"ticket {ticket.no} is {ticket.state}; only issued or loaded tickets can be revoked",
            cti=ticket.id,
            state=ticket.state,
        )
    quota = 0 if ticket.state == "issued" else ticket.quota_kg
    return dataclasses.replace(ticket, state="revoked", revoked_at=at, quota_kg=quota)


def concerned_sites(ticket: StoredTicket) -> frozenset[str]:
    """The sites whose bundles carry (or carried) ``ticket``."""
    return frozenset({ticket.seller_site, ticket.dest_site})
