"""What a lane remembers across restarts, rebuilt from the journal's own weighing records.

The gate core keeps used tickets, the trucks' tare history and the open first passes in memory
(``edge.gate.memory``); its records say everything needed to rebuild them: every weighing with
decision ``release`` is replayed in seq order the way ``Memory.remember`` took it. Pure apart
from reading the journal's entries; records that do not decode are skipped (they were written
by this device, so they do; a torn database is the journal's business).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from edge.gate.rules import FirstPass
from edge.journal.store import JournalEntry
from wire.bodies import WeighingBody
from wire.errors import WireError
from wire.records import decode_record


@dataclass(slots=True)
class LaneMemory:
    """The three parts ``edge.gate.lane.Lane`` takes at start."""

    used_tickets: set[bytes] = field(default_factory=set)
    tare_history: dict[str, int] = field(default_factory=dict)
    first_passes: dict[str, FirstPass] = field(default_factory=dict)

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
            used |= memory.used_tickets
    for memory in lanes.values():
        memory.used_tickets |= used
    return lanes
