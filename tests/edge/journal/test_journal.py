"""The journal on a real SQLite file: seq and chain across restarts and kill -9, the disk
budget, acks and retention, and the cached bundle."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.errors import JournalError, JournalFullError
from edge.journal.store import AckOutcome, Journal, JournalEntry
from tests.edge.journal.support import (
    DEVICE,
    SITE,
    T0,
    body_for,
    chain_report,
    device_key,
    verified,
)
from tests.wire import factories
from wire.records import ZERO_HASH, record_id

ROOT = Path(__file__).resolve().parents[3]


def open_journal(path: Path, **options: int | float) -> Journal:
    return Journal.open(path, key=device_key(), site=SITE, device=DEVICE, **options)  # type: ignore[arg-type]


def append(journal: Journal, number: int) -> JournalEntry:
    body = body_for(number)
    return journal.append(record_type=body.TYPE, body=body, ts_ms=T0 + number)


def all_records(journal: Journal) -> list[bytes]:
    return [entry.data for entry in journal.entries()]


def test_append_signs_chains_and_numbers_from_one(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j.db") as journal:
        entries = [append(journal, n) for n in range(1, 9)]
        assert [e.seq for e in entries] == list(range(1, 9))
        records = verified(all_records(journal))
    assert records[0].prev == ZERO_HASH
    for entry, record in zip(entries, records, strict=True):
        assert entry.record_id == record.id == record_id(entry.data)
        assert (record.site, record.device) == (SITE, DEVICE)
    report = chain_report(records)
    assert report.ok
    assert report.contiguous == 8
    assert {r.type for r in records} == {"weighing", "evidence", "event", "status"}


def test_reopen_keeps_seq_chain_and_ack(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        for n in range(1, 6):
            append(journal, n)
        assert journal.acked(3) is AckOutcome.ADVANCED
        last = journal.last_record_id
    with open_journal(path) as journal:
        assert (journal.highest_seq, journal.acked_seq, journal.last_record_id) == (5, 3, last)
        entry = append(journal, 6)
        assert entry.seq == 6
        assert [e.seq for e in journal.pending()] == [4, 5, 6]
        records = verified(all_records(journal))
    assert records[-1].prev == last
    assert chain_report(records).ok


def test_append_refuses_a_type_that_does_not_match_the_body(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j.db") as journal:
        with pytest.raises(ValueError, match="does not match"):
            journal.append(record_type="weighing", body=factories.status(), ts_ms=T0)
        assert journal.highest_seq == 0


def test_a_journal_belongs_to_one_device(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        append(journal, 1)
    other = factories.device_key("yl-mine-a-gate-2", seed_byte=9)
    with pytest.raises(JournalError, match="belongs to") as caught:
        Journal.open(path, key=other, site=SITE, device=other.kid)
    assert caught.value.reason == "journal_fault"
    with pytest.raises(JournalError, match="belongs to"):
        Journal.open(path, key=device_key(), site="yl-mine-b", device=DEVICE)


def test_a_last_record_under_another_key_is_refused(tmp_path: Path) -> None:
    """Same device id, different key (a copied journal, a replaced key): not this device's."""
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        append(journal, 1)
    impostor = factories.device_key(DEVICE, seed_byte=99)
    with pytest.raises(JournalError, match="does not verify"):
        Journal.open(path, key=impostor, site=SITE, device=DEVICE)


def test_acks_keep_the_maximum_and_ignore_one_beyond_the_highest(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j.db") as journal:
        for n in range(1, 11):
            append(journal, n)
        assert journal.acked(7) is AckOutcome.ADVANCED
        assert journal.acked(4) is AckOutcome.STALE
        assert journal.acked(7) is AckOutcome.STALE
        assert journal.acked(11) is AckOutcome.BEYOND
        assert journal.acked_seq == 7
        assert [e.seq for e in journal.pending(limit=2)] == [8, 9]
        assert [e.seq for e in journal.pending(after_seq=8)] == [9, 10]
        assert journal.usage().backlog == 3


def test_prune_deletes_only_acked_records_and_keeps_the_last(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        for n in range(1, 21):
            append(journal, n)
        assert journal.prune() == 0  # nothing acked, nothing deleted
        journal.acked(12)
        assert journal.prune(keep=2) == 10
        assert [e.seq for e in journal.entries()] == list(range(11, 21))
        journal.acked(20)
        assert journal.prune() == 9
        assert [e.seq for e in journal.entries()] == [20]  # the chain's anchor stays
    with open_journal(path) as journal:
        assert append(journal, 21).seq == 21
        records = verified(all_records(journal))
    assert records[1].prev == records[0].id


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.integers(1, 5)),
            st.tuples(st.just("ack"), st.integers(0, 60)),
            st.tuples(st.just("prune"), st.integers(0, 5)),
        ),
        max_size=25,
    )
)
def test_nothing_un_acked_is_ever_deleted(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int]]
) -> None:
    path = tmp_path_factory.mktemp("prop") / "j.db"
    number = 0
    with open_journal(path) as journal:
        for action, value in steps:
            if action == "append":
                for _ in range(value):
                    number += 1
                    append(journal, number)
            elif action == "ack":
                journal.acked(value)
            else:
                journal.prune(keep=value)
            present = [e.seq for e in journal.entries(from_seq=1)]
            acked, highest = journal.acked_seq, journal.highest_seq
            assert acked <= highest == number
            unacked = list(range(acked + 1, highest + 1))
            assert [s for s in present if s > acked] == unacked
            assert highest == 0 or present[-1] == highest
            assert [e.seq for e in journal.pending(limit=1000)] == unacked


