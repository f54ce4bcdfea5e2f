"""Decision latency: from the stable reading to an executable ``Barrier(up=True)``.

    python bench/gate_bench.py [--weighings 1000] [--trucks 200] [--warmup 20] [--fsyncs 200]
                               [--dir DIR]

A real ``edge.gate.lane.Lane`` (outbound, single pass) is driven through whole visits — empty
deck and zero, entry plate read, driving on, positioning, settling, release, exit — with real
tickets and site bundles signed by a central test key (``tests/edge/gate/builders.py``). Every
output list is executed as the contract of ``edge/gate/outputs.py`` says: each ``WriteRecord``
is signed, chained and committed to a real ``edge.journal.store.Journal`` (SQLite WAL,
``synchronous=FULL``: an fsync per record) in ``--dir`` before any later output runs, with
``ref_previous`` resolved to the record written just before.

Latency per weighing = the wall time from handing the lane the ``WeightIn`` that completes the
stability window until the executor reaches the ``Barrier(up=True)`` of the list that step
returned: the core's step (deciding, verifying the ticket's signature), then the evidence and
the weighing records each signed and committed, then ``SetLights``. Device commands cost
nothing here (the IO module's Modbus write is the drivers' subject, ``bench/driver_bench.py``).
The split: core step time, signing (``wire.records.sign_record`` as the journal calls it,
timed around the real function) and journal commit (the rest of ``Journal.append``: the
insert, the fsync'd commit, the bookkeeping). p50/p99/max over ``--weighings`` releases after
``--warmup`` unmeasured ones; target p99 <= 20 ms. The lane's clock is simulated (``now_ms``),
so only the work is timed, never waiting.

Each of ``--trucks`` plates holds one open ticket per bundle; after every round of ``--trucks``
weighings central's next bundle (fresh tickets, a higher version) is fed to the lane as a
``BundleIn``, as the uplink would. ``--fsyncs`` times that many plain 1 KiB write + fsync
calls in the same directory, printed beside the figures: what the disk itself charges for one
durable write. Figures are printed for people to read; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.edge.gate.builders when run as a script

import edge.journal.store as journal_store  # noqa: E402 - after the path is set
from edge.gate.inputs import BundleIn, Input, WeightIn  # noqa: E402
from edge.gate.lane import Lane  # noqa: E402
from edge.gate.outputs import Barrier, Output, WriteRecord, resolve_ref  # noqa: E402
from edge.journal.store import Journal  # noqa: E402
from tests.edge.gate import builders as b  # noqa: E402
from tests.wire import central_factories as cf  # noqa: E402
from wire.bundles import Bundle, Vehicle  # noqa: E402
from wire.records import Record  # noqa: E402

TARGET_P99_MS = 20.0
GROSS = 45_000  # within the 6-axle limit (49 t); net 29 980 under the ticket's 35 000
TARE = 15_020


class SignTimer:
    """Wraps ``sign_record`` where the journal calls it, adding up the time spent inside."""

    def __init__(self, sign: Callable[..., Record]) -> None:
        self._sign = sign
        self.total_s = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Record:
        start = time.perf_counter()
        try:
            return self._sign(*args, **kwargs)
        finally:
            self.total_s += time.perf_counter() - start


@contextmanager
def timed_signing() -> Iterator[SignTimer]:
    """The journal's ``sign_record`` timed while inside (the module attribute it looks up)."""
    names = vars(journal_store)
    real = names["sign_record"]
    timer = SignTimer(real)
    names["sign_record"] = timer
    try:
        yield timer
    finally:
        names["sign_record"] = real


@dataclass
class Sample:
    """One release: seconds in the core, signing, and the rest of the journal's appends."""

    total_s: float
    core_s: float
    sign_s: float
    commit_s: float


