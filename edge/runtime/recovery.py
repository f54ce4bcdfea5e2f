"""What a lane remembers across restarts, rebuilt from the journal's own weighing records.

The gate core keeps used tickets, the trucks' tare history and the open first passes in memory
(``edge.gate.memory``); its records say everything needed to rebuild them: every weighing with
decision ``release`` is replayed in seq order the way ``Memory.remember`` took it. A release
whose barrier did not rise is *stranded*: an ``io_fault`` event names it (``ref``, detail
``barrier`` ``not_raised``) and neither a ``release_retry`` nor a ``release_left`` naming it
nor another release of the lane follows (a hold may: the truck itself, weighed again with no
plate read after a restart); its truck may still stand on the deck (``Lane(stranded=…)``
checks that it does). Pure apart from reading the journal's entries; records that do not
decode are skipped (they were written by this device, so they do; a torn database is the
journal's business).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from edge.gate.memory import StrandedRelease
from edge.gate.rules import FirstPass
from edge.journal.store import JournalEntry
from wire.bodies import EventBody, WeighingBody
from wire.errors import WireError
from wire.records import decode_record


@dataclass(slots=True)
class LaneMemory:
    """What ``edge.gate.lane.Lane`` takes at start (used tickets, tares, first passes, the
    stranded release) and ``last_release``, the record id of the lane's last releasing weighing
    (the only release a ``release_retry`` may name: ``OutputExecutor``)."""

    used_tickets: set[bytes] = field(default_factory=set)
    tare_history: dict[str, int] = field(default_factory=dict)
    first_passes: dict[str, FirstPass] = field(default_factory=dict)
    last_release: bytes | None = None
    stranded: StrandedRelease | None = None
    _release: WeighingBody | None = None

    def decided(self, body: WeighingBody, *, record_id: bytes) -> None:
        """A weighing of the lane: a new release is the one a retry may name; a hold is not."""
        if body.decision == "release":
            self.last_release = record_id
            self._release = body
            self.stranded = None

    def event(self, body: EventBody) -> None:
        """An event of the lane: one naming its last release strands it or raises it again."""
        release = self._release
        if release is None or body.ref is None or body.ref != self.last_release:
            return
        if body.kind in ("release_retry", "release_left"):
            self.stranded = None
        elif (
            body.kind == "io_fault"
            and body.detail.get("active") is True
            and body.detail.get("barrier") == "not_raised"
        ):
            inbound_second = release.direction == "in" and release.pass_ == "second"  # noqa: S105
            kg = release.tare_kg if inbound_second else release.gross_kg
            self.stranded = StrandedRelease(
                plate=release.plate,
                ticket=release.ticket,
                kg=release.gross_kg if kg is None else kg,
                reasons=tuple(release.reasons),
            )

    def replay(self, body: WeighingBody, *, ts_ms: int) -> None:
        """One released weighing, as ``Memory.remember`` took it."""
        if body.decision != "release":
            return
        if body.pass_ == "first":  # noqa: S105  # a weighing pass, not a password
            kg = body.tare_kg if body.direction == "out" else body.gross_kg
            self.first_passes[body.plate] = FirstPass(kg=kg or 0, cti=body.ticket, at_ms=ts_ms)
        else:
            self.first_passes.pop(body.plate, None)
            if body.ticket is not None:
                self.used_tickets.add(body.ticket)
        if body.tare_source == "weighed" and body.tare_kg is not None:
            self.tare_history[body.plate] = body.tare_kg


def rebuild(entries: Iterable[JournalEntry]) -> dict[str, LaneMemory]:
    """Lane id → its memory, from ``entries`` in seq order. A ticket used at one lane is used
    at all of them: every lane gets every used ticket."""
    lanes: dict[str, LaneMemory] = {}
    used: set[bytes] = set()
    for entry in entries:
        try:
            record = decode_record(entry.data)
        except WireError:
            continue
        body = record.body
        if isinstance(body, WeighingBody):
            memory = lanes.setdefault(body.lane, LaneMemory())
            memory.replay(body, ts_ms=record.ts)
            memory.decided(body, record_id=entry.record_id)
            used |= memory.used_tickets
        elif isinstance(body, EventBody) and body.lane in lanes:
            lanes[body.lane].event(body)
    for memory in lanes.values():
        memory.used_tickets |= used
    return lanes
