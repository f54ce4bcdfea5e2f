"""Is a lane's plate camera working? Pure: time and what was seen are arguments.

Plate cameras (Hikvision, Dahua and the simulator alike) push a read when a vehicle passes;
a camera that is dead, unplugged, blinded or pushing to the wrong address simply stops
pushing, and the edge hears nothing. Two signs of it, each a fault source of the camera:

**No read** (always on unless ``no_read_ms`` is 0). The lane watches what the camera should
have seen:

- the **entry camera** should read each truck that arrives: the entry beam breaks, or the
  deck's weight rises past ``occupied_kg`` (a truck there while the beam itself is broken);
- the **exit camera** should read each truck that breaks the exit beam.

A read counts when it comes at most ``no_read_ms`` before the arrival (the camera's trigger
loop is often ahead of the beam) or after it; each read counts for one arrival, and arrivals
within ``no_read_ms`` of the last one at the same camera are the same truck (the beam sees
the gap between tractor and trailer; the weight rises after the beam broke). An arrival
with no read within ``no_read_ms`` is the fault ``no_read``; the camera's next read clears it
(its pushes have resumed). The first state seen is no arrival: a truck standing on the deck
when the edge starts was read before.

**Status** (for cameras given a status URL; ``edge.camera.status`` polls it). A poll that
fails ``STATUS_FAILURES`` times in a row is the fault ``status``; one good answer clears it.

A camera is at fault while either source is. ``CameraWatch`` returns a ``CameraChange`` when
that begins and when it ends; the lane runner turns each into ``CameraFaultIn`` for the gate
core, which records the fault and its end as events and goes on with manual identification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: The fault source of a camera that read nothing of a truck it should have seen.
NO_READ: Final = "no_read"
#: The fault source of a camera whose status URL does not answer well.
STATUS: Final = "status"
#: Status polls that must fail in a row before the camera is at fault (one lost answer is not).
STATUS_FAILURES: Final = 2
_ENDED: Final = {NO_READ: "reads again", STATUS: "its status answers again"}


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraChange:
    """A camera's fault began (``active``) or ended."""

    camera: str
    active: bool
    reason: str


@dataclass(slots=True)
class _Side:
    camera: str
    unused_read_ms: int | None = None
    """A read not yet counted for an arrival."""
    waiting_since_ms: int | None = None
    """An arrival still without its read."""
    arrived_ms: int | None = None
    """The last arrival (a beam flickering in the gap between tractor and trailer, or the
    weight rising after the beam broke, within ``no_read_ms`` of it is the same truck)."""
    status_failures: int = 0
    faults: dict[str, str] = field(default_factory=dict)
    """Fault source → what is wrong."""

    @property
    def reason(self) -> str:
        return "; ".join(f"{source}: {what}" for source, what in sorted(self.faults.items()))

    def set(self, source: str, what: str | None) -> list[CameraChange]:
        """Set (``what``) or clear (None) one source; the change of the camera, if any."""
        was = bool(self.faults)
        if what is None:
            if self.faults.pop(source, None) is None:
                return []
        else:
            if source in self.faults:
                return []
            self.faults[source] = what
        if bool(self.faults) == was:
            return []
        reason = self.reason if self.faults else _ENDED[source]
        return [CameraChange(camera=self.camera, active=bool(self.faults), reason=reason)]


@dataclass(slots=True)
class CameraWatch:
    """The health of one lane's entry and exit cameras (module docstring). ``no_read_ms`` 0
    turns the no-read watch off."""

    entry_camera: str
    exit_camera: str
    no_read_ms: int
    occupied_kg: int
    _entry: _Side = field(init=False)
    _exit: _Side = field(init=False)
    _entry_beam: bool | None = field(init=False, default=None)
    _exit_beam: bool | None = field(init=False, default=None)
    _occupied: bool | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._entry = _Side(self.entry_camera)
        self._exit = _Side(self.exit_camera)

    @property
    def faults(self) -> dict[str, str]:
        """Cameras at fault → why (``source: what``, sources in order)."""
        return {s.camera: s.reason for s in (self._entry, self._exit) if s.faults}

    def read(self, camera: str, *, now_ms: int) -> list[CameraChange]:
        """A camera pushed a read (any accepted read: it works)."""
        side = self._side(camera)
        if side is None:
            return []
        if side.waiting_since_ms is not None:
            side.waiting_since_ms = None
        else:
            side.unused_read_ms = now_ms
        return side.set(NO_READ, None)

    def status(self, camera: str, *, problem: str | None, now_ms: int) -> list[CameraChange]:
        """A status poll of ``camera`` answered well (``problem`` None) or did not."""
        side = self._side(camera)
        if side is None:
            return []
        if problem is None:
            side.status_failures = 0
            return side.set(STATUS, None)
        side.status_failures += 1
        if side.status_failures < STATUS_FAILURES:
            return []
        return side.set(STATUS, problem)

    def beams(self, *, entry: bool, exit_: bool, now_ms: int) -> list[CameraChange]:
        """The entry and exit photo-eyes (True: interrupted)."""
        entry_was, exit_was = self._entry_beam, self._exit_beam
        self._entry_beam, self._exit_beam = entry, exit_
        if entry and entry_was is False and not self._occupied:
            self._arrived(self._entry, now_ms)
        if exit_ and exit_was is False:
            self._arrived(self._exit, now_ms)
        return self.tick(now_ms=now_ms)

    def weight(self, kg: int | None, *, now_ms: int) -> list[CameraChange]:
        """A scale reading (``None``: no number, e.g. overload: not a change)."""
        if kg is None:
            return self.tick(now_ms=now_ms)
        was = self._occupied
        self._occupied = kg >= self.occupied_kg
        if self._occupied and was is False and not self._entry_beam:
            self._arrived(self._entry, now_ms)
        return self.tick(now_ms=now_ms)

    def tick(self, *, now_ms: int) -> list[CameraChange]:
        """Time passed: an arrival unread for ``no_read_ms`` becomes a fault."""
        changes = []
        for side in (self._entry, self._exit):
            since = side.waiting_since_ms
            if since is None or now_ms - since < self.no_read_ms:
                continue
            side.waiting_since_ms = None
            seconds = f"{self.no_read_ms / 1000:g}"
            changes += side.set(NO_READ, f"no plate read within {seconds} s of a truck")
        return changes

    def _side(self, camera: str) -> _Side | None:
        if camera == self._entry.camera:
            return self._entry
        if camera == self._exit.camera:
            return self._exit
        return None

    def _arrived(self, side: _Side, now_ms: int) -> None:
        last, side.arrived_ms = side.arrived_ms, now_ms
        if not self.no_read_ms or (last is not None and now_ms - last < self.no_read_ms):
            return
        read = side.unused_read_ms
        side.unused_read_ms = None
        if read is not None and now_ms - read <= self.no_read_ms:
            return  # read on the approach
        if side.waiting_since_ms is None:
            side.waiting_since_ms = now_ms
