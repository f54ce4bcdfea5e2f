"""Event records a lane writes: alarms, faults, operator acts (WIRE.md event ``kind``\\s).

An alarm is written in the same step as the input that shows it ("at once": within one second
of the evidence, in the lane's clock). Every builder returns a ``WriteRecord`` of an
``EventBody``; the adapter signs, chains and journals it like any record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from edge.gate.outputs import UNRESOLVED_REF, WriteRecord
from wire.bodies import EventBody

#: Kinds this core writes, with their severity.
KINDS: Final[Mapping[str, Literal["info", "warning", "alarm"]]] = {
    "escape": "alarm",
    "exit_without_session": "alarm",
    "barrier_forced": "alarm",
    "tamper_step": "alarm",
    "tamper_zero_drift": "alarm",
    "tamper_beams": "alarm",
    "calibration_changed": "alarm",
    "scale_fault": "alarm",
    "io_fault": "alarm",
    "camera_fault": "warning",
    "journal_fault": "alarm",
    "override": "warning",
    "release_retry": "warning",
    "release_left": "info",
    "alarm_ack": "info",
}


def event(
    lane: str,
    kind: str,
    detail: Mapping[str, Any],
    *,
    severity: Literal["info", "warning", "alarm"] | None = None,
    ref: bytes | None = None,
    ref_previous: bool = False,
    ref_release: bool = False,
) -> WriteRecord:
    """An event record; ``severity`` defaults to the kind's (``KINDS``); ``ref`` names a
    related record, or ``ref_previous`` links it to the record written just before (the
    override to its weighing), or ``ref_release`` to the lane's last release (see
    ``edge.gate.outputs``)."""
    body = EventBody(
        lane=lane,
        kind=kind,
        severity=severity or KINDS[kind],
        detail=dict(detail),
        ref=UNRESOLVED_REF if ref_previous or ref_release else ref,
    )
    return WriteRecord(type="event", body=body, ref_previous=ref_previous, ref_release=ref_release)
