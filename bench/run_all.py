"""Run every benchmark in bench/ and write their figures as one Markdown report.

    python bench/run_all.py                      # sensible sizes, writes docs/performance.md
    python bench/run_all.py --quick --out /tmp/perf.md   # tiny sizes (the smoke test)

Each benchmark runs as its own process, one after the other (they measure CPU and latency; on
a small machine two at once would measure each other). Its text output is parsed into rows:
the figure, the reference it is measured against in the same run (raw Ed25519, a bare ingest
pipeline, a raw fsync) or the target from DESIGN.md, and the ratio. A benchmark whose output no
longer matches the parser fails the run, naming the line it looked for. The benchmarks that
start their own Mosquitto (ingest, uplink, edge) are skipped, and say so, when it is missing.
edge_bench exits 1 when one of its checks (RSS, growth, releases) fails: its figures are kept
and the failed checks are a row of the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    figure: str
    value: str
    reference: str = "—"
    ratio: str = "—"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bench:
    name: str  # the file's stem
    what: str
    args: tuple[str, ...]
    quick: tuple[str, ...]
    parse: Callable[[str], list[Row]]
    needs_mosquitto: bool = False
    checks: bool = False  # exit 1: the figures are printed, a check failed (a row says which)


class ParseError(Exception):
    pass


def find(pattern: str, text: str, bench: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise ParseError(f"{bench}: no line matching {pattern!r} in its output")
    return match


def number(text: str) -> float:
    return float(text.replace(",", ""))


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}" if reference else "—"


# --- parsers: one per benchmark, from its printed lines ---------------------------------------


def parse_wire(out: str) -> list[Row]:
    def per_s(label: str) -> float:
        return number(find(rf"^{re.escape(label)}\s+([\d,]+)$", out, "wire_bench").group(1))

    def printed_ratio(label: str) -> str:  # the bench's own, from its paired rounds
        return find(rf"^{re.escape(label)}:\s+([\d.]+)", out, "wire_bench").group(1)

    sign_raw = per_s("raw Ed25519 sign/s (cryptography)")
    verify_raw = per_s("raw Ed25519 verify/s (cryptography)")
    rows = [
        Row(figure="records signed/s (wire.sign_record)",
            value=f"{per_s('records signed/s (wire.sign_record)'):,.0f}",
            reference=f"raw Ed25519 sign/s: {sign_raw:,.0f}",
            ratio=printed_ratio("sign ratio (records / raw)")),
        Row(figure="records verified/s (wire.verify_record)",
            value=f"{per_s('records verified/s (wire.verify_record)'):,.0f}",
            reference=f"raw Ed25519 verify/s (cryptography): {verify_raw:,.0f}",
            ratio=printed_ratio("verify ratio (records / raw)") + " (target ≥ 0.80)"),
    ]  # fmt: skip
    for label in (
        "tickets verified/s (from CT1: text)",
        "receipts verified/s (from CR1: text)",
        "raw Ed25519 verify/s (PyNaCl/libsodium)",
    ):
        value = per_s(label)
        rows.append(
            Row(figure=label, value=f"{value:,.0f}",
                reference=f"raw Ed25519 verify/s (cryptography): {verify_raw:,.0f}",
                ratio=ratio(value, verify_raw))
        )  # fmt: skip
    return rows


def parse_driver(out: str) -> list[Row]:
    latency = find(
        r"^serial latency, last byte on the pty to reading \(ms\): p50 ([\d.]+)\s+p99 ([\d.]+)",
        out, "driver_bench",
    )  # fmt: skip
    rows = [
        Row(figure="serial latency, last byte on the pty to reading (ms), p50 / p99",
            value=f"{latency.group(1)} / {latency.group(2)}")
    ]  # fmt: skip
    for label in (
        "CPU per 1,000 readings, serial streaming (toledo)",
        "CPU per 1,000 readings, modbus polling (tcp, hr-int32)",
    ):
        match = find(rf"^{re.escape(label)}: ([\d.]+) s\s+\(([\d.]+) % of one core", out,
                     "driver_bench")  # fmt: skip
        rows.append(Row(figure=f"{label} (s)", value=match.group(1),
                        reference=f"{match.group(2)} % of one core"))  # fmt: skip
    return rows


def parse_gate(out: str) -> list[Row]:
    def quantiles(label: str) -> tuple[str, str]:
        match = find(rf"^\s*{re.escape(label)}: p50 ([\d.]+)\s+p99 ([\d.]+)", out, "gate_bench")
        return match.group(1), match.group(2)

    p50, p99 = quantiles("decision latency, stable reading to Barrier(up=True) (ms)")
    rows = [
        Row(figure="decision latency, stable reading to Barrier(up=True) (ms), p50 / p99",
            value=f"{p50} / {p99}", reference="target p99 ≤ 20 ms",
            ratio=ratio(float(p99), 20.0))
    ]  # fmt: skip
    fsync = quantiles("raw fsync of 1 KiB on the same disk (ms)")
    for label in (
        "core step (decide, verify ticket) (ms)",
        "signing, 2 records (ms)",
        "journal commit, 2 records (fsync each) (ms)",
    ):
        a, b = quantiles(label)
        reference, share = "—", "—"
        if label.startswith("journal"):
            reference = f"raw fsync p50 / p99: {fsync[0]} / {fsync[1]} ms"
            share = ratio(float(a), float(fsync[0])) + " (p50)"
        rows.append(Row(figure=f"{label}, p50 / p99", value=f"{a} / {b}",
                        reference=reference, ratio=share))  # fmt: skip
    return rows


def parse_ingest(out: str) -> list[Row]:
    reference = number(find(r"^reference \(.*\): ([\d,]+) records/s", out, "ingest_bench")[1])
    ours = number(find(r"^coalgate ingest \(one worker\):\s+([\d,]+) records/s", out,
                       "ingest_bench")[1])  # fmt: skip
    backend = find(r"^backend: (\S+)", out, "ingest_bench")[1]
    latency = find(
        r"^latency at ([\d,]+) records/s, publish → ack: p50 ([\d.]+) ms, p99 ([\d.]+) ms",
        out, "ingest_bench",
    )  # fmt: skip
    rss = find(r"^peak RSS: (\d+) MiB", out, "ingest_bench")[1]
    return [
        Row(figure=f"ingest, publish to committed row ({backend}, one worker), records/s",
            value=f"{ours:,.0f}",
            reference=f"bare pipeline (paho → raw verify → executemany): {reference:,.0f}",
            ratio=ratio(ours, reference) + " (target ≥ 0.70)"),
        Row(figure=f"ingest publish → ack at {latency[1]} records/s (ms), p50 / p99",
            value=f"{latency[2]} / {latency[3]}"),
        Row(figure="ingest peak RSS (MiB)", value=rss),
    ]  # fmt: skip


def parse_uplink(out: str) -> list[Row]:
    appends = number(find(r"^journal appends \(sign \+ fsync'd commit\): ([\d,]+)", out,
                          "uplink_bench")[1])  # fmt: skip
    drain = number(find(r"^backlog drain to acks: ([\d,]+) records/s", out, "uplink_bench")[1])
    cpu = find(r"^CPU per record: edge (\d+) µs, consumer (\d+) µs", out, "uplink_bench")
    lost = find(r"^lost \(never received\): (\d+)", out, "uplink_bench")[1]
    dups = find(r"^duplicates at the consumer: (\d+)", out, "uplink_bench")[1]
    rss = find(r"^edge peak RSS: (\d+) MiB", out, "uplink_bench")[1]
    return [
        Row(figure="edge journal appends (sign + fsync'd commit), records/s",
            value=f"{appends:,.0f}"),
        Row(figure="edge backlog drain to central's acks, records/s", value=f"{drain:,.0f}",
            reference="target ≥ 2,000", ratio=ratio(drain, 2000.0)),
        Row(figure="uplink CPU per record, edge / consumer (µs)", value=f"{cpu[1]} / {cpu[2]}"),
        Row(figure="uplink records lost / duplicated", value=f"{lost} / {dups}",
            reference="target 0 / 0"),
        Row(figure="edge peak RSS during the drain (MiB)", value=rss),
    ]  # fmt: skip


def parse_edge(out: str) -> list[Row]:
    run = find(r"^weighings: ([\d,]+) in ([\d,]+) s wall \(([\d.]+)/s\)", out, "edge_bench")
    rss = find(r"^edge RSS start / mid / end: ([\d.]+) / ([\d.]+) / ([\d.]+) MiB", out,
               "edge_bench")  # fmt: skip
    slope = find(r"^edge RSS slope: ([+-][\d.]+) MiB per 1,000", out, "edge_bench")[1]
    curve = find(r"^edge RSS after N weighings \(MiB\): (.+)$", out, "edge_bench")[1]
    cpu = find(r"^edge CPU per weighing: ([\d.]+) ms", out, "edge_bench")[1]
    decided = find(r"^decisions: (.*)$", out, "edge_bench")[1]
    alarms = find(r"^alarms: (.*)$", out, "edge_bench")[1]
    return [
        Row(figure=f"edge run, two lanes: weighings in wall time (decisions: {decided})",
            value=f"{number(run[1]):,.0f} in {number(run[2]):,.0f} s ({run[3]}/s)"),
        Row(figure="edge alarms raised (a fast simulator's beams against 20 ms polls)",
            value=alarms),
        Row(figure="edge RSS start / mid / end (MiB)", value=f"{rss[1]} / {rss[2]} / {rss[3]}",
            reference="limit 100 MB = 95.4 MiB", ratio=ratio(float(rss[3]), 100e6 / 2**20)),
        Row(figure="edge RSS slope after the first sample (MiB per 1,000 weighings)",
            value=slope, reference="flat (≈ 0)"),
        Row(figure="edge RSS after N weighings (N: MiB)", value=curve),
        Row(figure="edge CPU per weighing, user + sys, all threads (ms)", value=cpu),
        Row(figure="edge checks (RSS ≤ 100 MB, growth ≤ 10 MiB, every truck released)",
            value="; ".join(re.findall(r"^FAIL: (.*)$", out, re.MULTILINE)) or "pass"),
    ]  # fmt: skip


BENCHES = (
    Bench(name="wire_bench", what="signing and verifying records, tickets, receipts",
          args=("--seconds", "6", "--rounds", "12"), quick=("--seconds", "0.05", "--rounds", "1"),
          parse=parse_wire),
    Bench(name="driver_bench", what="scale drivers: latency and CPU",
          args=("--readings", "500", "--rate", "50"), quick=("--readings", "10", "--rate", "50"),
          parse=parse_driver),
    Bench(name="gate_bench", what="the gate's decision latency, journal included",
          args=("--weighings", "2000", "--warmup", "50", "--fsyncs", "500"),
          quick=("--weighings", "5", "--trucks", "3", "--warmup", "1", "--fsyncs", "5"),
          parse=parse_gate),
    Bench(name="ingest_bench", what="central's ingest on SQLite",
          args=("--records", "20000"), quick=("--records", "300"), parse=parse_ingest,
          needs_mosquitto=True),
    Bench(name="uplink_bench", what="the edge's backlog drain over MQTT",
          args=("--records", "10000"), quick=("--records", "300"), parse=parse_uplink,
          needs_mosquitto=True),
    Bench(name="edge_bench", what="`coalgate edge run`, two simulated lanes: RSS and CPU",
          args=("--weighings", "1000", "--samples", "5"), quick=("--quick",), parse=parse_edge,
          needs_mosquitto=True, checks=True),
)  # fmt: skip


def has_mosquitto() -> bool:
    return shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def machine(load_at_start: str) -> list[str]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = load_average()
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores ({platform.machine()})",
        f"- Python {platform.python_version()} on {platform.system()} {platform.release()}",
        f"- date: {now}; load average (1, 5, 15 min) at the start {load_at_start}, at the end "
        f"{load}: other work on the machine slows every figure, tail latencies most",
    ]


def run_bench(bench: Bench, *, quick: bool, timeout_s: float) -> tuple[list[Row], str, float]:
    argv = [
        sys.executable,
        str(BENCH.relative_to(ROOT) / f"{bench.name}.py"),
        *(bench.quick if quick else bench.args),
    ]
    started = time.monotonic()
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=ROOT
    )
    took = time.monotonic() - started
    if result.returncode != 0 and not (bench.checks and result.returncode == 1):
        raise ParseError(
            f"{bench.name} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return bench.parse(result.stdout), " ".join(argv[1:]), took


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def report(
    results: list[tuple[Bench, list[Row], str, float]], skipped: list[str], load_at_start: str
) -> str:
    lines = [
        "# Performance",
        "",
        "Written by `python bench/run_all.py` (do not edit by hand; run it again). Each",
        "benchmark runs alone, with its reference measured in the same run on the same",
        "machine, so the ratios say more than the absolute figures, which move with the",
        "machine and its load.",
        "",
        "## Machine",
        "",
        *machine(load_at_start),
        "",
        "## Figures",
        "",
        "| benchmark | figure | value | reference | ratio |",
        "|---|---|---|---|---|",
    ]
    lines.extend(
        f"| {bench.name} | {cell(row.figure)} | {cell(row.value)} | "
        f"{cell(row.reference)} | {cell(row.ratio)} |"
        for bench, rows, _, _ in results
        for row in rows
    )
    lines += ["", "## How each was run", ""]
    for bench, _, command, took in results:
        lines.append(f"- `python {command}` — {bench.what} ({took:.0f} s)")
    for text in skipped:
        lines.append(f"- skipped: {text}")
    return "\n".join(lines) + "\n"


#: The heading from which docs/performance.md is written by hand and kept by ``main``.
KEPT = "## By hand (kept by run_all.py)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    results: list[tuple[Bench, list[Row], str, float]] = []
    skipped: list[str] = []
    load_at_start = load_average()
    for bench in chosen:
        if bench.needs_mosquitto and not has_mosquitto():
            skipped.append(f"{bench.name} (it starts its own Mosquitto, which is not installed)")
            print(f"{bench.name}: skipped, no mosquitto", flush=True)
            continue
        print(f"{bench.name} …", flush=True)
        try:
            rows, command, took = run_bench(bench, quick=args.quick, timeout_s=args.timeout)
        except (ParseError, subprocess.TimeoutExpired) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for row in rows:
            print(f"  {row.figure}: {row.value}  [{row.reference}; {row.ratio}]", flush=True)
        results.append((bench, rows, command, took))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # What follows KEPT in the old file (long runs by hand, their reading) is kept as it is.
    old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    kept = old[old.index(KEPT) :] if KEPT in old else ""
    text = report(results, skipped, load_at_start)
    args.out.write_text(text + ("\n" + kept if kept else ""), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
