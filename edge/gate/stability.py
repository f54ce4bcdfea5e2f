"""Stability and zero-before-transaction, pure: time is an argument, no clock, no I/O.

- ``StabilityDetector``: a weight is usable only when every reading of the last ``window_ms``
  stays within ±``band_e`` divisions of the latest one, and the indicator flagged none of them
  as in motion (PROTOCOLS.md §6: "no motion within ±1 d over about 1 s"). The window must be
  covered: a reading at or before ``now - window_ms`` anchors it.
- ``ZeroCheck``: the deck must have read zero (±``zero_band_e`` e, stable) since the last truck
  left, before the next one may be weighed; it also tracks drift from the zero last set.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class StabilityDetector:
    """Feed readings with ``add``; ask ``stable``. ``reset`` starts a new window."""

    division_kg: int
    band_e: int = 1
    window_ms: int = 1000
    _readings: deque[tuple[int, int, bool]] = field(default_factory=deque)

    def add(self, kg: int, *, now_ms: int, motion: bool = False) -> None:
        """One reading (``motion``: the indicator said it is not at rest)."""
        if self._readings and now_ms < self._readings[-1][0]:
            self._readings.clear()  # time went back: nothing before is comparable
        self._readings.append((now_ms, kg, motion))
        # Keep the newest reading at or before the window start (the anchor) and all after it.
        while len(self._readings) > 1 and self._readings[1][0] <= now_ms - self.window_ms:
            self._readings.popleft()

    def reset(self) -> None:
        self._readings.clear()

    @property
    def latest_kg(self) -> int | None:
        return self._readings[-1][1] if self._readings else None

    def stable(self, *, now_ms: int) -> bool:
        """Whether the latest reading is usable at ``now_ms``."""
        if not self._readings or self._readings[0][0] > now_ms - self.window_ms:
            return False
        latest = self._readings[-1][1]
        band = self.band_e * self.division_kg
        return all(not motion and abs(kg - latest) <= band for _, kg, motion in self._readings)

    def window(self) -> tuple[tuple[int, int], ...]:
        """The readings of the window as ``(offset_ms, kg)`` from its first reading (evidence)."""
        if not self._readings:
            return ()
        start = self._readings[0][0]
        return tuple((at - start, kg) for at, kg, _ in self._readings)

    @property
    def window_start_ms(self) -> int | None:
        return self._readings[0][0] if self._readings else None


@dataclass(slots=True)
class ZeroCheck:
    """Zero before the transaction, and drift of the empty deck from the zero last set."""

    division_kg: int
    zero_band_e: int = 2
    zero_drift_e: int = 5
    empty_kg: int | None = None
    """The last stable reading of the empty deck since the last truck (None: none yet)."""
    reference_kg: int | None = None
    """The empty deck's reading when zero was last set (or first seen)."""
    drifted: bool = False

    def empty_stable(self, kg: int) -> bool:
        """A stable reading of the empty deck; True when it newly shows drift (raise once)."""
        self.empty_kg = kg
        if self.reference_kg is None:
            self.reference_kg = kg
        off = abs(kg - self.reference_kg) > self.zero_drift_e * self.division_kg
        newly = off and not self.drifted
        self.drifted = off
        return newly

    def zero_set(self) -> None:
        """The indicator was told to zero: the next stable empty reading is the reference."""
        self.reference_kg = None
        self.empty_kg = None
        self.drifted = False

    def ok(self) -> bool:
        """Whether a transaction may start: the empty deck read zero since the last truck."""
        band = self.zero_band_e * self.division_kg
        return self.empty_kg is not None and abs(self.empty_kg) <= band

    def truck_arrived(self) -> bool:
        """Take the zero verdict for the arriving truck; the next one needs a new empty read."""
        verdict = self.ok()
        self.empty_kg = None
        return verdict