@dataclass
class Executor:
    """Runs output lists against the journal, per the contract of ``edge.gate.outputs``."""

    journal: Journal
    signing: SignTimer
    appends_s: float = 0.0
    records: int = 0
    commands: int = 0

    def run(self, outputs: Sequence[Output], *, now_ms: int) -> float | None:
        """Execute ``outputs``; the perf_counter time at which a ``Barrier(up=True)`` was
        reached (every output before it done), or None."""
        reached: float | None = None
        previous: bytes | None = None
        for output in outputs:
            if isinstance(output, WriteRecord):
                start = time.perf_counter()
                entry = self.journal.append(
                    record_type=output.type, body=resolve_ref(output, previous), ts_ms=now_ms
                )
                self.appends_s += time.perf_counter() - start
                self.records += 1
                previous = entry.record_id
                continue
            if isinstance(output, Barrier) and output.up and reached is None:
                reached = time.perf_counter()
            self.commands += 1  # lights, barrier, text: a device would act here
        return reached


def plates(count: int) -> list[str]:
    return [f"陕K{10_000 + number:05d}" for number in range(count)]


def site_bundle(round_no: int, fleet: Sequence[str]) -> Bundle:
    """Bundle ``round_no + 1``: one fresh issued ticket for every truck of the fleet."""
    tickets = []
    for index, plate in enumerate(fleet):
        serial = round_no * len(fleet) + index
        ticket = b.ticket(cti=serial.to_bytes(16, "big"), plate=plate, no=f"YL2026120{serial:09d}")
        tickets.append(b.issued(ticket))
    vehicle = Vehicle(axles=6, kind="combination", single_drive=False, tare_kg=TARE, trailer=None)
    return b.bundle(tickets, version=round_no + 1, vehicles=dict.fromkeys(fleet, vehicle))


class ExecutedRun(b.Run):
    """``builders.Run`` (visits in simulated time) whose every output list is executed."""

    def __init__(self, lane: Lane, executor: Executor) -> None:
        super().__init__(lane)
        self.executor = executor

    def feed(self, item: Input, *, after_ms: int = 0) -> list[Output]:
        outputs = super().feed(item, after_ms=after_ms)
        self.executor.run(outputs, now_ms=self.now)
        return outputs


