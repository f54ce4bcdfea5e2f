"""Chain findings: exactly the gaps, broken links, duplicates and forks in a stored set."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from tests.wire import factories
from wire.chain import BrokenLink, Duplicate, Equivocation, Gap, check_chain
from wire.records import Record, sign_record

KEY = factories.device_key()
CHAIN = factories.chain(KEY, 12)


def fork(record: Record) -> Record:
    """Another record for the same seq, linked to the same predecessor: an equivocation."""
    return sign_record(
        KEY,
        site=record.site,
        device=record.device,
        seq=record.seq,
        prev=record.prev,
        ts=record.ts + 1,
        body=record.body,
    )


def test_intact_chain_in_any_order() -> None:
    report = check_chain(reversed(CHAIN))[KEY.kid]
    assert report.ok
    assert (report.contiguous, report.highest) == (12, 12)


def test_each_kind_of_finding() -> None:
    stored = [r for r in CHAIN if r.seq not in (3, 4, 9)]
    stored.append(CHAIN[0])  # seq 1 twice, same bytes
    stored.append(fork(CHAIN[5]))  # seq 6 twice, different bytes
    report = check_chain(stored)[KEY.kid]
    forked = fork(CHAIN[5]).id
    assert set(report.findings) == {
        Gap(device=KEY.kid, first=3, last=4),
        Gap(device=KEY.kid, first=9, last=9),
        Duplicate(device=KEY.kid, seq=1, record=CHAIN[0].id, copies=2),
        Equivocation(device=KEY.kid, seq=6, records=tuple(sorted((CHAIN[5].id, forked)))),
    }
    assert report.contiguous == 2
    assert report.highest == 12


def test_broken_link_when_the_predecessor_is_only_a_fork() -> None:
    stored = [fork(r) if r.seq == 7 else r for r in CHAIN]
    report = check_chain(stored)[KEY.kid]
    assert report.findings == (
        BrokenLink(device=KEY.kid, seq=8, record=CHAIN[7].id, prev=CHAIN[6].id),
    )
    assert report.contiguous == 12  # every record is there; the link is a finding


def test_devices_are_reported_separately() -> None:
    other = factories.device_key("yl-mine-a-gate-2", seed_byte=8)
    reports = check_chain([*CHAIN[:3], *factories.chain(other, 2)[1:]])
    assert reports[KEY.kid].ok
    assert reports[other.kid].findings == (Gap(device=other.kid, first=1, last=1),)
    assert reports[other.kid].contiguous == 0


@given(
    drop=st.sets(st.integers(1, 12)),
    duplicate=st.sets(st.integers(1, 12)),
    forked=st.sets(st.integers(1, 12)),
    keep_original=st.sets(st.integers(1, 12)),
    order=st.randoms(use_true_random=False),
)
def test_findings_are_exact(
    drop: set[int], duplicate: set[int], forked: set[int], keep_original: set[int], order: object
) -> None:
    """Build a damaged store, compute what must be reported independently, compare."""
    forks = {seq: FORKS[seq] for seq in forked}
    present: dict[int, list[Record]] = {}
    for record in CHAIN:
        seq = record.seq
        versions = []
        if seq not in drop and (seq not in forks or seq in keep_original):
            versions.append(record)
            if seq in duplicate:
                versions.append(replace(record))
        if seq in forks:
            versions.append(forks[seq])
        if versions:
            present[seq] = versions
    stored = [r for versions in present.values() for r in versions]
    order.shuffle(stored)  # type: ignore[attr-defined]
    if not stored:
        assert check_chain(stored) == {}
        return

    highest = max(present)
    expected: set[object] = set()
    missing = [seq for seq in range(1, highest + 1) if seq not in present]
    runs: list[list[int]] = []
    for seq in missing:
        if runs and runs[-1][-1] == seq - 1:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    expected |= {Gap(device=KEY.kid, first=run[0], last=run[-1]) for run in runs}
    for seq, versions in present.items():
        ids = [r.id for r in versions]
        for record_id in set(ids):
            if ids.count(record_id) > 1:
                expected.add(
                    Duplicate(
                        device=KEY.kid, seq=seq, record=record_id, copies=ids.count(record_id)
                    )
                )
        if len(set(ids)) > 1:
            expected.add(Equivocation(device=KEY.kid, seq=seq, records=tuple(sorted(set(ids)))))
        if seq - 1 in present:
            before = {r.id for r in present[seq - 1]}
            for record in {r.id: r for r in versions}.values():
                if record.prev not in before:
                    expected.add(
                        BrokenLink(device=KEY.kid, seq=seq, record=record.id, prev=record.prev)
                    )

    report = check_chain(stored)[KEY.kid]
    assert set(report.findings) == expected
    assert len(report.findings) == len(expected)
    contiguous = 0
    while contiguous + 1 in present:
        contiguous += 1
    assert report.contiguous == contiguous
    assert report.highest == highest


FORKS = {record.seq: fork(record) for record in CHAIN}
