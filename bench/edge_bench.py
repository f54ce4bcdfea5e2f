"""Edge soak: ``coalgate edge run`` with two lanes over many simulated weighings; RSS and CPU.

    python bench/edge_bench.py [--weighings 10000] [--samples 10] [--speed 200]
                               [--window-ms 100] [--gap-ms 150] [--batch 200]
                               [--max-wall-s S] [--quick]

Every part is the real thing: ``coalgate edge run`` as a subprocess with a two-lane site file;
each lane is a ``coalgate sim lane`` of its own (Modbus weight transmitter and IO module on one
TCP line, its cameras pushing plate reads to the edge's HTTP server, ``auto_barrier = false``
so a truck leaves only through a barrier the edge raised); a private Mosquitto on a free port;
central (``tests/edge/runtime/support.py``) in this process: its SQLite store, the real ingest
worker acking the edge's records (and, as in production, publishing the site's next bundle
after each batch that loaded tickets), the ticket service and the bundle publisher.

Trucks come in batches of ``--batch`` plates, each with a fresh ticket (the used-ticket rule:
a ticket serves once), listed in a new site bundle that the edge must hold before the batch
drives. Each lane takes one truck at a time: the next drives on once the last has left
through the barrier and the edge's lane is idle at zero (``/api/lanes``, a request or two per
weighing, counted in the edge's CPU), plus ``--gap-ms`` (default 150: the window and a little
more, so that the empty deck reads a stable zero; a truck sooner is held, ``zero_not_ok``).
Before the next batch, central plays the destination's gate for each ticket it saw loaded (a
signed arrival), so delivered tickets leave the bundle as they would.

The edge's stability window is wall-clock time, which sets the pace: ``--window-ms`` (default
100, the least a site file takes) and ``--speed`` (the simulators' time factor) are the
bench's settings, not production's (1 000 ms, real time); the edge polls scale and IO every
20 ms so that the window holds several readings. Each lane's thread checks that its truck left
(released); a truck still on the deck after 30 s means the edge held it, which stops the run
with a FAIL line (the figures so far are still printed). The gate's alarms are counted and
printed: at speed 200 a 20 ms poll is 4 s of lane time, so the gate now and then sees beams
and weight out of step (``escape``, ``tamper_beams``, ...) while still deciding right.

Figures: the edge process's RSS (``VmRSS`` in /proc/PID/status, in MiB) after every
``weighings/samples`` weighings; the least-squares slope of RSS over weighings from the first
sample after zero on (the first bundles and caches are warm-up); CPU (user + sys from
/proc/PID/stat, all its threads) per weighing over the run. The run exits 1, saying why, if
the final RSS is above 100 MB (95.4 MiB), if it grew more than 10 MiB after the first sample,
if the edge's release count differs from the trucks that left, or if the run stopped early.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import tempfile
import threading
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.edge.runtime.support when run as a script

from central.errors import NotFoundError  # noqa: E402 - after the path is set
from tests.central import builders as b  # noqa: E402
from tests.conftest import Mosquitto, free_port  # noqa: E402
from tests.edge.io_sim import ModbusSim  # noqa: E402
from tests.edge.runtime.support import (  # noqa: E402
    Central,
    EdgeProcess,
    lane_scenario,
    wall_ms,
)
from wire.keyfiles import write_signing_key  # noqa: E402
from wire.tickets import Ticket  # noqa: E402

LANES = ("lane1", "lane2")
RSS_LIMIT_MIB = 100e6 / 2**20  # 100 MB = 95.4 MiB
GROWTH_LIMIT_MIB = 10.0
LEAVE_WITHIN_S = 30.0
SETTLE_S = 2.0  # after start: the edge's zero tracking settles (a truck sooner is held)
TARE, LOAD = 15_000, 33_000  # gross 48 000 kg, within 49 000 kg for 6 axles; net 32 980 kg
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


# --- the edge process, from /proc ------------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime, stime


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    weighings: int
    rss_mib: float
    cpu_s: float
    at_s: float


# --- the gate house ----------------------------------------------------------------------------


def plates(count: int) -> list[str]:
    return [f"陕K{70000 + n:05d}" for n in range(count)]


def site_file(
    directory: Path, central: Central, *, broker: str, lines: dict[str, str], http_port: int,
    window_ms: int,
) -> Path:  # fmt: skip
    """Two ``[[lane]]`` tables, each on its own simulator's line."""
    keys = directory / "keys"
    keys.mkdir()
    key = central.edge.key
    write_signing_key(key, keys / f"{key.kid}.key")
    (keys / f"{b.CENTRAL.kid}.pub").write_bytes(b.CENTRAL.public.to_pem())
    text = f"""
[site]
id = "{central.edge.site}"
device = "{key.kid}"
device_key = "keys/{key.kid}.key"
central_keys = "keys/{b.CENTRAL.kid}.pub"
data_dir = "data"

[broker]
url = "{broker}"

[http]
bind = "127.0.0.1:{http_port}"
"""
    for lane, url in lines.items():
        text += f"""
[[lane]]
id = "{lane}"
direction = "out"
passes = "single"

[lane.scale]
modbus = "hr-int32"
url = "{url}"
unit_id = 2
division_kg = 10
capacity_kg = 60000
poll_interval_s = 0.02

[lane.io]
url = "{url}"
unit_id = 1
barrier = "pulse"
pulse_ms = 300
poll_interval_s = 0.02

[lane.thresholds]
window_ms = {window_ms}
"""
    site = directory / "site.toml"
    site.write_text(text, encoding="utf-8")
    return site


