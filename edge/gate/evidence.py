"""The evidence record of a weighing (WIRE.md ``evidence``): what reconstructs the result.

The stability window's parameters and readings, each beam's changes since the truck arrived,
the plate reads and their photo hashes. Offsets are milliseconds from the window's first
reading; beam changes before the window have negative offsets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edge.gate.config import LaneConfig
from edge.gate.rules import UNKNOWN_PLATE, PlateSeen
from wire.bodies import EvidenceBody, PlateRead, ScaleInfo, Stability

#: Bounds that keep an evidence record small whatever a session went through.
MAX_BEAM_CHANGES = 64
MAX_READS = 16


def build_evidence(
    config: LaneConfig,
    *,
    window: Sequence[tuple[int, int]],
    window_start_ms: int,
    beams: Mapping[str, Sequence[tuple[int, bool]]],
    reads: Sequence[PlateSeen],
) -> EvidenceBody:
    """``window``: (offset, kg) readings; ``beams``: name → (time ms, state) changes."""
    reads = reads[-MAX_READS:]
    return EvidenceBody(
        lane=config.lane,
        scale=ScaleInfo(
            protocol=config.protocol,
            division_kg=config.division_kg,
            capacity_kg=config.capacity_kg,
        ),
        stability=Stability(band_e=config.band_e, window_ms=config.window_ms),
        readings=tuple(window),
        beams={
            name: tuple((at - window_start_ms, state) for at, state in changes[-MAX_BEAM_CHANGES:])
            for name, changes in beams.items()
        },
        plate_reads=tuple(
            PlateRead(plate=r.plate or r.text or UNKNOWN_PLATE, conf=r.conf, camera=r.camera)
            for r in reads
        ),
        photos=tuple(dict.fromkeys(r.image_sha256 for r in reads if r.image_sha256)),
    )