class Driver:
    """Plays whole visits on the lane and times each release."""

    def __init__(self, lane: Lane, executor: Executor) -> None:
        self.run = ExecutedRun(lane, executor)
        self.executor = executor
        self.samples: list[Sample] = []
        self.holds = 0

    def visit(self, plate: str) -> Sample | None:
        """One truck from arrival to exit; the sample of its release (None: it was held)."""
        run = self.run
        run.empty_deck()
        run.plate(plate, 96)
        run.set_beams(entry=True)
        run.set_beams(entry=False, rear=True)
        run.hold_weight(GROSS // 2, ms=300)
        run.set_beams(rear=False)
        sample = self._settle()
        if sample is None:
            self.holds += 1
            run.back_off()
            run.outputs.clear()
            return None
        run.drive_off_exit()
        run.outputs.clear()  # the visit is done; keep memory flat
        return sample

    def _settle(self) -> Sample | None:
        """Readings every 100 ms until one of them is the release (or the lane holds)."""
        run, executor = self.run, self.executor
        for _ in range(40):
            run.now += run.every
            appends, signing = executor.appends_s, executor.signing.total_s
            start = time.perf_counter()
            outputs = run.lane.step(WeightIn(kg=GROSS), now_ms=run.now)
            stepped = time.perf_counter()
            reached = executor.run(outputs, now_ms=run.now)
            if reached is not None:
                sign_s = executor.signing.total_s - signing
                return Sample(
                    total_s=reached - start,
                    core_s=stepped - start,
                    sign_s=sign_s,
                    commit_s=executor.appends_s - appends - sign_s,
                )
            if run.lane.state == "held":
                return None
        return None


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def filesystem(path: Path) -> str:
    """The type of the filesystem holding ``path`` (so a reader sees whether fsync hit a disk)."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and resolved.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def raw_fsyncs(directory: Path, count: int) -> list[float]:
    """Seconds per 1 KiB append + ``os.fsync`` on a plain file in ``directory``: what the
    disk itself charges for one durable write, for comparison with a journal commit."""
    times = []
    path = directory / "fsync.probe"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(count):
            start = time.perf_counter()
            os.write(descriptor, b"x" * 1024)
            os.fsync(descriptor)
            times.append(time.perf_counter() - start)
    finally:
        os.close(descriptor)
        path.unlink()
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--weighings", type=int, default=1000, help="releases measured")
    parser.add_argument("--trucks", type=int, default=200, help="plates, one ticket each")
    parser.add_argument("--warmup", type=int, default=20, help="releases not measured")
    parser.add_argument("--fsyncs", type=int, default=200, help="raw fsync probes")
    parser.add_argument("--dir", type=Path, default=None, help="where the journal is written")
    args = parser.parse_args()
    fleet = plates(args.trucks)
    total = args.warmup + args.weighings
    rounds = -(-total // args.trucks)
    bundles = [site_bundle(number, fleet) for number in range(rounds)]

    with tempfile.TemporaryDirectory(prefix="coalgate-gate-bench-", dir=args.dir) as tmp:
        path = Path(tmp) / "journal.db"
        with (
            timed_signing() as signing,
            Journal.open(path, key=cf.DEVICE_KEY, site=cf.SITE, device=cf.DEVICE) as journal,
        ):
            lane = b.lane(b.config(), bundle=bundles[0])
            driver = Driver(lane, Executor(journal=journal, signing=signing))
            started = time.perf_counter()
            for number in range(total):
                round_no, index = divmod(number, args.trucks)
                if index == 0 and round_no > 0:
                    driver.run.feed(BundleIn(bundle=bundles[round_no]), after_ms=10)
                sample = driver.visit(fleet[index])
                if sample is not None and number >= args.warmup:
                    driver.samples.append(sample)
            elapsed = time.perf_counter() - started
            records = journal.highest_seq
            size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        fsyncs = raw_fsyncs(Path(tmp), args.fsyncs)
        fs = filesystem(Path(tmp))

    samples = driver.samples
    if not samples:
        raise SystemExit("no release was measured: every truck was held")
    latency = [s.total_s for s in samples]
    p99 = percentile(latency, 0.99)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f"; load average {load} (a busy machine delays every wake-up after an fsync)"
    )
    print(f"journal: SQLite WAL, synchronous=FULL, on {fs} ({tmp})")
    print(
        f"lane: outbound single pass, {args.trucks} trucks, {rounds} bundles; "
        f"{len(samples)} releases measured after {args.warmup} warm-up, {driver.holds} held"
    )
    print(
        f"records written: {records} ({size // 1024} KiB with the WAL), "
        f"{elapsed:.1f} s wall for {total} visits"
    )
    print(
        "decision latency, stable reading to Barrier(up=True) (ms): "
        f"p50 {ms(percentile(latency, 0.5))}  p99 {ms(p99)}  max {ms(max(latency))}"
    )
    print(f"target p99 <= {TARGET_P99_MS:.0f} ms; p99 / target = {p99 * 1000 / TARGET_P99_MS:.2f}")
    for name, values in (
        ("core step (decide, verify ticket)", [s.core_s for s in samples]),
        ("signing, 2 records", [s.sign_s for s in samples]),
        ("journal commit, 2 records (fsync each)", [s.commit_s for s in samples]),
    ):
        print(
            f"  {name} (ms): p50 {ms(statistics.median(values))}  "
            f"p99 {ms(percentile(values, 0.99))}  max {ms(max(values))}"
        )
    print(
        f"  raw fsync of 1 KiB on the same disk (ms): p50 {ms(statistics.median(fsyncs))}  "
        f"p99 {ms(percentile(fsyncs, 0.99))}  max {ms(max(fsyncs))}"
    )
    share = statistics.fmean(s.commit_s for s in samples) / statistics.fmean(latency)
    print(f"journal commit share of the mean latency: {share:.0%}")


if __name__ == "__main__":
    main()
