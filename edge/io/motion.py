"""Is a truck moving on or off the deck? Derived from successive beam snapshots. Pure.

A truck that drives on or off the deck breaks and clears the beams one after another (entry,
on-deck rear, on-deck front, exit), so *moving* is: some beam changed within the last
``window_ms``. A beam that merely stays interrupted is not movement: the next truck may wait
with its cab in the entry beam while the one on the deck is weighed, and a truck standing
partly on the deck keeps an on-deck beam broken, both for minutes, with a stable weight. The
barrier-up limit switch is not a beam and is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.io.events import BeamsChanged


@dataclass(slots=True)
class MotionTracker:
    """Feed every beam snapshot to ``update``; ask ``moving(now_ms=…)``."""

    window_ms: int
    _beams: tuple[bool, bool, bool, bool] | None = None
    _changed_ms: int | None = None

    def update(self, beams: BeamsChanged) -> None:
        """A snapshot of the inputs (at ``beams.at_ms``); the first one only sets the scene."""
        seen = (beams.entry, beams.rear, beams.front, beams.exit)
        if self._beams is not None and seen != self._beams:
            self._changed_ms = beams.at_ms
        self._beams = seen

    def moving(self, *, now_ms: int) -> bool:
        """A beam changed within the last ``window_ms``."""
        return self._changed_ms is not None and now_ms - self._changed_ms < self.window_ms