def test_disk_budget_raises_the_alarm_long_before_refusing(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with open_journal(path) as probe:
        empty = probe.usage().used_bytes
    budget = empty + 64 * 1024
    with open_journal(path, budget_bytes=budget, alarm_fraction=0.8) as journal:
        alarm_at: int | None = None
        number = 0
        refused: JournalFullError | None = None
        while refused is None:
            number += 1
            try:
                append(journal, number)
            except JournalFullError as exc:
                refused = exc
            usage = journal.usage()
            assert usage.used_bytes <= budget
            if usage.alarm and alarm_at is None:
                alarm_at = journal.highest_seq
        full_at = journal.highest_seq
        assert refused.reason == "journal_fault"
        assert refused.budget_bytes == budget
        assert alarm_at is not None
        assert alarm_at < full_at * 0.9  # warned with room to spare
        # the refusal consumed no seq and deleted nothing
        assert [e.seq for e in journal.entries()] == list(range(1, full_at + 1))
        assert chain_report(verified(all_records(journal))).ok
        # central acks, retention runs, and the lane can write again
        journal.acked(full_at - 5)
        journal.prune()
        assert not journal.usage().alarm
        assert append(journal, number).seq == full_at + 1
        assert [e.seq for e in journal.pending()] == list(range(full_at - 4, full_at + 2))


def test_bundle_cache_keeps_only_newer_versions_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        assert journal.bundle() is None
        assert journal.store_bundle(version=3, data=b"v3", received_ms=T0)
        assert not journal.store_bundle(version=3, data=b"again", received_ms=T0 + 1)
        assert not journal.store_bundle(version=2, data=b"older", received_ms=T0 + 2)
        assert journal.store_bundle(version=5, data=b"v5", received_ms=T0 + 3)
    with open_journal(path) as journal:
        cached = journal.bundle()
    assert cached is not None
    assert (cached.version, cached.data, cached.received_ms) == (5, b"v5", T0 + 3)


def test_reject_is_persisted_until_cleared(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        assert journal.rejected() is None
        journal.set_rejected("revoked")
    with open_journal(path) as journal:
        assert journal.rejected() == "revoked"
        journal.set_rejected(None)
        assert journal.rejected() is None


def test_listeners_hear_each_committed_entry(tmp_path: Path) -> None:
    heard: list[int] = []
    with open_journal(tmp_path / "j.db") as journal:

        def listener(entry: JournalEntry) -> None:
            heard.append(entry.seq)

        journal.add_listener(listener)
        append(journal, 1)
        append(journal, 2)
        journal.remove_listener(listener)
        append(journal, 3)
    assert heard == [1, 2]


# --- kill -9 ----------------------------------------------------------------------------


def run_and_kill(path: Path, lines: int) -> dict[int, str]:
    """Start the appender, read ``lines`` acknowledged appends, SIGKILL it mid-stream."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.edge.journal.appender", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    returned: dict[int, str] = {}
    try:
        assert process.stdout is not None
        while len(returned) < lines:
            line = process.stdout.readline()
            if not line:
                stderr = process.stderr.read() if process.stderr else b""
                raise AssertionError(f"appender died: {stderr.decode()[-2000:]}")
            seq, rid = line.decode().split()
            returned[int(seq)] = rid
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert process.returncode == -signal.SIGKILL
    return returned


@pytest.mark.slow
def test_kill_9_mid_stream_never_loses_gaps_or_repeats(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    rng = random.Random(20261129)
    promised: dict[int, str] = {}
    for iteration in range(10):
        lines = rng.randint(1, 120)
        returned = run_and_kill(path, lines)
        assert not promised.keys() & returned.keys(), "a seq was handed out twice"
        promised.update(returned)
        with open_journal(path) as journal:
            entries = list(journal.entries())
            highest = journal.highest_seq
        seqs = [e.seq for e in entries]
        assert seqs == list(range(1, highest + 1)), f"iteration {iteration}: gap or duplicate"
        stored = {e.seq: e.record_id.hex() for e in entries}
        for seq, rid in promised.items():
            assert stored[seq] == rid, f"seq {seq} was promised durable but is lost or changed"
        # anything beyond what was printed was committed and its line lost with the process
        records = verified(e.data for e in entries)
        report = chain_report(records)
        assert report.ok, report.findings
        assert report.contiguous == highest
        print(f"iteration {iteration}: killed after {lines} lines; {highest} records intact")
