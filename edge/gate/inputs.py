"""What a lane is fed: device readings, operator actions, the site bundle and time.

All inputs are values; the time of each is the ``now_ms`` passed to ``Lane.step`` with it
(the adapter's clock, read once per input). Nothing here reads a clock or a device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from wire.bundles import Bundle


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightIn:
    """One reading of the scale in whole kg.

    ``kg`` is None for a frame without a number (over/underload). ``stable`` is the
    indicator's own motion flag when it has one (False = motion; None = not reported).
    ``calibration`` is the indicator's calibration counter where the protocol exposes it.
    """

    kg: int | None
    stable: bool | None = None
    overload: bool = False
    calibration: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BeamsIn:
    """The IO module's inputs (PROTOCOLS.md §4); a beam is True while interrupted."""

    entry: bool
    front: bool
    rear: bool
    exit: bool
    barrier_up: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateIn:
    """A camera read. ``camera`` is ``<lane>-entry`` or ``<lane>-exit`` (PROTOCOLS.md §5);
    ``image_sha256`` the SHA-256 (32 bytes) of the snapshot kept at the edge."""

    plate: str
    confidence: int
    camera: str
    image_sha256: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleIn:
    """A site bundle the uplink has verified (``wire.bundles.verify_bundle``)."""

    bundle: Bundle


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualPlate:
    """An operator typed the plate (the camera failed or was unsure)."""

    operator: str
    plate: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChooseTicket:
    """An operator picked a ticket: a 16-byte ``cti`` from the bundle, or the complete COSE
    bytes of a ticket scanned from the driver's QR code."""

    operator: str
    ticket: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Override:
    """An operator releases a held truck; refused for anything but the overridable reasons."""

    operator: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ZeroRequest:
    """An operator asks to zero the empty scale."""

    operator: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmAck:
    """An operator acknowledges an alarm (``ref`` = its record id when known)."""

    operator: str
    kind: str
    ref: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """Time passed with nothing else to report (drives the timeouts)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleFaultIn:
    """The scale driver's fault state changed (``reason``: silent, stuck, frame, …)."""

    active: bool
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IoFaultIn:
    """The IO module's fault state changed."""

    active: bool
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearIoFault:
    """An operator checked the IO (a technician fixed the barrier) and ends the lane's IO
    fault that a failed command began. The adapter sends it only for that fault: a module
    that does not answer clears its fault by itself when it answers again."""

    operator: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraFaultIn:
    """A camera's fault state changed; the lane goes on, with manual identification."""

    active: bool
    camera: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalFault:
    """The executor could not durably write a record (``active``) or can again (not active).

    On a failed write the executor stops executing that output list: nothing after the failed
    ``WriteRecord`` runs, so a barrier command behind it never does.
    """

    active: bool
    reason: str


Input: TypeAlias = (
    WeightIn
    | BeamsIn
    | PlateIn
    | BundleIn
    | ManualPlate
    | ChooseTicket
    | Override
    | ZeroRequest
    | AlarmAck
    | Tick
    | ScaleFaultIn
    | IoFaultIn
    | ClearIoFault
    | CameraFaultIn
    | JournalFault
)
