"""``coalgate demo`` end to end, as a newcomer runs it: a bounded run of the whole region
(broker, central, three simulated lanes, three edges) whose final summary is checked against
central's own store, and a run stopped by SIGTERM; neither leaves a process behind.

The demo starts its children in sessions of their own, so the conftest's child-process check
(direct children only) cannot see them: every process is looked for by the data directory in
its command line or environment.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from central.store.sqlite import SqliteStore
from coalgate.demo.region import plan_region
from coalgate.demo.traffic import INJECTED_ALARMS, plan_lanes, site_file
from edge.config import load_site_config
from wire.bodies import WeighingBody
from wire.keyfiles import read_signing_key, write_signing_key
from wire.keys import KeySet, SigningKey
from wire.keysets import jwks
from wire.records import verify_record

TRUCKS = 1
DURATION_S = 75  # the traffic of one ticketed truck per mine (traffic.py's schedule) is ~65 s


def demo(directory: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "coalgate", "demo", "--data-dir", str(directory),
         "--trucks", str(TRUCKS), "--speed", "8", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"},
    )  # fmt: skip


def leftovers(directory: Path) -> list[str]:
    """Processes (other than this one) whose command line or environment names ``directory``."""
    needle = str(directory).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            words = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {words}")
    return found


def finish(process: subprocess.Popen[str], *, within_s: float) -> str:
    try:
        out, _ = process.communicate(timeout=within_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise AssertionError(f"the demo did not finish in {within_s} s:\n{out}") from None
    return out


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_a_bounded_demo_stores_and_verifies_every_weighing_and_raises_each_injected_alarm(
    tmp_path: Path, broker: str
) -> None:
    if broker == "mosquitto" and not (
        Path("/usr/sbin/mosquitto").exists() or any(
            (Path(p) / "mosquitto").exists() for p in os.environ.get("PATH", "").split(":")
        )
    ):  # fmt: skip
        pytest.skip("mosquitto is not installed (the amqtt case runs the demo)")
    data = tmp_path / "region"
    process = demo(data, "--duration", str(DURATION_S), "--broker", broker)
    out = finish(process, within_s=300)
    assert process.returncode == 0, out
    assert leftovers(data) == []
    assert "/dashboard/" in out, out
    assert "Regulator token  cg_" in out, out
    assert out.count("Gate console") == 3, out
    summary = json.loads((data / "summary.json").read_text())

    # What the summary says is what central stored, and every weighing verifies under its
    # device's key (read here from the edges' own key files).
    region = plan_region(seed=1, trucks=TRUCKS)
    keys = KeySet(
        [
            read_signing_key(data / "sites" / s.id / "keys" / f"{s.device}.key").public
            for s in region.sites
        ]
    )
    store = SqliteStore(data / "central" / "central.db")
    try:
        stored = [r for s in region.sites for r in store.records(s.device)]
        alarms = Counter(a.kind for a in store.alarms(limit=10_000))
        tickets = Counter(t.state for t in store.list_tickets(limit=1000))
    finally:
        store.close()
    weighings = [
        body for r in stored if isinstance(body := verify_record(r.raw, keys).body, WeighingBody)
    ]
    # (The edges stop after the summary: their last status records and central's
    # device_offline alarms may come after it.)
    assert summary["records"] == summary["verified"] <= len(stored)
    assert summary["tree_size"] <= summary["records"]
    assert summary["failed"] == 0
    assert summary["weighings"] == len(weighings)
    assert {k: alarms[k] for k in summary["alarms"]} == summary["alarms"]
    assert summary["tickets"] == dict(tickets)

    # The traffic: each mine's ticketed truck released and loaded, then weighed in at the
    # smelter (both weighings in: closed); each mine's truck without a ticket held.
    ticketed = {t.plate for t in region.trucks if t.ticketed}
    released = Counter(w.plate for w in weighings if w.decision == "release")
    assert released == dict.fromkeys(ticketed, 2), weighings
    held = {w.plate for w in weighings if w.decision == "hold"}
    assert held == {t.plate for t in region.trucks if not t.ticketed}
    assert summary["tickets"] == {"closed": len(ticketed)}
    for kind in INJECTED_ALARMS:
        assert alarms[kind] >= 1, alarms


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_sigterm_stops_the_demo_and_every_process_it_started(tmp_path: Path) -> None:
    data = tmp_path / "region"
    process = demo(data, "--broker", "amqtt")
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 150
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not any(line.startswith("Dashboard") for line in seen):
            left = deadline - time.monotonic()
            assert left > 0, "no banner:\n" + "".join(seen)
            assert selector.select(timeout=left), "no banner:\n" + "".join(seen)
            line = process.stdout.readline()
            assert line, "the demo exited early:\n" + "".join(seen)
            seen.append(line)
    assert leftovers(data), "the region's processes should be running"
    process.send_signal(signal.SIGTERM)
    out = finish(process, within_s=90)
    assert process.returncode == 0, "".join(seen) + out
    assert "stopping the region" in out
    assert leftovers(data) == []


def test_every_generated_site_file_is_a_valid_site_and_every_lane_has_another_scale(
    tmp_path: Path,
) -> None:
    region = plan_region(seed=7, trucks=2)
    lanes = plan_lanes(region, speed=5, camera_ports={s.id: 8080 + n for n, s in
                                                        enumerate(region.sites)})  # fmt: skip
    assert {lane.scale for lane in lanes} == {"toledo-pty", "mt-sics-tcp", "modbus"}
    for n, lane in enumerate(lanes):
        directory = tmp_path / lane.site.id
        (directory / "keys").mkdir(parents=True)
        key = SigningKey.generate(kid=lane.site.device)
        write_signing_key(key, directory / "keys" / f"{lane.site.device}.key")
        (directory / "keys" / "central.jwks").write_text(json.dumps(jwks(KeySet([key.public]))))
        (directory / "site.toml").write_text(
            site_file(
                lane, broker_url="mqtt://127.0.0.1:1883", mqtt_version="3.1.1",
                http_port=9000 + n, line_url="tcp://127.0.0.1:5020",
                scale_url=None if lane.scale == "modbus" else "socket://127.0.0.1:4001",
            )
        )  # fmt: skip
        config = load_site_config(directory / "site.toml")
        assert config.site.id == lane.site.id
        assert [x.id for x in config.lanes] == ["lane1"]
    # every plate that loads at a mine arrives at the smelter, after its loading slot
    arrivals = lanes[-1].scenario.count("[[truck]]")
    assert arrivals == sum(t.ticketed for t in region.trucks) == 4


def test_the_demo_refuses_a_data_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "coalgate", "demo", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert "did not make" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "precious.txt").read_text() == "keep me"