@dataclass
class Tickets:
    """Central's side of the tickets: a fresh one per plate per batch, arrivals at the end."""

    central: Central
    open: list[tuple[Ticket, str]] = field(default_factory=list)
    dest_seq: int = 0

    def issue(self, batch: list[str]) -> int:
        for plate in batch:
            self.open.append((self.central.issue(plate=plate), plate))
        return self.central.publish_bundle()

    def deliver_loaded(self) -> None:
        """The destination's gate receives every truck central saw loaded."""
        store, dest = self.central.store, self.central.region.dest
        still: list[tuple[Ticket, str]] = []
        arrivals = []
        for ticket, plate in self.open:
            try:
                stored = store.get_ticket(ticket.cti)
            except NotFoundError:
                continue
            if stored.state != "loaded" or stored.source_net_kg is None:
                still.append((ticket, plate))
                continue
            self.dest_seq += 1
            body = b.arrival(ticket.cti, stored.source_net_kg, plate=plate)
            record = dest.sign(self.dest_seq, body, ts=wall_ms())
            arrivals.append(b.incoming(record, received_at=wall_ms()))
        if arrivals:
            store.ingest(arrivals, [], now_ms=wall_ms())
        self.open = still


class Lane:
    """One lane's driver: a truck at a time; the next once the last has left and the edge's
    lane is idle at zero again, plus ``gap_s`` (its stability window and a little more, so
    that the empty deck reads a stable zero: a truck sooner is held, ``zero_not_ok``)."""

    def __init__(self, name: str, sim: ModbusSim, edge: EdgeProcess, *, gap_s: float) -> None:
        self.name = name
        self.sim = sim
        self.edge = edge
        self.gap_s = gap_s
        self.done = 0
        self.error: BaseException | None = None

    def drive(self, batch: list[str]) -> None:
        try:
            for plate in batch:
                self._weigh(plate)
                self.done += 1
                wait_for(self._idle_at_zero, within_s=LEAVE_WITHIN_S,
                         what=f"{self.name} idle at zero")  # fmt: skip
                time.sleep(self.gap_s)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread, which stops
            self.error = exc

    def _weigh(self, plate: str) -> None:
        """One truck drives on; wait until it has left through the raised barrier."""
        self.sim.truck(
            plate=plate, axles=6, kind="combination", tare_kg=TARE, load_kg=LOAD, stand_s=0
        )
        deadline = time.monotonic() + LEAVE_WITHIN_S
        while any(t["plate"] == plate for t in self.sim.state()["trucks"]):
            if time.monotonic() > deadline:
                said = [d["reasons"] for d in self._lane()["decisions"] if d["plate"] == plate]
                raise BenchError(f"{self.name}: truck {plate} not released within "
                                 f"{LEAVE_WITHIN_S:.0f} s; the edge said {said}")  # fmt: skip
            time.sleep(0.01)

    def _lane(self) -> dict[str, Any]:
        lanes: list[dict[str, Any]] = self.edge.get("/api/lanes")["lanes"]
        return next(lane for lane in lanes if lane["id"] == self.name)

    def _idle_at_zero(self) -> bool:
        lane = self._lane()
        return bool(lane["state"] == "idle" and lane["weight_kg"] == 0)


def wait_for(check: Any, *, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"not seen within {within_s:.0f} s: {what}")
        time.sleep(0.02)


def bundle_loaded(edge: EdgeProcess, version: int) -> bool:
    try:
        lanes = edge.get("/api/lanes")["lanes"]
    except (OSError, urllib.error.URLError):
        return False
    # >=: the ingest worker publishes a newer bundle after every batch that loaded tickets
    return all((lane["bundle_version"] or 0) >= version for lane in lanes)


