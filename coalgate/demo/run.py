"""``coalgate demo``: a whole region on this machine, from one command.

In order: the data directory (made anew), the broker (``broker.py``; or ``--mqtt``), the
registry seeded into central's store (``region.py``), ``coalgate central run`` (API, ingest,
tree heads), each edge's key enrolled and the tickets requested through the API, one
``coalgate sim lane`` per gate with its scenario (``traffic.py``), one ``coalgate edge run``
per gate, then the live summary (``summary.py``) until Ctrl-C, SIGTERM or ``--duration``.

Every child process is started and stopped through one ``Children`` (``procs.py``), newest
first, on any way out.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
from rich.console import Console
from rich.live import Live

from central.errors import CentralError
from coalgate.demo.broker import Broker, free_port, start_broker
from coalgate.demo.errors import DemoError
from coalgate.demo.procs import Child, Children, coalgate_argv, until
from coalgate.demo.region import (
    RegionPlan,
    Tokens,
    enroll_edges,
    issue_tickets,
    plan_region,
    seed_registry,
)
from coalgate.demo.summary import Observer, Tally, render, summary_lines
from coalgate.demo.traffic import LEAD_S, LanePlan, plan_lanes, site_file
from edge.console.accounts import Accounts
from edge.errors import EdgeError
from wire.keyfiles import read_signing_key
from wire.keys import PublicKey

MARKER = ".coalgate-demo"
OPERATOR = "demo"  # the console's operator account on every edge
READY_S = 60.0
SETTLE_S = 30.0  # after --duration: how long to wait for the last records to reach central


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    data_dir: Path
    mqtt: str | None = None
    database: str | None = None
    speed: float = 5.0
    duration_s: float | None = None
    seed: int = 1
    trucks: int = 3
    broker: str = "auto"  # auto, mosquitto, amqtt


@dataclass(frozen=True, slots=True, kw_only=True)
class Gate:
    lane: LanePlan
    http_port: int
    directory: Path
    operator_password: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def run_demo(options: DemoOptions, *, console: Console | None = None) -> Tally:
    """Run the region; the final tally (also written to ``<data dir>/summary.json``)."""
    out = console or Console()
    data = prepare_data_dir(options.data_dir)
    children = Children()
    with _sigterm_stops():
        try:
            return _run(options, data, children, out)
        finally:
            out.print("stopping the region …")
            with _signals_ignored():  # a second Ctrl-C must not leave children behind
                children.stop_all()


def prepare_data_dir(path: Path) -> Path:
    """``path`` made anew: removed first if an earlier demo made it (it holds the marker); a
    directory of something else is refused."""
    path = path.resolve()
    if path.exists():
        if not (path / MARKER).exists() and any(path.iterdir()):
            raise DemoError(f"{path} holds files the demo did not make; name another --data-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("made by coalgate demo; removed by the next run\n")
    return path


@contextmanager
def _signals_ignored() -> Iterator[None]:
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    """SIGTERM stops the demo as Ctrl-C does (KeyboardInterrupt)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(options: DemoOptions, data: Path, children: Children, out: Console) -> Tally:
    if options.mqtt is not None:
        broker = Broker(url=options.mqtt, kind="external", mqtt_version="3.1.1")
    else:
        out.print("starting the MQTT broker …")
        broker = start_broker(children, data / "broker", choice=options.broker)
    central_dir = data / "central"
    database = options.database or f"sqlite:///{central_dir / 'central.db'}"
    region = plan_region(seed=options.seed, trucks=options.trucks)
    out.print(f"seeding the region into {_redact(database)} …")
    try:
        tokens = seed_registry(region, database_url=database, keys_dir=central_dir / "keys")
    except CentralError as exc:
        raise DemoError(f"seeding central's database: {exc.message}") from exc
    token_file = data / "regulator.token"
    token_file.touch(mode=0o600)
    token_file.write_text(tokens.regulator + "\n")
    central = start_central(children, central_dir, database=database, broker=broker)
    out.print(f"central is up at {central} ({broker.kind} broker at {_redact(broker.url)})")
    sites_dir = data / "sites"
    enroll_edges(region, tokens, central=central, sites_dir=sites_dir)
    issued = issue_tickets(region, tokens, central=central)
    out.print(f"{len(region.sites)} edges enrolled, {len(issued)} tickets issued")
    gates = start_traffic(children, region, data=data, broker=broker, speed=options.speed)
    started = time.monotonic()
    for gate in gates:
        start_edge(children, gate)
    wait_ready(children, gates)
    observer = Observer(
        central=central, token=tokens.regulator, keys=_device_keys(region, sites_dir),
        edges={g.lane.site.id: f"http://127.0.0.1:{g.http_port}" for g in gates},
    )  # fmt: skip
    end = None if options.duration_s is None else started + options.duration_s
    interrupted = False
    try:
        _banner(out, central, tokens, gates, broker)
        _live(out, observer, children, until_s=end)
    except KeyboardInterrupt:
        interrupted = True
        out.print("interrupted")
    if end is not None and not interrupted:
        _settle(out, observer, children)
    tally = _tally(observer)
    out.print(render(tally, title="coalgate demo: final summary"))
    for label, value in summary_lines(tally):
        out.print(f"{label}: {value}", highlight=False)
    (data / "summary.json").write_text(json.dumps(tally.as_json(), indent=2) + "\n")
    return tally


