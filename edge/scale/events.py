"""What every scale driver hands its consumer, serial or Modbus: events on an asyncio queue.

- ``ScaleReading`` — a weight in whole kg (with its Reading; for Modbus also the registers);
- ``ScaleFault`` — ``silent``/``resumed`` (no valid reading within the driver's timeout;
  readings again), ``disconnected``/``reconnected`` (the port or line cannot be used; the
  driver retries with capped exponential backoff and jitter and never gives up);
- ``ScaleCalibration`` — the device's calibration counter or division changed between two
  reads (the gate raises ``calibration_changed``); never sent for the first read.

The queue keeps the newest ``QUEUE_SIZE`` events: a consumer that falls behind loses the
oldest (``offer`` says so, the driver counts them).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from edge.scale.convert import Weight

#: Events kept for a consumer that falls behind; the oldest go first (and are counted).
QUEUE_SIZE: Final = 1000


class FaultKind(StrEnum):
    """What a ScaleFault reports."""

    SILENT = "silent"
    RESUMED = "resumed"
    DISCONNECTED = "disconnected"
    RECONNECTED = "reconnected"
    STUCK = "stuck"  # unchanged weight while the beams show a truck moving (edge.scale.watch)
    UNSTUCK = "unstuck"  # the weight changed again, or the movement ended


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleReading:
    """A reading converted to whole kilograms, with when it arrived (loop time, ms).

    ``registers`` holds the Modbus registers it was decoded from, ``(address, value)`` in
    address order; empty for serial indicators (their bytes are ``weight.reading.raw``)."""

    weight: Weight
    at_ms: int
    registers: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleFault:
    """A fault raised or cleared; ``detail`` says why (the error, the silence)."""

    kind: FaultKind
    at_ms: int
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """What a device says about its calibration: the event counter (bumped by every
    calibration or setup change) and the division in kg; ``None`` where it does not say."""

    counter: int | None
    division_kg: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleCalibration:
    """The calibration counter or division read now differs from the one read before."""

    previous: Calibration
    current: Calibration
    at_ms: int


ScaleEvent = ScaleReading | ScaleFault | ScaleCalibration


def offer(queue: asyncio.Queue[ScaleEvent], event: ScaleEvent) -> bool:
    """Put ``event`` on ``queue`` without waiting; True when the oldest event had to go."""
    dropped = False
    if queue.full():
        queue.get_nowait()
        dropped = True
    queue.put_nowait(event)
    return dropped


def backoff_s(attempt: int, *, initial_s: float, max_s: float) -> float:
    """The wait before retry ``attempt`` (0-based): capped exponential, with jitter so that
    drivers which lost the same line do not all come back at once."""
    cap = min(max_s, initial_s * float(2 ** min(attempt, 30)))
    return cap * random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not crypto
