"""A plate camera's reads: what it makes of a plate, and the JSON it pushes. Pure.

Misreads are the confusions real plate readers make (0/D/Q, 8/B, 2/Z, 5/S); a misread or a
dirty plate lowers the confidence. Every read is derived from (seed, camera, plate, sequence
number), so a seed replays the same reads.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass

from firmware_sim.errors import ConfigError

CONFUSIONS: dict[str, str] = {
    "0": "DQ",
    "D": "0Q",
    "Q": "0D",
    "8": "B",
    "B": "8",
    "2": "Z",
    "Z": "2",
    "5": "S",
    "S": "5",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraConfig:
    """One camera: where it stands and how well it reads."""

    lane: str = "lane1"
    misread_rate: float = 0.0  # share of reads with one character confused
    low_confidence_rate: float = 0.0  # share of correct reads with a low confidence anyway
    seed: int = 0

    def __post_init__(self) -> None:
        for name, rate in (
            ("misread rate", self.misread_rate),
            ("low-confidence rate", self.low_confidence_rate),
        ):
            if not 0.0 <= rate <= 1.0:  # written so that NaN fails too
                raise ConfigError(f"{name} must be 0-1")
        if not self.lane or "/" in self.lane:
            raise ConfigError("the lane name must be non-empty and without '/'", option="lane")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateRead:
    """One read as the camera reports it."""

    plate: str
    confidence: int
    camera: str
    ts: int
    image_sha256: str | None
    misread: bool

    def body(self) -> bytes:
        """The JSON pushed to ``POST /camera`` (PROTOCOLS.md §5)."""
        value = {
            "plate": self.plate,
            "confidence": self.confidence,
            "camera": self.camera,
            "ts": self.ts,
            "image_sha256": self.image_sha256,
        }
        return json.dumps(value, ensure_ascii=False).encode()


def confuse(plate: str, rng: random.Random) -> str:
    """The plate with one confusable character swapped (unchanged if it has none)."""
    spots = [i for i, ch in enumerate(plate) if i > 0 and ch in CONFUSIONS]
    if not spots:
        return plate
    i = rng.choice(spots)
    return plate[:i] + rng.choice(CONFUSIONS[plate[i]]) + plate[i + 1 :]


def read(config: CameraConfig, *, plate: str, side: str, seq: int, ts_ms: int) -> PlateRead:
    """What the ``side`` ("entry"/"exit") camera reports for the ``seq``-th truck it sees."""
    camera = f"{config.lane}-{side}"
    # Reproducible simulation, not cryptography: a seeded generator is the point.
    rng = random.Random(f"{config.seed}:{camera}:{plate}:{seq}")  # noqa: S311
    seen = plate
    if rng.random() < config.misread_rate:
        seen = confuse(plate, rng)
    misread = seen != plate
    if misread or rng.random() < config.low_confidence_rate:
        confidence = rng.randint(35, 69)
    else:
        confidence = rng.randint(85, 99)
    photo = hashlib.sha256(f"{camera}:{plate}:{seq}:{ts_ms}".encode()).hexdigest()
    return PlateRead(
        plate=seen,
        confidence=confidence,
        camera=camera,
        ts=ts_ms,
        image_sha256=photo,
        misread=misread,
    )