def counters(metrics: str, family: str, *labels: str) -> dict[str, int]:
    """``label/label`` → count of a counter family, summed over the lanes."""
    found: dict[str, int] = {}
    for line in metrics.splitlines():
        if line.startswith(family + "{"):
            text, value = line.rsplit(" ", 1)
            parts = dict(p.split("=", 1) for p in text[text.index("{") + 1 : -1].split(","))
            key = "/".join(parts[name].strip('"') for name in labels)
            found[key] = found.get(key, 0) + int(float(value))
    return found


# --- the run -------------------------------------------------------------------------------


@dataclass
class Outcome:
    samples: list[Sample] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    alarms: dict[str, int] = field(default_factory=dict)
    bundles: int = 0  # site bundles central published (the ingest worker's and the bench's)
    wall_s: float = 0.0
    stopped: str | None = None  # why the run ended before ``--weighings``


def run(args: argparse.Namespace, tmp: Path) -> Outcome:
    broker = Mosquitto(tmp)
    broker.start()
    central = Central(tmp, broker)
    pool = plates(args.batch)
    central.store.upsert_vehicles([b.vehicle(p) for p in pool], actor="bench", at=wall_ms())
    http_port = free_port()
    sims: list[ModbusSim] = []
    edge: EdgeProcess | None = None
    outcome = Outcome()
    try:
        for lane in LANES:
            path = lane_scenario(tmp / f"{lane}.toml", name=lane, camera_port=http_port,
                                 speed=args.speed)  # fmt: skip
            sims.append(ModbusSim.lane(path))
        lines = {name: sim.url for name, sim in zip(LANES, sims, strict=True)}
        site = site_file(tmp, central, broker=broker.url, lines=lines, http_port=http_port,
                         window_ms=args.window_ms)  # fmt: skip
        edge = EdgeProcess(site, http_port=http_port, log_path=tmp / "edge.log")
        drive(args, edge=edge, central=central, sims=sims, pool=pool, outcome=outcome)
        metrics = edge.metrics()
        outcome.decisions = counters(metrics, "coalgate_edge_decisions_total", "decision",
                                     "reason")  # fmt: skip
        outcome.alarms = counters(metrics, "coalgate_edge_alarms_total", "kind")
        outcome.bundles = central.store.bundle_version(central.edge.site)
        return outcome
    finally:
        if edge is not None:
            edge.stop()
        for sim in sims:
            sim.stop()
        central.close()
        broker.stop()


