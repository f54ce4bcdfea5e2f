"""Decision rules: plate, ticket, legal gross, ticket maximum, tare — each a WIRE.md reason code.

Pure functions over values; the lane gathers the facts and writes what they return. A truck is
released only when every rule passes (``ok``); otherwise the record carries every failing code,
in the order the checks run, so an operator sees all that is wrong at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from edge.gate.config import LaneConfig
from wire.bundles import Bundle, BundleTicket, Vehicle
from wire.errors import PlateError, WireError
from wire.keys import KeySet
from wire.plates import normalize_plate
from wire.tickets import Ticket, decode_ticket, verify_ticket

#: What a weighing names as its plate when no read was good enough (never a guess).
UNKNOWN_PLATE: Final = "?"

#: Hold reasons an operator may override; the rest are about the ticket, the law or a device,
#: which no person at the gate may waive (overload is never released, WIRE.md / GB 1589).
OVERRIDABLE: Final = frozenset({"tare_deviation", "zero_not_ok"})

#: The heaviest vehicle GB 1589 allows at all (6+ axle combinations); the limit for a vehicle
#: the bundle does not describe.
MAX_LEGAL_GROSS_KG: Final = 49_000


def legal_gross_kg(vehicle: Vehicle | None) -> int:
    """The GB 1589 gross limit (PROTOCOLS.md §6) for ``vehicle``; 49 t when unknown."""
    if vehicle is None:
        return MAX_LEGAL_GROSS_KG
    combination = vehicle.kind == "combination"
    if vehicle.axles <= 2:
        return 18_000
    if vehicle.axles == 3:
        return 27_000 if combination else 25_000
    if vehicle.axles == 4:
        return 36_000 if combination else 31_000
    if vehicle.axles == 5:
        return 43_000
    return 46_000 if vehicle.single_drive else 49_000


# --- plate -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateSeen:
    """One camera read as the lane keeps it; ``plate`` None when it is not a valid plate."""

    text: str
    plate: str | None
    conf: int
    camera: str
    image_sha256: bytes | None
    at_ms: int

    @classmethod
    def read(
        cls, text: str, *, conf: int, camera: str, image_sha256: bytes | None, at_ms: int
    ) -> PlateSeen:
        try:
            plate: str | None = normalize_plate(text)
        except PlateError:
            plate = None
        return cls(
            text=text,
            plate=plate,
            conf=max(0, min(100, conf)),
            camera=camera,
            image_sha256=image_sha256,
            at_ms=at_ms,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who the truck is, or why that is not known (``reason``)."""

    plate: str | None
    conf: int
    source: Literal["camera", "manual"]
    reason: str | None


def identify(reads: Sequence[PlateSeen], *, manual: str | None, min_conf: int) -> Identity:
    """The plate from an operator's entry, else from the camera reads — never a guess.

    Low confidence, no valid read, or two confident reads naming different plates all give
    ``plate_low_confidence``: a person looks at the truck.
    """
    if manual is not None:
        try:
            return Identity(plate=normalize_plate(manual), conf=100, source="manual", reason=None)
        except PlateError:
            return Identity(plate=None, conf=0, source="manual", reason="plate_low_confidence")
    valid = [read for read in reads if read.plate is not None]
    if not valid:
        return Identity(plate=None, conf=0, source="camera", reason="plate_low_confidence")
    best = max(valid, key=lambda read: read.conf)
    confident = {read.plate for read in valid if read.conf >= min_conf}
    if best.conf < min_conf or len(confident) > 1:
        return Identity(plate=None, conf=best.conf, source="camera", reason="plate_low_confidence")
    return Identity(plate=best.plate, conf=best.conf, source="camera", reason=None)


# --- ticket ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketFacts:
    """What the ticket rules need to know about the lane and the moment."""

    site: str
    direction: Literal["out", "in"]
    keys: KeySet
    bundle: Bundle | None
    used: frozenset[bytes]
    now_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketVerdict:
    ticket: Ticket | None
    reason: str | None


def _listed(facts: TicketFacts, cti: bytes) -> BundleTicket | None:
    if facts.bundle is None:
        return None
    return next((e for e in facts.bundle.tickets if e.ticket.cti == cti), None)


def ticket_problem(
    raw: bytes, facts: TicketFacts, *, plate: str | None, loadable_at_ms: int | None = None
) -> str | None:
    """The reason code that stops ``raw`` (a ticket's COSE bytes) here, or None if it is good.

    Checks in order: signature under central's keys, revocation, this site, listed open in
    the bundle, not used, within its time (outbound: loaded before ``exp``, at
    ``loadable_at_ms`` when a first pass already started loading; inbound: ``loaded_at`` +
    ``transit_s``), and the plate.
    """
    try:
        ticket = verify_ticket(raw, facts.keys, now_s=None)
    except WireError:
        return "ticket_bad_signature"
    revoked = facts.bundle is not None and ticket.cti in facts.bundle.revoked
    if revoked:
        return "ticket_revoked"
    here = ticket.seller_site if facts.direction == "out" else ticket.dest_site
    if here != facts.site:
        return "ticket_wrong_site"
    entry = _listed(facts, ticket.cti)
    if entry is None:
        return "no_ticket"
    if ticket.cti in facts.used or (facts.direction == "out" and entry.state == "loaded"):
        return "ticket_used"
    if facts.direction == "out":
        at_ms = facts.now_ms if loadable_at_ms is None else loadable_at_ms
        if at_ms // 1000 >= ticket.exp:
            return "ticket_expired"
    else:
        if entry.state != "loaded" or entry.loaded_at is None:
            return "no_ticket"  # not loaded yet: nothing is in transit to arrive
        if facts.now_ms > entry.loaded_at + ticket.transit_s * 1000:
            return "ticket_expired"
    if plate is not None and ticket.plate != plate:
        return "plate_mismatch"
    return None


