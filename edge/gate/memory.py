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


@dataclass(slots=True)
class Memory:
    used: set[bytes] = field(default_factory=set)
    tare_history: dict[str, int] = field(default_factory=dict)
    first_passes: dict[str, FirstPass] = field(default_factory=dict)
    _undo: tuple[frozenset[bytes], dict[str, int], dict[str, FirstPass]] | None = None

    @classmethod
    def of(
        cls,
        used: Iterable[bytes],
        tare_history: Mapping[str, int] | None,
        first_passes: Mapping[str, FirstPass] | None,
    ) -> Memory:
        return cls(
            used=set(used),
            tare_history=dict(tare_history or {}),
            first_passes=dict(first_passes or {}),
        )

    def remember(self, decision: Decision, *, direction: Literal["out", "in"], now_ms: int) -> None:
        """A release: a first pass is kept open; a single or second pass uses the ticket."""
        self._undo = (frozenset(self.used), dict(self.tare_history), dict(self.first_passes))
        plate, weights = decision.plate, decision.weights
        if plate is None:
            return
        cti = None if decision.ticket is None else decision.ticket.cti
        if weights.kind == "first":
            kg = weights.tare_kg if direction == "out" else weights.gross_kg
            self.first_passes[plate] = FirstPass(kg=kg or 0, cti=cti, at_ms=now_ms)
        else:
            self.first_passes.pop(plate, None)
            if cti is not None:
                self.used.add(cti)
        if weights.tare_source == "weighed" and weights.tare_kg is not None:
            self.tare_history[plate] = weights.tare_kg

    def forget_last(self) -> None:
        """Undo the last ``remember`` (its records never reached the journal)."""
        if self._undo is not None:
            used, history, first = self._undo
            self.used, self.tare_history, self.first_passes = set(used), history, first
            self._undo = None
