"""Tamper signals from the weight curve and the beams, pure: time is an argument.

- ``StepDetector``: a change larger than ``step_kg`` between two readings while the truck
  stands wholly on the deck and the beams have been quiet: no truck makes that (a remote-
  control weight jump, a jack under an axle, someone stepping on with a load).
- ``BeamWatch``: a deck-edge beam interrupted for ``hold_ms`` while the deck carries nothing
  (a blocked or bridged photo-eye), and weight arriving with no beam interrupted first.
- ``CalibrationWatch``: the indicator's calibration counter changed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StepDetector:
    step_kg: int
    _last_kg: int | None = None

    def update(self, kg: int, *, still: bool) -> int | None:
        """The jump in kg when this reading jumps while ``still``, else None."""
        last, self._last_kg = self._last_kg, kg
        if still and last is not None and abs(kg - last) > self.step_kg:
            return kg - last
        return None

    def reset(self) -> None:
        self._last_kg = None


@dataclass(slots=True)
class BeamWatch:
    hold_ms: int
    _since_ms: int | None = None
    _raised: bool = False
    beams_seen: bool = False
    """Whether a beam was interrupted since the deck was last empty and clear."""

    def update(self, *, edge_beam: bool, any_beam: bool, occupied: bool, now_ms: int) -> bool:
        """True once when a deck-edge beam has been interrupted ``hold_ms`` with no weight."""
        if any_beam:
            self.beams_seen = True
        elif not occupied:
            self.beams_seen = False
        if not edge_beam or occupied:
            self._since_ms = None
            self._raised = False
            return False
        if self._since_ms is None:
            self._since_ms = now_ms
        if not self._raised and now_ms - self._since_ms >= self.hold_ms:
            self._raised = True
            return True
        return False


@dataclass(slots=True)
class CalibrationWatch:
    counter: int | None = None

    def update(self, counter: int | None) -> tuple[int, int] | None:
        """(old, new) when the counter changed; the first value seen is taken as is."""
        if counter is None:
            return None
        old, self.counter = self.counter, counter
        if old is not None and old != counter:
            return (old, counter)
        return None
