"""A stuck scale: the weight does not change while the beams show a truck moving. Pure.

``ScaleWatch`` joins the two drivers' events: feed it every weight from any scale driver
(serial or Modbus, ``ScaleReading``) and every beam snapshot from the IO driver
(``BeamsChanged``), in arrival order, through ``observe``; it returns a ``ScaleFault``
(``stuck``, then ``unstuck``) when the state changes. Time is the events' own ``at_ms``.

*Moving* comes from ``edge.io.motion.MotionTracker``: a beam changed within
``motion_window_ms``. *Stuck* is ``edge.scale.faults.StuckDetector``: the weight stays within
``tolerance_kg`` for ``stuck_after_ms`` while moving. ``stuck_after_ms`` is longer than
``motion_window_ms``, so one beam change never suffices: a truck that stops right after
clearing a beam has a stable weight for the rest of the motion window, and that is not a fault.
A truck rolling on or off changes the beams every few seconds and the axles change the weight;
a frozen indicator does not. A deck that sends identical frames for hours with no beam change
is never stuck. ``unstuck`` follows when the weight changes or the movement ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.errors import ConfigError
from edge.io.events import BeamsChanged
from edge.io.motion import MotionTracker
from edge.scale.events import FaultKind, ScaleFault, ScaleReading
from edge.scale.faults import StuckDetector, Transition

#: Defaults for trucks at walking pace (about 1.5 m/s): beams change every few seconds.
MOTION_WINDOW_MS = 5_000
STUCK_AFTER_MS = 8_000


@dataclass(slots=True)
class ScaleWatch:
    """See the module docstring; ``stuck`` says whether the fault is raised now."""

    stuck_after_ms: int = STUCK_AFTER_MS
    motion_window_ms: int = MOTION_WINDOW_MS
    tolerance_kg: int = 0
    _motion: MotionTracker = field(init=False)
    _stuck: StuckDetector = field(init=False)
    _kg: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not 0 < self.motion_window_ms < self.stuck_after_ms:
            raise ConfigError(
                f"the motion window ({self.motion_window_ms} ms) must be > 0 and shorter than "
                f"the stuck time ({self.stuck_after_ms} ms)",
                option="motion_window_ms",
            )
        if self.tolerance_kg < 0:
            raise ConfigError("the tolerance must be >= 0 kg", option="tolerance_kg")
        self._motion = MotionTracker(window_ms=self.motion_window_ms)
        self._stuck = StuckDetector(window_ms=self.stuck_after_ms, tolerance_kg=self.tolerance_kg)

    @property
    def stuck(self) -> bool:
        """The stuck fault is raised."""
        return self._stuck.stuck

    def observe(self, event: object) -> ScaleFault | None:
        """A ``ScaleReading`` or ``BeamsChanged`` (anything else is ignored)."""
        if isinstance(event, ScaleReading):
            return self.weight(event.weight.kg, at_ms=event.at_ms)
        if isinstance(event, BeamsChanged):
            return self.beams(event)
        return None

    def weight(self, kg: int | None, *, at_ms: int) -> ScaleFault | None:
        """A weight (``None``: a reading without one, e.g. overload) at ``at_ms``."""
        self._kg = kg
        return self._check(at_ms)

    def beams(self, beams: BeamsChanged) -> ScaleFault | None:
        """A beam snapshot."""
        self._motion.update(beams)
        if self._kg is None:
            return None
        return self._check(beams.at_ms)

    def _check(self, now_ms: int) -> ScaleFault | None:
        moving = self._motion.moving(now_ms=now_ms)
        transition = self._stuck.update(kg=self._kg, moving=moving, now_ms=now_ms)
        if transition is Transition.RAISED:
            return ScaleFault(
                kind=FaultKind.STUCK,
                at_ms=now_ms,
                detail=f"the weight stays at {self._kg} kg for {self.stuck_after_ms} ms "
                "while a truck moves on or off the deck",
            )
        if transition is Transition.CLEARED:
            why = "the weight changes" if moving else "no more movement"
            return ScaleFault(kind=FaultKind.UNSTUCK, at_ms=now_ms, detail=why)
        return None
