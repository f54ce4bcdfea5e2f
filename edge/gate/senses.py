"""What the lane senses: weight, beams, position and device faults, turned into events.

``Senses`` holds the physical facts (the last reading, the beams, the derived position, the
stability window, the tamper detectors, the active faults) and its methods are generators of
``Sensed`` events. They are generators on purpose: the lane handles each event (which may,
say, restart the stability window) before the next is computed, so a reading is judged
stable only after the moves it caused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from edge.gate.config import LaneConfig
from edge.gate.inputs import BeamsIn, WeightIn
from edge.gate.stability import StabilityDetector
from edge.gate.tamper import BeamWatch, CalibrationWatch, StepDetector

#: Fault sources and the event kind each is recorded as.
FAULT_KINDS = {"scale": "scale_fault", "silent": "scale_fault", "io": "io_fault"}


@dataclass(frozen=True, slots=True)
class Sensed:
    """An event (a name of ``edge.gate.table.EVENTS``) and what the actions need of it."""

    name: str
    fault: tuple[str, str, bool] | None = None  # (event kind, reason, active)
    jump_kg: int = 0
    calibration: tuple[int, int] = (0, 0)


class Senses:
    def __init__(self, config: LaneConfig, *, now_ms: int) -> None:
        self.config = config
        self.stability = StabilityDetector(
            division_kg=config.division_kg, band_e=config.band_e, window_ms=config.window_ms
        )
        self.steps = StepDetector(step_kg=config.step_kg)
        self.beam_watch = BeamWatch(hold_ms=config.beams_no_weight_ms)
        self.calibration = CalibrationWatch()
        self.beams = BeamsIn(entry=False, front=False, rear=False, exit=False, barrier_up=False)
        self.beams_changed_ms = now_ms
        self.kg: int | None = None
        self.overload_now = False
        self.position = "empty"
        self.seen_empty = False
        """Whether the deck was seen empty since start (a truck there at start is no tamper)."""
        self.weighed_empty = False
        """Whether a reading since start weighed the deck empty (beams alone, before the first
        reading, cannot tell: the truck of a stranded release must stand there since start)."""
        self.last_weight_ms = now_ms
        self.faults: dict[str, str] = {}
        self.forced_flagged = False

    # --- facts -----------------------------------------------------------------------------

    def occupied(self) -> bool:
        return self.overload_now or (self.kg is not None and self.kg >= self.config.occupied_kg)

    def any_beam(self) -> bool:
        """A beam that something approaching or on the deck interrupts (not the exit beam)."""
        return self.beams.entry or self.beams.front or self.beams.rear

    def current_position(self) -> str:
        if not self.occupied():
            return "approach" if self.any_beam() else "empty"
        return "partly_on" if self.beams.front or self.beams.rear else "wholly_on"

    def on_deck(self) -> bool:
        return self.position in ("partly_on", "wholly_on")

    def stable(self, now_ms: int) -> bool:
        return self.stability.stable(now_ms=now_ms)

    # --- events ----------------------------------------------------------------------------

    def positions(self) -> Iterator[Sensed]:
        position = self.current_position()
        if position == "empty":
            self.seen_empty = True
        if position != self.position:
            self.position = position
            yield Sensed(position)

    def weight(self, item: WeightIn, *, now_ms: int) -> Iterator[Sensed]:
        self.last_weight_ms = now_ms
        if "silent" in self.faults:
            yield from self.fault("silent", active=False, reason="readings again")
        changed = self.calibration.update(item.calibration)
        if changed is not None:
            yield Sensed("calibration_changed", calibration=changed)
        self.overload_now = item.overload
        if item.kg is None:
            self.stability.reset()
            self.steps.reset()
            yield from self.positions()
            return
        self.kg = item.kg
        self.weighed_empty = self.weighed_empty or not self.occupied()
        self.stability.add(item.kg, now_ms=now_ms, motion=item.stable is False)
        still = (
            self.position == "wholly_on" and now_ms - self.beams_changed_ms >= self.config.window_ms
        )
        jump = self.steps.update(item.kg, still=still)
        if jump is not None:
            yield Sensed("tamper_step", jump_kg=jump)
        yield from self.positions()
        if self.stable(now_ms):
            if self.position == "wholly_on":
                yield Sensed("stable")
            elif self.position == "empty":
                yield Sensed("empty_stable")

    def beams_in(self, item: BeamsIn, *, now_ms: int, barrier_up: bool) -> Iterator[Sensed]:
        """``barrier_up``: whether the lane commands the barrier up."""
        old, self.beams = self.beams, item
        if old != item:
            self.beams_changed_ms = now_ms
        if item.exit and not old.exit:
            yield Sensed("exit_broken")
        if item.barrier_up and not old.barrier_up and not barrier_up:
            self.forced_flagged = True
            yield Sensed("barrier_raised")
        if not item.barrier_up:
            self.forced_flagged = False
        yield from self.positions()
        if old.exit and not item.exit:
            yield Sensed("exit_cleared")

    def silence(self, *, now_ms: int) -> Iterator[Sensed]:
        if "silent" not in self.faults and (
            now_ms - self.last_weight_ms >= self.config.weight_timeout_ms
        ):
            yield from self.fault("silent", active=True, reason="no reading")

    def watch(self, *, now_ms: int, barrier_up: bool, barrier_down_ms: int) -> Iterator[Sensed]:
        """The slow signals: a barrier that stays up after closing, beams without weight."""
        if (
            not barrier_up
            and self.beams.barrier_up
            and not self.forced_flagged
            and now_ms - barrier_down_ms >= self.config.barrier_travel_ms
        ):
            self.forced_flagged = True
            yield Sensed("barrier_raised")
        if self.beam_watch.update(
            edge_beam=self.beams.front or self.beams.rear,
            any_beam=self.any_beam(),
            occupied=self.occupied(),
            now_ms=now_ms,
        ):
            yield Sensed("beams_without_weight")

    def fault(self, source: str, *, active: bool, reason: str) -> Iterator[Sensed]:
        """A device fault (``scale``, ``silent``, ``io``) began or ended."""
        if active == (source in self.faults):
            if active:
                self.faults[source] = reason
            return
        if active:
            self.faults[source] = reason
        else:
            del self.faults[source]
        kind = FAULT_KINDS[source]
        yield Sensed("fault_raised" if active else "fault_cleared", fault=(kind, reason, active))
        yield from self.recovered()

    def io_checked(self) -> Iterator[Sensed]:
        """An operator ended the IO fault (``ClearIoFault``); with none active, says so."""
        if "io" not in self.faults:
            yield Sensed("io_not_faulted")
            return
        del self.faults["io"]
        yield Sensed("io_checked")
        yield from self.recovered()

    def journal(self, *, active: bool, reason: str, released_before: bool) -> Iterator[Sensed]:
        """The journal failed (just after a release: that release failed) or works again."""
        if active:
            self.faults["journal"] = reason
            yield Sensed("release_failed" if released_before else "journal_failed")
        elif "journal" in self.faults:
            del self.faults["journal"]
            yield Sensed("journal_ok", fault=("journal_fault", reason, False))
            yield from self.recovered()

    def recovered(self) -> Iterator[Sensed]:
        if not self.faults:
            yield Sensed("recovered_on_deck" if self.occupied() else "recovered")
