"""A gate house running one of the shipped lane scenarios (``firmware_sim/scenarios/*.toml``).

The simulator loads the shipped file, rewritten for this gate house only where the file says
something about a site (see ``test_edge_scenarios``' docstring for the list); the scenario's
trucks and faults are read by the simulator's own parser (``firmware_sim.scenario.load``) and
played through the lane's control interface at their scenario times, counted from the moment
the edge is ready (a scenario's clock starts when ``sim lane`` starts, before an edge could be
started against it). Central knows every truck of the scenario (its registered axles and tare)
and has issued a ticket for each (but those the test names ``ticketless``): what the edge
catches is the cheat or the fault, not a missing ticket.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

import firmware_sim
from central.store.model import Vehicle
from edge.console.sessions import CSRF_HEADER
from firmware_sim import scenario as scenario_mod
from firmware_sim.lane import _PARTLY_ON_M
from firmware_sim.lane_config import FaultPlan, LaneConfig, TruckPlan
from firmware_sim.model import Scene
from tests.central import builders as b
from tests.conftest import Mosquitto
from tests.edge.io_sim import ModbusSim
from tests.edge.runtime.support import (
    OPERATOR,
    PASSWORD,
    Central,
    EdgeProcess,
    add_operator,
    new_http_port,
    site_file,
    until,
)
from wire.bodies import EventBody, WeighingBody
from wire.chain import check_chain
from wire.keyfiles import read_key_set
from wire.keys import KeySet
from wire.receipts import Receipt, verify_receipt
from wire.records import Record, verify_record

SCENARIOS = Path(firmware_sim.__file__).resolve().parent / "scenarios"


# --- the shipped file, rewritten for this gate house -----------------------------------------


def shipped(name: str) -> tuple[dict[str, Any], LaneConfig]:
    """The shipped scenario as TOML data and as the simulator reads it."""
    path = SCENARIOS / f"{name}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")), scenario_mod.load(path)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    raise TypeError(f"no TOML form here for {value!r}")


def dump_toml(data: dict[str, Any]) -> str:
    """TOML text of tables of scalars (all a lane scenario without trucks and faults has)."""
    lines: list[str] = []
    for table, values in data.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def sim_file(data: dict[str, Any], path: Path, *, camera_port: int, speed: float | None) -> Path:
    """The lane without its trucks and faults (played over the control interface), the edge
    controlling the barrier, the cameras pushing to this edge, ``speed`` if given."""
    lanes = {key: dict(value) for key, value in data.items() if key not in ("truck", "fault")}
    lane = lanes.setdefault("lane", {})
    lane["auto_barrier"] = False
    if speed is not None:
        lane["speed"] = speed
    camera = lanes.setdefault("camera", {})
    camera["url"] = f"http://127.0.0.1:{camera_port}/camera"
    path.write_text(dump_toml(lanes), encoding="utf-8")
    scenario_mod.load(path)  # the simulator must read it as it reads the shipped one
    return path


# --- the world -------------------------------------------------------------------------------


@dataclass
class ScenarioGate:
    name: str
    config: LaneConfig
    central: Central
    sim: ModbusSim
    edge: EdgeProcess
    directory: Path
    bundle_version: int = 0
    started: float = 0.0
    _player: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _played: list[str] = field(default_factory=list)
    _errors: list[BaseException] = field(default_factory=list)
    io: IoWatch | None = None

    @property
    def speed(self) -> float:
        return self.config.speed

    # --- playing the scenario ---------------------------------------------------------------

    def play(self) -> None:
        """Play the scenario's trucks and faults at their times (lane seconds from now), in a
        thread, so that the test watches the gate meanwhile."""
        events: list[tuple[int, int, TruckPlan | FaultPlan]] = [
            (plan.arrive_ms, i, plan) for i, plan in enumerate(self.config.trucks)
            if not plan.settled
        ]  # fmt: skip
        events += [(f.at_ms, 100 + i, f) for i, f in enumerate(self.config.faults)]
        events.sort(key=lambda e: (e[0], e[1]))
        self.started = time.monotonic()
        self.io = IoWatch(self.sim)

        def run() -> None:
            try:
                for at_ms, _, event in events:
                    delay = self.started + at_ms / 1000 / self.speed - time.monotonic()
                    if self._stop.wait(max(0.0, delay)):
                        return
                    self._send(event)
            except BaseException as exc:  # noqa: BLE001 - reported by the test's wait
                self._errors.append(exc)

        self._player = threading.Thread(target=run, name=f"scenario {self.name}", daemon=True)
        self._player.start()

    def play_nothing(self) -> None:
        """The test sends the trucks itself; the IO module is watched from now."""
        self.started = time.monotonic()
        self.io = IoWatch(self.sim)

    def _send(self, event: TruckPlan | FaultPlan) -> None:
        if isinstance(event, TruckPlan):
            self.sim.truck(**truck_fields(event))
            self._played.append(f"truck {event.truck.plate}")
        else:
            self.sim.request("POST", "/faults", fault_fields(event))
            self._played.append(f"fault {event.device.value} {event.kind}")

    def played_all(self) -> bool:
        """Every event sent (raises what the player thread raised)."""
        if self._errors:
            raise AssertionError(f"playing {self.name} failed: {self._errors[0]!r}")
        return self._player is not None and not self._player.is_alive()

    def abort(self) -> None:
        """Stop playing (teardown)."""
        self._stop.set()
        if self._player is not None:
            self._player.join(timeout=10)
        if self.io is not None:
            self.io.stop()

    def lane_s(self) -> float:
        """Lane seconds since the scenario started."""
        return (time.monotonic() - self.started) * self.speed

    def leaves_at_s(self, plate: str) -> float:
        """When (lane seconds) the truck wants to leave: its stand over, as the simulator's
        model places it (behind the trucks still standing when it arrives)."""
        scene = Scene(deck=self.config.deck)
        for plan in sorted(self.config.trucks, key=lambda p: p.arrive_ms):
            truck = plan.truck
            stop = truck.wheelbase_m - _PARTLY_ON_M if plan.partly_on_deck else None
            scene = scene.arrive(truck, plan.arrive_ms, stop_m=stop, speed_mps=plan.speed_mps)
            if truck.plate == plate:
                return (scene.visits[-1].stop_ms + plan.stand_ms) / 1000
        raise AssertionError(f"no truck {plate} in {self.name}")

    def wants_to_leave(self, *plates: str) -> bool:
        """Every one of ``plates`` has stood its time (and half a wall second more)."""
        return all(self.lane_s() > self.leaves_at_s(p) + self.speed / 2 for p in plates)

    def ready(self) -> None:
        """The lane has the site bundle and, unless a truck already stands on the deck, is idle
        with the empty deck read stable at zero (zero before the first transaction)."""
        version = self.bundle_version
        until(lambda: self.lane()["bundle_version"] == version, what="the site bundle")
        if any(plan.settled for plan in self.config.trucks):
            return

        def idle() -> bool:
            lane = self.lane()
            return bool(lane["weight_kg"] == 0 and lane["state"] == "idle")

        until(idle, what="the lane idle at zero")
        until(lambda: self.readings() >= 25, what="2.5 s of readings of the empty deck")

    def readings(self) -> int:
        for line in self.edge.metrics().splitlines():
            if line.startswith('coalgate_edge_readings_total{lane="lane1"}'):
                return int(line.rsplit(" ", 1)[1])
        return 0

    # --- views -------------------------------------------------------------------------------

    def lane(self) -> dict[str, Any]:
        return self.edge.lane()

    def decisions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.lane()["decisions"]
        return found

    def decision(self, plate: str, *, index: int = 0) -> dict[str, Any]:
        """The edge's ``index``-th decision about ``plate`` (waits for it)."""

        def find() -> dict[str, Any] | None:
            about = [d for d in self.decisions() if d["plate"] == plate]
            return dict(about[index]) if len(about) > index else None

        return until(find, what=f"decision {index + 1} about {plate}")

    def edge_alarms(self) -> set[str]:
        return {a["kind"] for a in self.lane()["alarms"]}

    def central_alarms(self) -> set[str]:
        return {a.kind for a in self.central.store.alarms(limit=1000)}

    def barrier_raises(self) -> int:
        for line in self.edge.metrics().splitlines():
            if line.startswith('coalgate_edge_barrier_raised_total{lane="lane1"}'):
                return int(line.rsplit(" ", 1)[1])
        return 0

    def records(self) -> list[Record]:
        """Every record central stored from the gate, each verified with the device's key."""
        keys = KeySet([self.central.edge.key.public])
        return [verify_record(stored.raw, keys) for stored in self.central.records()]

    def weighings(self) -> list[WeighingBody]:
        return [r.body for r in self.records() if isinstance(r.body, WeighingBody)]

    def events(self) -> list[EventBody]:
        return [r.body for r in self.records() if isinstance(r.body, EventBody)]

    def all_at_central(self) -> list[Record]:
        """Once central has acked everything the edge wrote: central's records, verified with
        the device key, one unbroken chain from seq 1 with no gap, no fork."""

        def acked() -> int:
            uplink = self.edge.get("/healthz")["uplink"]
            highest = int(uplink["highest_seq"])
            done = uplink["backlog"] == 0 and uplink["acked_seq"] == highest
            return highest if done and self.central.store.contiguous(self.device) >= highest else 0

        highest = until(acked, what="central's ack of every record the edge wrote")
        records = self.records()
        assert len({r.seq for r in records}) == len(records)
        assert {r.seq for r in records} >= set(range(1, highest + 1))
        (report,) = check_chain(records).values()
        assert report.ok, report.findings
        assert report.contiguous == report.highest >= highest
        assert self.central.store.equivocations(self.device) == []
        return records

    @property
    def device(self) -> str:
        return self.central.edge.device

    # --- the operator's console --------------------------------------------------------------

    @contextlib.contextmanager
    def console(self) -> Iterator[httpx.Client]:
        """The operator logged in on the console (the CSRF header set)."""
        with httpx.Client(base_url=self.edge.base, timeout=10) as http:
            answer = http.post(
                "/console/api/session", json={"operator": OPERATOR, "password": PASSWORD}
            )
            assert answer.status_code == 200, answer.text
            http.headers[CSRF_HEADER] = answer.json()["csrf"]
            yield http

    def receipt(self, seq: int) -> str:
        """The driver's receipt (QR text) for the weighing at ``seq``, from the console."""
        with self.console() as http:
            answer = http.get(f"/console/api/receipt/{seq}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["weighing"]["seq"] == seq
        text: str = answer.json()["text"]
        return text

    def central_public_key(self) -> Path:
        return self.directory / "keys" / f"{b.CENTRAL.kid}.pub"

    def verify_offline(self, text: str) -> Receipt:
        """The receipt verified with nothing but central's public key file."""
        return verify_receipt(text, read_key_set([self.central_public_key()]))

    def verify_with_cli(self, text: str) -> str:
        """``coalgate receipt verify QR --keys central.pub``: its output (exit 0)."""
        done = subprocess.run(
            [sys.executable, "-m", "coalgate", "receipt", "verify", "-",
             "--keys", str(self.central_public_key())],
            input=text, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


class IoWatch:
    """What the simulated IO module and deck show, sampled every 50 ms in a thread: how often
    the barrier rose, whether it was broken, which trucks left."""

    def __init__(self, sim: ModbusSim) -> None:
        self._sim = sim
        self.rises = 0
        self.broken = False
        self.up = False
        self.seen: set[str] = set()
        self.gone: set[str] = set()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="io watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                state = self._sim.state()
            except OSError as exc:
                self._errors.append(exc)
                return
            barrier = state["io"]["barrier"]
            if barrier["up"] and not self.up:
                self.rises += 1
            self.up = bool(barrier["up"])
            self.broken = self.broken or bool(barrier["broken"])
            plates = {t["plate"] for t in state["trucks"]}
            self.gone |= self.seen - plates
            self.seen |= plates
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._errors, self._errors


def truck_fields(plan: TruckPlan) -> dict[str, object]:
    """``POST /trucks`` for a scenario's truck (what ``[[truck]]`` says, but its arrival)."""
    assert plan.speed_mps == 1.5, "the control interface drives at the default speed"
    assert plan.stand_ms % 1000 == 0, "the control interface takes whole seconds"
    truck = plan.truck
    fields: dict[str, object] = {
        "plate": truck.plate, "axles": truck.axles, "kind": truck.kind.value,
        "tare_kg": truck.tare_kg, "load_kg": truck.load_kg, "stand_s": plan.stand_ms // 1000,
        "settled": plan.settled, "partly_on_deck": plan.partly_on_deck,
        "tailgate": plan.tailgate, "force_barrier": plan.force_barrier,
    }  # fmt: skip
    if plan.exit_plate is not None:
        fields["exit_plate"] = plan.exit_plate
    return fields


def fault_fields(plan: FaultPlan) -> dict[str, object]:
    """``POST /faults`` for a scenario's ``[[fault]]``."""
    fields: dict[str, object] = {
        "device": plan.device.value, "kind": plan.kind, "count": plan.count, "code": plan.code,
        "delay_ms": plan.delay_ms, "kg": plan.kg, "bytes": plan.nbytes, "channel": plan.channel,
    }  # fmt: skip
    if plan.duration_ms is not None:
        fields["duration_ms"] = plan.duration_ms
    return fields


def register_trucks(central: Central, config: LaneConfig, *, ticketless: set[str]) -> None:
    """Every truck of the scenario is registered (axles, kind, tare) and holds a ticket,
    except those in ``ticketless``."""
    vehicles = [
        Vehicle(
            plate=plan.truck.plate, axles=plan.truck.axles, kind=plan.truck.kind.value,
            single_drive=False, tare_kg=plan.truck.tare_kg, trailer=None,
        )
        for plan in config.trucks
    ]  # fmt: skip
    central.store.upsert_vehicles(vehicles, actor="test", at=b.T0)
    for plan in config.trucks:
        if plan.truck.plate not in ticketless:
            central.issue(plate=plan.truck.plate)


@contextlib.contextmanager
def scenario_gate(
    name: str,
    directory: Path,
    broker: Mosquitto,
    *,
    speed: float | None = None,
    ticketless: tuple[str, ...] = (),
    console: bool = False,
    thresholds: str = "",
) -> Iterator[ScenarioGate]:
    """The gate house, the lane of scenario ``name`` (at ``speed``), the edge running with the
    site bundle (and, with ``console``, an operator account; ``thresholds``: lines of the
    lane's ``[lane.thresholds]``); the scenario not yet played (``ScenarioGate.play``)."""
    data, config = shipped(name)
    if speed is not None:
        config = replace(config, speed=speed)
    central = Central(directory, broker)
    try:
        register_trucks(central, config, ticketless=set(ticketless))
        http_port = new_http_port()
        lane_file = sim_file(data, directory / "lane.toml", camera_port=http_port, speed=speed)
        with ModbusSim.lane(lane_file) as sim:
            for plan in config.trucks:  # "settled": it has long stood there when the edge starts
                if plan.settled:
                    sim.truck(**truck_fields(plan))
            site = site_file(
                directory, key=central.edge.key, broker_url=broker.url, line_url=sim.url,
                http_port=http_port, site_id=central.edge.site,
            )  # fmt: skip
            if thresholds:
                with site.open("a", encoding="utf-8") as file:  # the [[lane]]'s thresholds
                    file.write(f"\n[lane.thresholds]\n{thresholds}\n")
            cert = directory / "keys" / f"{central.edge.key.kid}.key.cert"
            # issued an hour ago: the receipts' records must fall in its validity
            issued = b.certificate(central.edge, iat_s=int(time.time()) - 3600)
            cert.write_bytes(base64.b64encode(issued) + b"\n")
            if console:
                add_operator(site)
            edge = EdgeProcess(site, http_port=http_port, log_path=directory / "edge.log")
            gate = ScenarioGate(
                name=name, config=config, central=central, sim=sim, edge=edge,
                directory=directory,
            )  # fmt: skip
            try:
                gate.bundle_version = central.publish_bundle()
                yield gate
            finally:
                gate.abort()
                edge.stop()
    finally:
        central.close()
