"""One decision from the facts of a session: identity, ticket, weights and the verdict.

Pure: the lane gathers the facts (its session, bundle, history, time) and writes the records
this returns the content of. ``release`` only when every rule passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from edge.gate import rules
from edge.gate.config import LaneConfig
from edge.gate.outputs import UNRESOLVED_REF
from edge.gate.rules import FirstPass, PlateSeen, TicketFacts
from wire.bodies import WeighingBody
from wire.tickets import Ticket


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    release: bool
    reasons: tuple[str, ...]
    plate: str | None
    plate_conf: int
    plate_source: Literal["camera", "manual"]
    ticket: Ticket | None
    weights: rules.Weights
    axles: int | None
    operator: str | None

    def body(self, config: LaneConfig) -> WeighingBody:
        """The weighing body; its ``evidence`` is resolved by the executor (``ref_previous``)."""
        weights = self.weights
        return WeighingBody(
            lane=config.lane,
            direction=config.direction,
            pass_=weights.kind,
            plate=self.plate or rules.UNKNOWN_PLATE,
            plate_conf=self.plate_conf,
            plate_source=self.plate_source,
            ticket=None if self.ticket is None else self.ticket.cti,
            gross_kg=weights.gross_kg,
            tare_kg=weights.tare_kg,
            net_kg=weights.net_kg,
            tare_source=weights.tare_source,
            axles=self.axles,
            decision="release" if self.release else "hold",
            reasons=self.reasons,
            evidence=UNRESOLVED_REF,
            operator=self.operator,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionFacts:
    """What a session knows when the lane decides."""

    kg: int
    overload: bool
    zero_ok: bool
    reads: Sequence[PlateSeen]
    manual_plate: str | None
    chosen_ticket: bytes | None
    operator: str | None


def decide(
    config: LaneConfig,
    session: SessionFacts,
    tickets: TicketFacts,
    *,
    history: Mapping[str, int],
    first_passes: Mapping[str, FirstPass],
    extra: Sequence[str] = (),
) -> Decision:
    """Run every rule; ``extra`` are reasons the lane already knows (unstable, faults, …)."""
    identity = rules.identify(
        session.reads, manual=session.manual_plate, min_conf=config.min_plate_conf
    )
    plate = identity.plate
    bundle = tickets.bundle
    vehicle = None if plate is None or bundle is None else bundle.vehicles.get(plate)
    first = None
    if config.passes == "two" and plate is not None:
        first = first_passes.get(plate)
        if first is not None and tickets.now_ms - first.at_ms > config.first_pass_valid_ms:
            first = None
    verdict = rules.TicketVerdict(ticket=None, reason=None)
    if plate is not None:
        if session.chosen_ticket is not None:
            verdict = rules.chosen_ticket(tickets, session.chosen_ticket, plate=plate)
        elif first is not None and first.cti is not None:
            verdict = rules.chosen_ticket(
                tickets, first.cti, plate=plate, loadable_at_ms=first.at_ms
            )
        else:
            verdict = rules.pick_ticket(tickets, plate=plate)
    weights = rules.weigh(
        config,
        session.kg,
        tare_on_record=rules.stored_tare(plate, vehicle, history),
        first=first,
    )
    reasons = [
        *extra,
        *rules.load_reasons(
            kg=session.kg,
            overload=session.overload,
            vehicle=vehicle,
            net_kg=weights.net_kg,
            ticket=verdict.ticket,
        ),
        *([] if session.zero_ok else ["zero_not_ok"]),
        *([identity.reason] if identity.reason else []),
        *([verdict.reason] if verdict.reason else []),
        # An unknown truck has no tare on record; its identity is the reason, not its tare.
        *(weights.reasons if plate is not None else ()),
    ]
    final = rules.ordered(reasons)
    return Decision(
        release=final == ("ok",),
        reasons=final,
        plate=plate,
        plate_conf=identity.conf,
        plate_source=identity.source,
        ticket=verdict.ticket,
        weights=weights,
        axles=None if vehicle is None else vehicle.axles,
        operator=session.operator,
    )
