"""What a lane asks for: commands to devices and records to sign, chain and journal.

``Lane.step`` returns an **ordered** list. The contract with the executor (the adapter that
runs the list):

1. Commands run in list order.
2. A ``WriteRecord`` is complete only when the record is signed, chained and durably in the
   journal; the executor completes it before it runs any later command of the same list.
3. If a write fails, the executor runs nothing further of that list and feeds
   ``JournalFault(active=True, …)`` back to the lane as its very next input (so the lane
   knows it was that list's release, if any, that failed) and keeps the barrier down.
4. ``WriteRecord.ref_previous``: the executor sets the body's reference (``evidence`` of a
   weighing, ``ref`` of an event) to the record id of the record it wrote just before, from
   the same list (``resolve_ref`` does it). The core cannot know ids: it does not sign.

5. ``WriteRecord.ref_release``: the executor sets the event's ``ref`` to the record id of the
   last releasing weighing of the lane (the release a ``release_retry`` raises the barrier for
   again; after a restart, the journal's); with none, the write fails (the list stops).

The core always emits a release as: the evidence record, the weighing record with decision
``release`` (``ref_previous``), then ``SetLights`` and ``Barrier(up=True)``. So the barrier
never moves before a durable, signed decision. A barrier raised again for a released truck
whose barrier did not rise follows a ``release_retry`` event naming that release
(``ref_release``), in the same list.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, TypeAlias

from edge.errors import LocalError
from wire.bodies import EventBody, EvidenceBody, WeighingBody
from wire.records import ZERO_HASH

#: The placeholder a body carries where ``ref_previous`` asks for the previous record's id.
UNRESOLVED_REF = ZERO_HASH

RecordBody: TypeAlias = WeighingBody | EvidenceBody | EventBody


@dataclass(frozen=True, slots=True, kw_only=True)
class SetLights:
    red: bool
    green: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Barrier:
    up: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Say:
    """Text for the display and the voice prompt, in Chinese and English."""

    text_zh: str
    text_en: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteRecord:
    """Sign, chain and durably journal a record of ``type`` with ``body``."""

    type: Literal["weighing", "evidence", "event"]
    body: RecordBody
    ref_previous: bool = False
    ref_release: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ZeroScale:
    """Send the indicator its zero command."""


Output: TypeAlias = SetLights | Barrier | Say | WriteRecord | ZeroScale


def resolve_ref(
    write: WriteRecord, previous_id: bytes | None, *, release_id: bytes | None = None
) -> RecordBody:
    """The body to sign: with ``ref_previous``, its reference set to ``previous_id``; with
    ``ref_release``, an event's ``ref`` set to ``release_id`` (the lane's last release)."""
    if write.ref_release:
        if release_id is None:
            raise LocalError("ref_release needs a release written before it for the lane")
        if not isinstance(write.body, EventBody):
            raise LocalError("only an event refers to a release")
        return dataclasses.replace(write.body, ref=release_id)
    if not write.ref_previous:
        return write.body
    if previous_id is None:
        raise LocalError("ref_previous needs a record written before it in the same list")
    if isinstance(write.body, WeighingBody):
        return dataclasses.replace(write.body, evidence=previous_id)
    if isinstance(write.body, EventBody):
        return dataclasses.replace(write.body, ref=previous_id)
    raise LocalError("only weighing and event bodies carry a reference")