def pick_ticket(facts: TicketFacts, *, plate: str) -> TicketVerdict:
    """The ticket the gate uses for ``plate``: the valid one with the oldest ``iat``, then
    lowest ``cti`` (WIRE.md). With none valid, the oldest candidate's reason."""
    if facts.bundle is None:
        return TicketVerdict(ticket=None, reason="no_ticket")
    candidates = sorted(
        (e.ticket for e in facts.bundle.tickets if e.ticket.plate == plate),
        key=lambda t: (t.iat, t.cti),
    )
    first_problem: str | None = None
    for ticket in candidates:
        problem = ticket_problem(ticket.raw, facts, plate=plate)
        if problem is None:
            return TicketVerdict(ticket=ticket, reason=None)
        first_problem = first_problem or problem
    return TicketVerdict(ticket=None, reason=first_problem or "no_ticket")


def chosen_ticket(
    facts: TicketFacts, choice: bytes, *, plate: str | None, loadable_at_ms: int | None = None
) -> TicketVerdict:
    """An operator's choice: a 16-byte ``cti`` of the bundle, or a scanned ticket's bytes
    (also the ticket a first pass named, checked as loadable at ``loadable_at_ms``)."""
    if len(choice) == 16:
        entry = _listed(facts, choice)
        if entry is None:
            revoked = facts.bundle is not None and choice in facts.bundle.revoked
            return TicketVerdict(ticket=None, reason="ticket_revoked" if revoked else "no_ticket")
        choice = entry.ticket.raw
    problem = ticket_problem(choice, facts, plate=plate, loadable_at_ms=loadable_at_ms)
    if problem is not None:
        return TicketVerdict(ticket=None, reason=problem)
    return TicketVerdict(ticket=decode_ticket(choice), reason=None)


# --- weights -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstPass:
    """A first pass on a two-pass lane, waiting for the truck's second."""

    kg: int
    cti: bytes | None
    at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Weights:
    kind: Literal["first", "second", "single"]
    """The weighing's ``pass``."""
    gross_kg: int
    tare_kg: int | None
    net_kg: int | None
    tare_source: Literal["weighed", "stored"] | None
    reasons: tuple[str, ...]


def stored_tare(
    plate: str | None, vehicle: Vehicle | None, history: Mapping[str, int]
) -> int | None:
    """The truck's tare on record: the bundle's vehicle data, else this lane's last weighing."""
    if vehicle is not None and vehicle.tare_kg is not None:
        return vehicle.tare_kg
    return None if plate is None else history.get(plate)


def weigh(
    config: LaneConfig,
    kg: int,
    *,
    tare_on_record: int | None,
    first: FirstPass | None,
) -> Weights:
    """Gross, tare and net of this pass (WIRE.md weighing ``pass`` rules), with the tare rules.

    ``tare_deviation`` when a weighed tare is off the record by more than the tolerance, when a
    single pass has no tare on record, or when the tare exceeds the gross.
    """
    tolerance = config.tare_tolerance_kg

    def off(tare: int) -> bool:
        return tare_on_record is not None and abs(tare - tare_on_record) > tolerance

    if config.passes == "single":
        if tare_on_record is None:
            return Weights(
                kind="single",
                gross_kg=kg,
                tare_kg=None,
                net_kg=None,
                tare_source=None,
                reasons=("tare_deviation",),
            )
        net = kg - tare_on_record
        return Weights(
            kind="single",
            gross_kg=kg,
            tare_kg=tare_on_record,
            net_kg=net,
            tare_source="stored",
            reasons=("tare_deviation",) if net < 0 else (),
        )
    if config.direction == "out":
        if first is None:  # empty truck on its way to be loaded
            return Weights(
                kind="first",
                gross_kg=kg,
                tare_kg=kg,
                net_kg=None,
                tare_source="weighed",
                reasons=("tare_deviation",) if off(kg) else (),
            )
        net = kg - first.kg
        return Weights(
            kind="second",
            gross_kg=kg,
            tare_kg=first.kg,
            net_kg=net,
            tare_source="weighed",
            reasons=("tare_deviation",) if net < 0 else (),
        )
    if first is None:  # loaded truck arriving to unload
        return Weights(
            kind="first", gross_kg=kg, tare_kg=None, net_kg=None, tare_source=None, reasons=()
        )
    net = first.kg - kg
    return Weights(
        kind="second",
        gross_kg=first.kg,
        tare_kg=kg,
        net_kg=net,
        tare_source="weighed",
        reasons=("tare_deviation",) if off(kg) or net < 0 else (),
    )


def load_reasons(
    *, kg: int, overload: bool, vehicle: Vehicle | None, net_kg: int | None, ticket: Ticket | None
) -> tuple[str, ...]:
    """``overload_gross`` above the legal limit (or the indicator's overload), and
    ``over_ticket_max`` when the net exceeds the ticket's maximum."""
    reasons: list[str] = []
    if overload or kg > legal_gross_kg(vehicle):
        reasons.append("overload_gross")
    if net_kg is not None and ticket is not None and net_kg > ticket.max_net_kg:
        reasons.append("over_ticket_max")
    return tuple(reasons)


def ordered(reasons: Sequence[str]) -> tuple[str, ...]:
    """Reasons without repeats, in first-seen order; ``("ok",)`` when there are none."""
    unique = tuple(dict.fromkeys(reasons))
    return unique or ("ok",)
