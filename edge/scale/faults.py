"""Scale fault detectors, pure: time is an argument (``now_ms``), no clock reads, no I/O.

- ``SilenceDetector``: *silent* when no valid frame arrived within ``timeout_ms``; cleared by
  the next valid frame. The serial driver feeds it.
- ``StuckDetector``: *stuck* when the weight stays unchanged while the beams show a truck
  moving on or off the deck for ``window_ms``. A stable deck that sends identical frames for
  hours is not a fault: without movement the detector never fires. ``edge.scale.watch``
  wires it to the beams (``moving`` from ``edge.io.motion``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Transition(StrEnum):
    """A detector entering or leaving its fault state."""

    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(slots=True)
class SilenceDetector:
    """Raises once no frame arrived for ``timeout_ms``; clears on the next frame."""

    timeout_ms: int
    last_frame_ms: int
    silent: bool = False

    def frame(self, *, now_ms: int) -> Transition | None:
        """A valid frame arrived at ``now_ms``."""
        self.last_frame_ms = now_ms
        if self.silent:
            self.silent = False
            return Transition.CLEARED
        return None

    def tick(self, *, now_ms: int) -> Transition | None:
        """Time passed; RAISED the first time the silence exceeds the timeout."""
        if not self.silent and now_ms - self.last_frame_ms >= self.timeout_ms:
            self.silent = True
            return Transition.RAISED
        return None

    def due_ms(self) -> int:
        """When ``tick`` can next raise (for a watchdog's sleep)."""
        return self.last_frame_ms + self.timeout_ms


@dataclass(slots=True)
class StuckDetector:
    """Raises when the weight does not change by more than ``tolerance_kg`` for ``window_ms``
    while a truck is moving on or off the deck; clears when it changes or movement stops."""

    window_ms: int
    tolerance_kg: int = 0
    stuck: bool = False
    _reference_kg: int | None = None
    _since_ms: int | None = None

    def update(self, *, kg: int | None, moving: bool, now_ms: int) -> Transition | None:
        """One reading (``kg`` None for a frame without a number) and the beams' verdict."""
        if not moving or kg is None:
            self._reference_kg = self._since_ms = None
            return self._set(stuck=False)
        if self._reference_kg is None or abs(kg - self._reference_kg) > self.tolerance_kg:
            self._reference_kg, self._since_ms = kg, now_ms
            return self._set(stuck=False)
        since_ms = now_ms if self._since_ms is None else self._since_ms
        if now_ms - since_ms >= self.window_ms:
            return self._set(stuck=True)
        return None

    def _set(self, *, stuck: bool) -> Transition | None:
        if stuck == self.stuck:
            return None
        self.stuck = stuck
        return Transition.RAISED if stuck else Transition.CLEARED
