"""Faults an indicator can be told to show, and how they bend its output. Pure.

Count faults (garbage, bad checksum, half frame) apply to the next outputs; timed faults
(frozen value, silence, slow replies) last until a time, ``FOREVER`` meaning until cleared.
Disconnects, steps and power loss live elsewhere: the port adapter, the scene, the state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from firmware_sim.display import Reading

FOREVER = 2**62


class FaultKind(StrEnum):
    """Every fault the control interface accepts."""

    GARBAGE = "garbage"
    BAD_CHECKSUM = "bad-checksum"
    HALF_FRAME = "half-frame"
    FROZEN = "frozen"
    SILENCE = "silence"
    SLOW = "slow"
    DISCONNECT = "disconnect"
    STEP = "step"
    POWER_LOSS = "power-loss"


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Pending and running output faults."""

    garbage_bytes: int = 0
    bad_checksums: int = 0
    half_frames: int = 0
    frozen: Reading | None = None
    frozen_until_ms: int = 0
    silent_until_ms: int = 0
    slow_ms: int = 0
    slow_until_ms: int = 0

    def silent(self, now_ms: int) -> bool:
        """No output at all right now."""
        return now_ms < self.silent_until_ms

    def frozen_reading(self, now_ms: int) -> Reading | None:
        """The reading the display is stuck on, if it is."""
        return self.frozen if self.frozen is not None and now_ms < self.frozen_until_ms else None

    def delay_ms(self, now_ms: int) -> int:
        """Extra delay before each reply or frame."""
        return self.slow_ms if now_ms < self.slow_until_ms else 0

    def summary(self, now_ms: int) -> dict[str, int | bool]:
        """What is active, for the control interface's state."""
        return {
            "garbage_bytes_pending": self.garbage_bytes,
            "bad_checksums_pending": self.bad_checksums,
            "half_frames_pending": self.half_frames,
            "frozen": self.frozen_reading(now_ms) is not None,
            "silent": self.silent(now_ms),
            "slow_ms": self.delay_ms(now_ms),
        }


def garbage(count: int, *, seed: int, now_ms: int) -> bytes:
    """Deterministic line noise: ``count`` bytes from a hash of (seed, time)."""
    out = b""
    block = 0
    while len(out) < count:
        out += hashlib.blake2b(f"{seed}:{now_ms}:{block}".encode(), digest_size=64).digest()
        block += 1
    return out[:count]


def shape(
    output: bytes,
    faults: Faults,
    *,
    now_ms: int,
    seed: int,
    corrupt: Callable[[bytes], bytes] | None,
) -> tuple[bytes, Faults]:
    """Apply pending count faults to one output (a frame or a reply line).

    ``corrupt`` makes the checksum wrong; formats without a checksum pass None and keep any
    pending bad-checksum count untouched (the control interface refuses it for them anyway).
    """
    if faults.silent(now_ms):
        return b"", faults
    if faults.bad_checksums and corrupt is not None:
        output = corrupt(output)
        faults = replace(faults, bad_checksums=faults.bad_checksums - 1)
    if faults.half_frames:
        output = output[: len(output) // 2]
        faults = replace(faults, half_frames=faults.half_frames - 1)
    if faults.garbage_bytes:
        output = garbage(faults.garbage_bytes, seed=seed, now_ms=now_ms) + output
        faults = replace(faults, garbage_bytes=0)
    return output, faults