def _redact(url: str) -> str:
    head, at, tail = url.rpartition("@")
    return f"{head.split('://')[0]}://…@{tail}" if at else url


def start_central(children: Children, directory: Path, *, database: str, broker: Broker) -> str:
    """``coalgate central run`` on a free port (API, one ingest worker, tree heads every 2 s);
    its base URL once ``/healthz`` answers."""
    port = free_port()
    env = {
        "COALGATE_DATA_DIR": str(directory),
        "COALGATE_DATABASE_URL": database,
        "COALGATE_MQTT_URL": broker.url,
        "COALGATE_STH_INTERVAL_S": "2",
    }
    children.start(
        "central", coalgate_argv("central", "run", "--host", "127.0.0.1", "--port", str(port)),
        log_path=directory / "central.log", env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    until(lambda: _answers(f"{base}/healthz"), within_s=READY_S, what="central's /healthz",
          children=children)  # fmt: skip
    return base


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_traffic(
    children: Children, region: RegionPlan, *, data: Path, broker: Broker, speed: float
) -> list[Gate]:
    """One ``coalgate sim lane`` per gate (scenario under ``lanes/``) and each edge's site
    file (``sites/<site>/site.toml``), with the devices' addresses from the ready lines."""
    ports = {site.id: free_port() for site in region.sites}
    lanes = plan_lanes(region, speed=speed, camera_ports=ports)
    gates = []
    for lane in lanes:
        site = lane.site.id
        directory = data / "sites" / site
        scenario = data / "lanes" / f"{site}.toml"
        scenario.parent.mkdir(parents=True, exist_ok=True)
        scenario.write_text(lane.scenario, encoding="utf-8")
        argv = ["sim", "lane", "--scenario", str(scenario), "--tcp", "127.0.0.1:0",
                "--control", "127.0.0.1:0"]  # fmt: skip
        if lane.scale == "toledo-pty":
            argv += ["--indicator-link", str(data / "lanes" / f"{site}-scale")]
        elif lane.scale == "mt-sics-tcp":
            argv += ["--indicator-tcp", "127.0.0.1:0"]
        _, fields = children.start(
            f"sim lane {site}", coalgate_argv(*argv), log_path=data / "lanes" / f"{site}.log",
            ready_prefix="ready",
        )  # fmt: skip
        line_url = "tcp://" + fields["port"].removeprefix("socket://")
        scale_url = None
        if lane.scale == "toledo-pty":
            scale_url = str(data / "lanes" / f"{site}-scale")
        elif lane.scale == "mt-sics-tcp":
            scale_url = fields["indicator"]
        (directory / "site.toml").write_text(
            site_file(
                lane, broker_url=broker.url, mqtt_version=broker.mqtt_version,
                http_port=ports[site], line_url=line_url, scale_url=scale_url,
            ),
            encoding="utf-8",
        )  # fmt: skip
        gates.append(
            Gate(
                lane=lane, http_port=ports[site], directory=directory,
                operator_password=add_operator(directory / "data"),
            )
        )  # fmt: skip
    return gates


def add_operator(data_dir: Path) -> str:
    """The console's operator ``demo`` in the edge's accounts file; its new password."""
    password = secrets.token_urlsafe(9)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        Accounts.in_dir(data_dir).add(
            OPERATOR, password, name="Demo operator", now_ms=time.time_ns() // 1_000_000
        )
    except EdgeError as exc:
        raise DemoError(f"the console's operator account: {exc.message}") from exc
    return password


def start_edge(children: Children, gate: Gate) -> Child:
    """``coalgate edge run --config <site.toml>`` for one gate (its log in the site's
    directory)."""
    child, _ = children.start(
        f"edge {gate.lane.site.id}",
        coalgate_argv("edge", "run", "--config", str(gate.directory / "site.toml"),
                      "--log-format", "kv"),
        log_path=gate.directory / "edge.log",
    )  # fmt: skip
    return child


def wait_ready(children: Children, gates: list[Gate]) -> None:
    """Every edge answers ``/api/lanes`` with its site bundle, before the first truck."""

    def ready() -> bool:
        for gate in gates:
            try:
                lanes = httpx.get(f"{gate.base}/api/lanes", timeout=2).json()["lanes"]
            except (httpx.HTTPError, ValueError, KeyError):
                return False
            if any(lane.get("bundle_version") is None for lane in lanes):
                return False
        return True

    until(ready, within_s=READY_S, what="every edge up with its site bundle", children=children)


def _device_keys(region: RegionPlan, sites_dir: Path) -> dict[str, PublicKey]:
    keys = {}
    for site in region.sites:
        key = read_signing_key(sites_dir / site.id / "keys" / f"{site.device}.key")
        keys[site.device] = key.public
    return keys


def _banner(out: Console, central: str, tokens: Tokens, gates: list[Gate], broker: Broker) -> None:
    out.print()
    out.print(f"[bold]Dashboard[/bold]  {central}/dashboard/  (log in with the regulator token)")
    out.print(f"Regulator token  {tokens.regulator}", highlight=False, soft_wrap=True)
    for gate in gates:
        site = gate.lane.site
        if _answers(f"{gate.base}/console/login"):
            where = (
                f"{gate.base}/console/  (operator {OPERATOR}, password {gate.operator_password})"
            )
        else:  # an edge without the operator console: its lanes as JSON
            where = f"{gate.base}/api/lanes"
        out.print(f"Gate console     {site.id} ({site.name}, {gate.lane.scale})  {where}",
                  highlight=False, soft_wrap=True)  # fmt: skip
    out.print(f"MQTT broker      {_redact(broker.url)} ({broker.kind})")
    end = max(gate.lane.end_s for gate in gates)
    out.print(f"Trucks arrive from about {LEAD_S:.0f} s after the simulators started until "
              f"about {end:.0f} s; the region stays up until Ctrl-C.")  # fmt: skip
    out.print()


def _live(out: Console, observer: Observer, children: Children, *, until_s: float | None) -> None:
    with Live(console=out, refresh_per_second=2, transient=True) as live:
        while until_s is None or time.monotonic() < until_s:
            children.check()
            live.update(render(_tally(observer)))
            _sleep_until(time.monotonic() + 1.0, until_s)


def _tally(observer: Observer) -> Tally:
    try:
        return observer.tally()
    except httpx.HTTPError as exc:
        raise DemoError(f"central's API failed: {exc}") from exc


def _sleep_until(at: float, limit: float | None) -> None:
    time.sleep(max(0.0, min(at, limit if limit is not None else at) - time.monotonic()))


def _settle(out: Console, observer: Observer, children: Children) -> None:
    """Wait (bounded) until every record the edges journaled is acked by central; a warning
    when that takes too long (the summary then misses what is still on its way)."""
    edges = list(observer.edges.values())

    def drained() -> bool:
        for base in edges:
            try:
                uplink = httpx.get(f"{base}/healthz", timeout=2).json()["uplink"]
            except (httpx.HTTPError, ValueError, KeyError):
                return False
            if uplink["backlog"] != 0:
                return False
        return True

    try:
        until(drained, within_s=SETTLE_S, what="the edges' backlog", children=children)
    except DemoError as exc:
        out.print(f"warning: {exc.message}; the summary may miss records still on their way")
