"""``coalgate edge enroll`` against ``coalgate central run`` (the key made 0600 and never over an
existing file, enrolled with a device token, certificate and key set written; a refusal is one
line and leaves no key behind), and ``coalgate edge run``'s one-line refusals."""

from __future__ import annotations

import base64
import json
import signal
import socket
import stat
import subprocess
from pathlib import Path

import httpx

from central.store.sqlite import SqliteStore
from tests.central.test_cli_api import serve, setup_region, stop
from tests.central.test_cli_central import env_for, run
from tests.conftest import free_port
from tests.edge.runtime.support import EdgeProcess
from tests.test_cli_wire import COALGATE
from wire.certificates import verify_certificate
from wire.keyfiles import read_key_set, read_signing_key, write_signing_key
from wire.keys import SigningKey

DEVICE = "s1-gate-1"


def enroll(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COALGATE, "edge", "enroll", *args], cwd=tmp_path, env=env_for(tmp_path),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_enroll_makes_the_key_and_registers_it(tmp_path: Path) -> None:
    setup_region(tmp_path)
    token = run(tmp_path, "token", "create", "--role", "device", "--device", DEVICE).stdout.strip()
    keys = tmp_path / "keys"
    keys.mkdir()
    key_path = keys / f"{DEVICE}.key"
    jwks = keys / "central.jwks"
    process, base = serve(tmp_path, "--no-ingest", env=env_for(tmp_path))
    try:
        args = ["--central", base, "--site", "s1", "--device", DEVICE, "--key", str(key_path)]

        refused = enroll(tmp_path, *args, "--token", "cg_not-a-token")
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith("Error: central refused the enrollment (401")
        assert not key_path.exists()  # never enrolled: nothing left behind

        done = enroll(tmp_path, *args, "--token", token, "--central-keys", str(jwks))
        assert done.returncode == 0, done.stderr
        assert f"device {DEVICE} enrolled at site s1" in done.stdout

        again = enroll(tmp_path, *args, "--token", token)
        assert again.returncode == 1
        assert again.stderr.count("\n") == 1
        assert "never overwritten" in again.stderr

        unreachable = enroll(
            tmp_path, "--central", "http://127.0.0.1:1", "--token", token, "--site", "s1",
            "--device", DEVICE, "--key", str(keys / "other.key"),
        )  # fmt: skip
        assert unreachable.returncode == 1
        assert "cannot reach" in unreachable.stderr
        assert not (keys / "other.key").exists()
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    finally:
        stop(process, signal.SIGTERM)

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = read_signing_key(key_path, kid=DEVICE)
    central_keys = read_key_set([jwks])
    certificate = (keys / f"{DEVICE}.key.cert").read_text().strip()
    cert = verify_certificate(base64.b64decode(certificate), central_keys, now_s=None)
    assert (cert.device, cert.site, cert.key.raw) == (DEVICE, "s1", key.public.raw)
    store = SqliteStore(tmp_path / "data" / "central.db")
    try:
        device = store.get_device(DEVICE)
    finally:
        store.close()
    assert (device.site, device.public_key) == ("s1", key.public.raw)


def test_run_refuses_a_wrong_site_file_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text('[site]\nid = "Bad Id"\n', encoding="utf-8")
    for config in ("missing.toml", "site.toml"):
        result = subprocess.run(
            [COALGATE, "edge", "run", "--config", config], cwd=tmp_path, env=env_for(tmp_path),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 1
        assert result.stderr.startswith(f"Error: {config}")
        assert result.stderr.count("\n") == 1, result.stderr


def dead_devices_site(tmp_path: Path, port: int) -> Path:
    """A good site file whose broker and devices are not there (the edge runs and retries)."""
    keys = tmp_path / "keys"
    keys.mkdir()
    write_signing_key(SigningKey.generate(kid="s1-gate-1"), keys / "s1-gate-1.key")
    central = SigningKey.generate(kid="central-1")
    (keys / "central-1.pub").write_bytes(central.public.to_pem())
    site = tmp_path / "site.toml"
    site.write_text(
        f"""
[site]
id = "s1"
device = "s1-gate-1"
device_key = "keys/s1-gate-1.key"
central_keys = "keys/central-1.pub"
data_dir = "data"
[broker]
url = "mqtt://127.0.0.1:1"
[http]
bind = "127.0.0.1:{port}"
[[lane]]
id = "lane1"
direction = "out"
[lane.scale]
modbus = "hr-int32"
url = "tcp://127.0.0.1:1"
division_kg = 10
capacity_kg = 60000
[lane.io]
url = "tcp://127.0.0.1:1"
""",
        encoding="utf-8",
    )
    return site


def test_run_refuses_an_http_port_in_use_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dead_devices_site(tmp_path, port)
        result = subprocess.run(
            [COALGATE, "edge", "run", "--config", "site.toml"], cwd=tmp_path,
            env=env_for(tmp_path), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"Error: config: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started


def test_run_stops_cleanly_on_ctrl_c_with_its_devices_away(tmp_path: Path) -> None:
    port = free_port()
    site = dead_devices_site(tmp_path, port)
    log = tmp_path / "edge.log"
    edge = EdgeProcess(site, http_port=port, log_path=log)
    try:
        lane = edge.lane()
        assert lane["state"] in ("idle", "fault")  # the scale is silent: a fault soon
        edge.process.send_signal(signal.SIGINT)
        assert edge.process.wait(timeout=30) == 0
    finally:
        edge.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[-1]["msg"] == "edge run: stopped cleanly"
    assert any(line["msg"].startswith("edge stopped; journal closed at seq") for line in lines)