def drive(
    args: argparse.Namespace, *, edge: EdgeProcess, central: Central, sims: list[ModbusSim],
    pool: list[str], outcome: Outcome,
) -> None:  # fmt: skip
    """Batches of trucks over both lanes, sampling the edge along the way, into ``outcome``."""
    pid = edge.process.pid
    tickets = Tickets(central)
    lanes = [Lane(n, s, edge, gap_s=args.gap_ms / 1000) for n, s in zip(LANES, sims, strict=True)]
    every = max(1, args.weighings // args.samples)
    samples = outcome.samples
    started = time.monotonic()

    def sample(count: int) -> None:
        now = Sample(weighings=count, rss_mib=rss_mib(pid), cpu_s=cpu_s(pid),
                     at_s=time.monotonic() - started)  # fmt: skip
        samples.append(now)
        if count:
            per = (now.cpu_s - samples[0].cpu_s) / count * 1000
            print(f"  {count:>6} weighings: RSS {now.rss_mib:.1f} MiB, CPU {per:.1f} ms/weighing, "
                  f"{now.at_s:.0f} s", flush=True)  # fmt: skip

    left, next_sample = args.weighings, every
    while left > 0:
        if args.max_wall_s and samples and time.monotonic() - started > args.max_wall_s:
            outcome.stopped = f"the wall-clock limit of {args.max_wall_s:.0f} s"
            break
        size = min(args.batch, left)
        version = tickets.issue(pool[:size])
        wait_for(lambda v=version: bundle_loaded(edge, v), within_s=30,
                 what=f"bundle {version} at the edge")  # fmt: skip
        if not samples:  # the first bundle is in; the first truck waits for a settled zero
            time.sleep(SETTLE_S)
            started = time.monotonic()
            sample(0)
        half = (size + 1) // 2
        threads = [
            threading.Thread(target=lane.drive, args=(part,), name=f"bench-{lane.name}")
            for lane, part in zip(lanes, (pool[:half], pool[half:size]), strict=True)
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            time.sleep(0.05)
            while sum(lane.done for lane in lanes) >= next_sample <= args.weighings:
                sample(next_sample)
                next_sample += every
        errors = [str(lane.error) for lane in lanes if lane.error is not None]
        if errors:
            outcome.stopped = "; ".join(errors)
            break
        left -= size
        tickets.deliver_loaded()
    done = sum(lane.done for lane in lanes)
    if samples[-1].weighings != done:
        sample(done)
    outcome.wall_s = samples[-1].at_s


def slope_per_1k(samples: list[Sample]) -> float:
    """Least-squares MiB per 1,000 weighings over ``samples``."""
    if len(samples) < 2:
        return 0.0
    xs = [s.weighings / 1000 for s in samples]
    ys = [s.rss_mib for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def report(outcome: Outcome) -> list[str]:
    """The figures, and the problems that make the run fail."""
    samples = outcome.samples
    first, last = samples[0], samples[-1]
    done = last.weighings
    mid = min(samples, key=lambda s: abs(s.weighings - done / 2))
    cpu = last.cpu_s - first.cpu_s
    wall = max(outcome.wall_s, 1e-9)
    print(f"weighings: {done} in {wall:.0f} s wall ({done / wall:.2f}/s)")
    print("decisions: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome.decisions.items())))
    alarms = ", ".join(f"{k} {v}" for k, v in sorted(outcome.alarms.items())) or "none"
    print(f"alarms: {alarms}")
    print(f"site bundles published: {outcome.bundles}")
    print("edge RSS after N weighings (MiB): " + ", ".join(
        f"{s.weighings}: {s.rss_mib:.1f}" for s in samples))  # fmt: skip
    print(f"edge RSS start / mid / end: {first.rss_mib:.1f} / {mid.rss_mib:.1f} / "
          f"{last.rss_mib:.1f} MiB")  # fmt: skip
    slope = slope_per_1k(samples[1:] if len(samples) > 2 else samples)
    print(f"edge RSS slope: {slope:+.2f} MiB per 1,000 weighings")
    print(f"edge CPU per weighing: {cpu / max(done, 1) * 1000:.1f} ms "
          f"(user + sys, {cpu:.1f} s over {done})")  # fmt: skip
    problems = []
    if outcome.stopped is not None:
        problems.append(f"stopped early: {outcome.stopped}")
    if last.rss_mib > RSS_LIMIT_MIB:
        problems.append(f"the edge's RSS ended at {last.rss_mib:.1f} MiB, over 100 MB "
                        f"({RSS_LIMIT_MIB:.1f} MiB)")  # fmt: skip
    warm = samples[1] if len(samples) > 2 else first  # after the first weighings and bundles
    if last.rss_mib - warm.rss_mib > GROWTH_LIMIT_MIB:
        problems.append(
            f"the edge's RSS grew {last.rss_mib - warm.rss_mib:.1f} MiB after {warm.weighings} "
            f"weighings, over {GROWTH_LIMIT_MIB:.0f}"
        )
    released = outcome.decisions.get("release/ok", 0)
    if released != done:
        problems.append(f"{done} trucks left but the edge counts {released} releases")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--weighings", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=10, help="RSS samples along the way")
    parser.add_argument("--speed", type=float, default=200.0, help="the simulators' time factor")
    parser.add_argument("--window-ms", type=int, default=100, help="the lanes' stability window")
    parser.add_argument(
        "--gap-ms",
        type=int,
        default=150,
        help="after a truck left and the lane is idle at zero, before the next drives on",
    )
    parser.add_argument("--batch", type=int, default=200, help="tickets per site bundle")
    parser.add_argument(
        "--max-wall-s", type=float, default=0.0,
        help="stop after the batch running at this many seconds (0: no limit)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="4 weighings (the smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.weighings, args.samples, args.batch = 4, 2, 4
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{args.weighings} weighings over {len(LANES)} lanes; simulator speed {args.speed:g}, "
          f"stability window {args.window_ms} ms, gap {args.gap_ms} ms, {args.batch} tickets "
          "per bundle", flush=True)  # fmt: skip
    # SIGTERM (a timeout, a person) ends the run through the cleanup: no orphaned processes
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="coalgate-edge-bench-") as tmp_name:
        try:
            outcome = run(args, Path(tmp_name))
        except (BenchError, AssertionError, OSError, urllib.error.URLError) as exc:
            print(f"error: {exc}", file=sys.stderr)  # a part did not start or answer: one line
            return 2
    problems = report(outcome)
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
