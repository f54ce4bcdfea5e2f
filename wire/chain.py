"""Chain verification over one device's stored records (WIRE.md "Order", DESIGN.md).

Pure: records in, findings out, in any input order. Problems are reported as typed findings,
never raised, because central must keep every record and still say exactly what is wrong:

- ``Gap``: seqs missing below the highest seq present (a record that never arrived, so far);
- ``BrokenLink``: a record whose ``prev`` is not the id of any stored record at seq - 1;
- ``Duplicate``: the same bytes given more than once (harmless, but counted);
- ``Equivocation``: different bytes for one seq — the device signed two histories.

What happens after the highest seq present cannot be seen from the records alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from wire.records import Record


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    device: str
    first: int
    last: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokenLink:
    device: str
    seq: int
    record: bytes
    prev: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Duplicate:
    device: str
    seq: int
    record: bytes
    copies: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Equivocation:
    device: str
    seq: int
    records: tuple[bytes, ...]


Finding = Gap | BrokenLink | Duplicate | Equivocation


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainReport:
    """What the stored records of one device say about its chain."""

    device: str
    contiguous: int
    """Highest n such that seqs 1..n are all present (0: none). This is what an ack may cover:
    a broken link or an equivocation is a finding about the device, not a missing record."""
    highest: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def check_chain(records: Iterable[Record]) -> dict[str, ChainReport]:
    """Check the chains of the devices in ``records``; one report per device."""
    by_device: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_device[record.device].append(record)
    return {device: _check_device(device, items) for device, items in sorted(by_device.items())}


def _check_device(device: str, records: list[Record]) -> ChainReport:
    versions: dict[int, dict[bytes, int]] = defaultdict(dict)  # seq -> {record id: copies}
    by_id: dict[bytes, Record] = {}
    for record in records:
        copies = versions[record.seq]
        copies[record.id] = copies.get(record.id, 0) + 1
        by_id[record.id] = record

    findings: list[Finding] = []
    highest = max(versions)
    missing_from: int | None = None
    contiguous = 0
    for seq in range(1, highest + 1):
        ids = versions.get(seq)
        if ids is None:
            if missing_from is None:
                missing_from = seq
            continue
        if missing_from is not None:
            findings.append(Gap(device=device, first=missing_from, last=seq - 1))
            missing_from = None
        for record_id, count in sorted(ids.items()):
            if count > 1:
                findings.append(Duplicate(device=device, seq=seq, record=record_id, copies=count))
        if len(ids) > 1:
            findings.append(Equivocation(device=device, seq=seq, records=tuple(sorted(ids))))
        if seq > 1 and seq - 1 in versions:
            for record_id in sorted(ids):
                prev = by_id[record_id].prev
                if prev not in versions[seq - 1]:
                    findings.append(BrokenLink(device=device, seq=seq, record=record_id, prev=prev))
        if contiguous == seq - 1:
            contiguous = seq
    return ChainReport(
        device=device, contiguous=contiguous, highest=highest, findings=tuple(findings)
    )
