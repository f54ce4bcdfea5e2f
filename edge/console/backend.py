"""What the operator console needs of the edge: ``ConsoleBackend`` and the views it returns.

The console (``edge.console.routes``) reads lanes, the uplink and the shift's weighings through
this protocol and hands operator inputs to it; it never touches a lane, the journal or a driver
itself. The runtime implements it over its lane runners, journal and uplink;
``edge.console.memory.MemoryBackend`` implements it over real ``edge.gate.Lane`` s in memory
(tests, demos).

Calls and threads: ``lanes``, ``link`` and ``bundle`` are called on the event loop and must
not block; ``weighings``, ``record`` and ``certificate`` may read the disk and are called on a
worker thread; ``submit`` is awaited on the loop and returns once the lane has taken the input.

Values are frozen dataclasses; weights are whole kg; times are the edge clock's UTC ms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, TypeAlias

from edge.gate.inputs import (
    AlarmAck,
    ChooseTicket,
    ClearIoFault,
    ManualPlate,
    Override,
    ZeroRequest,
)
from wire.bodies import WeighingBody
from wire.bundles import Bundle

#: What an operator may hand a lane; each carries the operator's id.
OperatorInput: TypeAlias = (
    ManualPlate | ChooseTicket | Override | ZeroRequest | AlarmAck | ClearIoFault
)

#: The lane core's fault sources (``Lane.faults``) as the reason codes the console shows.
FAULT_CODES: Final[Mapping[str, str]] = {
    "scale": "scale_fault",
    "silent": "scale_fault",
    "io": "io_fault",
    "journal": "journal_fault",
}
#: Shown while the lane has no verified site bundle: every ticket check fails without one.
NO_BUNDLE: Final = "no_bundle"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateView:
    """The plate the lane works with now: the latest camera read, or what an operator typed."""

    plate: str
    confidence: int
    source: Literal["camera", "manual"]
    camera: str | None
    at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WeighingView:
    """One weighing record (a decision) as the journal holds it."""

    seq: int
    at_ms: int
    lane: str
    direction: Literal["out", "in"]
    pass_: Literal["first", "second", "single"]
    decision: Literal["release", "hold"]
    reasons: tuple[str, ...]
    plate: str
    plate_conf: int
    plate_source: Literal["camera", "manual"]
    ticket: bytes | None
    gross_kg: int
    tare_kg: int | None
    net_kg: int | None
    operator: str | None

    @classmethod
    def of(cls, body: WeighingBody, *, seq: int, at_ms: int) -> WeighingView:
        """The view of a signed weighing body (record ``seq``, signed at ``at_ms``)."""
        return cls(
            seq=seq,
            at_ms=at_ms,
            lane=body.lane,
            direction=body.direction,
            pass_=body.pass_,
            decision=body.decision,
            reasons=tuple(body.reasons),
            plate=body.plate,
            plate_conf=body.plate_conf,
            plate_source=body.plate_source,
            ticket=body.ticket,
            gross_kg=body.gross_kg,
            tare_kg=body.tare_kg,
            net_kg=body.net_kg,
            operator=body.operator,
        )

    @property
    def receipt_possible(self) -> bool:
        """Whether a driver's receipt can be made of it (WIRE.md "Receipt")."""
        return (
            self.direction == "out"
            and self.decision == "release"
            and self.ticket is not None
            and self.net_kg is not None
            and self.net_kg > 0
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmView:
    """An alarm or warning event the lane wrote (``record_id`` is what ``AlarmAck.ref`` names)."""

    seq: int
    at_ms: int
    record_id: bytes
    kind: str
    severity: Literal["info", "warning", "alarm"]
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SayLine:
    """A line the lane said (a ``Say`` output) at ``at_ms``."""

    at_ms: int
    text_zh: str
    text_en: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneView:
    """One lane as the operator sees it.

    ``barrier_up`` is what the core commands; ``barrier_seen_up`` the limit switch (None: not
    read yet). ``red``/``green`` are the lights as the IO module last reported them (None: not
    known). ``held_because`` says why the barrier stays down, as reason codes (``why_held``).
    ``decisions`` (newest first) are the lane's latest weighings; ``alarms`` (newest first) its
    alarms and warnings not yet acknowledged; ``said`` (newest first) its latest display lines.
    """

    lane: str
    direction: Literal["out", "in"]
    state: str
    weight_kg: int | None
    stable: bool | None
    plate: PlateView | None
    ticket: bytes | None
    red: bool | None
    green: bool | None
    barrier_up: bool
    barrier_seen_up: bool | None
    faults: Mapping[str, str]
    held_because: tuple[str, ...]
    decisions: tuple[WeighingView, ...]
    alarms: tuple[AlarmView, ...]
    said: tuple[SayLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkView:
    """The edge clock (``now_ms``) and the uplink: connected, what central has acked, when."""

    now_ms: int
    connected: bool
    backlog: int
    highest_seq: int
    acked_seq: int
    last_ack_ms: int | None
    bundle_version: int | None
    rejected: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a lane did with an operator's input: its state after, and what it said then.
    ``refused`` says why the lane was not given the input at all (the console answers 409):
    a ``ClearIoFault`` without a command fault to clear."""

    state: str
    said: tuple[SayLine, ...]
    refused: str | None = None


class ConsoleBackend(Protocol):
    """The edge as the console sees it; see the module docstring for threads."""

    @property
    def site(self) -> str: ...

    @property
    def device(self) -> str: ...

    def lanes(self) -> Sequence[LaneView]:
        """Every lane, in the site file's order."""
        ...

    def link(self) -> LinkView: ...

    def bundle(self) -> Bundle | None:
        """The verified site bundle the lanes hold (tickets an operator may choose from)."""
        ...

    def weighings(self, *, since_ms: int, limit: int) -> Sequence[WeighingView]:
        """Weighing records signed at or after ``since_ms``, newest first, at most ``limit``."""
        ...

    def record(self, seq: int) -> bytes | None:
        """The COSE bytes of journal record ``seq`` (None: not held)."""
        ...

    def certificate(self) -> bytes | None:
        """This device's certificate (COSE bytes, as enrollment wrote it); None: not enrolled."""
        ...

    async def submit(self, lane: str, item: OperatorInput) -> Outcome:
        """Feed ``item`` to ``lane`` (one of ``lanes()``) through the lane's input queue and
        return once the lane has stepped with it: its state then, and the ``Say`` outputs of
        that step (a refused override or zero says so there, and the console shows it)."""
        ...


def why_held(
    *,
    state: str,
    faults: Mapping[str, str],
    last: WeighingView | None,
    bundle: bool,
) -> tuple[str, ...]:
    """Why the barrier stays down, as reason codes: the faults in ``fault``, the last
    decision's reasons in ``held``, and ``no_bundle`` while the lane has no site bundle."""
    codes: list[str] = []
    if faults:
        codes += [FAULT_CODES.get(source, f"{source}_fault") for source in faults]
    if state == "held" and last is not None and last.decision == "hold":
        codes += list(last.reasons)
    if not bundle:
        codes.append(NO_BUNDLE)
    return tuple(dict.fromkeys(codes))


def weighing_views(
    entries: Sequence[tuple[int, int, WeighingBody]], *, since_ms: int, limit: int
) -> list[WeighingView]:
    """``ConsoleBackend.weighings`` from ``(seq, ts, body)`` triples in any order."""
    chosen = sorted((e for e in entries if e[1] >= since_ms), key=lambda e: e[0], reverse=True)
    return [WeighingView.of(body, seq=seq, at_ms=ts) for seq, ts, body in chosen[:limit]]
