"""What the IO driver reports: frozen snapshots of the inputs and coils, and faults."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True, kw_only=True)
class BeamsChanged:
    """The discrete inputs at ``at_ms`` (loop time, ms). A beam is ``True`` while something
    interrupts it; ``barrier_up`` is the barrier's up limit switch (closed: fully up)."""

    entry: bool
    front: bool
    rear: bool
    exit: bool
    barrier_up: bool
    at_ms: int

    def same_as(self, other: BeamsChanged | None) -> bool:
        """The same inputs (whatever the times)."""
        return other is not None and _inputs(self) == _inputs(other)


@dataclass(frozen=True, slots=True, kw_only=True)
class CoilsChanged:
    """The relays at ``at_ms`` as read back from the module."""

    barrier: bool
    red: bool
    green: bool
    horn: bool
    at_ms: int

    def same_as(self, other: CoilsChanged | None) -> bool:
        """The same coils (whatever the times)."""
        return other is not None and _coils(self) == _coils(other)


class IoFaultKind(StrEnum):
    """What an IoFault reports."""

    DISCONNECTED = "disconnected"  # the line cannot be opened (LineDownError)
    RECONNECTED = "reconnected"  # transactions succeed again after DISCONNECTED
    NO_RESPONSE = "no_response"  # the module does not answer (NoResponseError)
    EXCEPTION = "exception"  # the module answers with a Modbus exception
    RESUMED = "resumed"  # transactions succeed again after NO_RESPONSE/EXCEPTION
    MISMATCH = "mismatch"  # a command did not take effect (IoCommandError)


@dataclass(frozen=True, slots=True, kw_only=True)
class IoFault:
    """A fault raised or cleared; ``detail`` says why (the error's message)."""

    kind: IoFaultKind
    at_ms: int
    detail: str = ""


IoEvent = BeamsChanged | CoilsChanged | IoFault


def _inputs(beams: BeamsChanged) -> tuple[bool, ...]:
    return (beams.entry, beams.front, beams.rear, beams.exit, beams.barrier_up)


def _coils(coils: CoilsChanged) -> tuple[bool, ...]:
    return (coils.barrier, coils.red, coils.green, coils.horn)
