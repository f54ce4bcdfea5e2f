"""What a lane remembers from truck to truck: used tickets, tares, open first passes.

The adapter rebuilds it at start from its journal (``Lane``'s constructor takes the three
parts). A release changes it; a release whose records could not be written is undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from edge.gate.decision import Decision
from edge.gate.rules import FirstPass


@dataclass(frozen=True, slots=True, kw_only=True)
class StrandedRelease:
    """A release in the journal whose barrier did not rise: an ``io_fault`` event names it
    (``barrier`` ``not_raised``) and nothing after it says the barrier was raised again or
    another truck was weighed. Its truck may still stand on the deck when the edge starts.

    ``kg`` is what the scale read for it (the gross; the tare of an inbound second pass)."""

    plate: str
    ticket: bytes | None
    kg: int
    reasons: tuple[str, ...]


@dataclass(slots=True)
class Memory:
    """``used`` may be shared: the lanes of one site pass the same set, so that a ticket used
    at one lane is used at all of them at once (not only after a restart). ``forget_last``
    therefore takes back only the ticket its ``remember`` added, never a snapshot of the set."""

    used: set[bytes] = field(default_factory=set)
    tare_history: dict[str, int] = field(default_factory=dict)
    first_passes: dict[str, FirstPass] = field(default_factory=dict)
    _undo: tuple[bytes | None, dict[str, int], dict[str, FirstPass]] | None = None

    @classmethod
    def of(
        cls,
        used: Iterable[bytes],
        tare_history: Mapping[str, int] | None,
        first_passes: Mapping[str, FirstPass] | None,
    ) -> Memory:
        """A ``set`` of used tickets is kept as it is (shared between lanes); any other
        iterable is copied."""
        return cls(
            used=used if isinstance(used, set) else set(used),
            tare_history=dict(tare_history or {}),
            first_passes=dict(first_passes or {}),
        )

    def remember(self, decision: Decision, *, direction: Literal["out", "in"], now_ms: int) -> None:
        """A release: a first pass is kept open; a single or second pass uses the ticket."""
        history, first = dict(self.tare_history), dict(self.first_passes)
        added: bytes | None = None
        self._undo = (added, history, first)
        plate, weights = decision.plate, decision.weights
        if plate is None:
            return
        cti = None if decision.ticket is None else decision.ticket.cti
        if weights.kind == "first":
            kg = weights.tare_kg if direction == "out" else weights.gross_kg
            self.first_passes[plate] = FirstPass(kg=kg or 0, cti=cti, at_ms=now_ms)
        else:
            self.first_passes.pop(plate, None)
            if cti is not None and cti not in self.used:
                self.used.add(cti)
                added = cti
        if weights.tare_source == "weighed" and weights.tare_kg is not None:
            self.tare_history[plate] = weights.tare_kg
        self._undo = (added, history, first)

    def forget_last(self) -> None:
        """Undo the last ``remember`` (its records never reached the journal)."""
        if self._undo is not None:
            added, history, first = self._undo
            if added is not None:
                self.used.discard(added)
            self.tare_history, self.first_passes = history, first
            self._undo = None
