"""``coalgate central token create`` and ``coalgate central run`` as an operator runs them:
the token printed once works against the served API, and the process stops cleanly on
SIGTERM and on Ctrl-C (SIGINT), with and without its ingest worker."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from central.api import tokens
from central.store.sqlite import SqliteStore
from tests.central.test_cli_central import env_for, run
from tests.conftest import Mosquitto, free_port
from tests.test_cli_wire import COALGATE


def setup_region(tmp_path: Path) -> None:
    run(tmp_path, "enterprise", "add", "--id", "e1", "--name", "E", "--credit-code", "x" * 18,
        "--land-mu", "1", "--capacity-t", "1000")  # fmt: skip
    run(tmp_path, "site", "add", "--id", "s1", "--enterprise", "e1", "--kind", "coal_mine",
        "--name", "S")  # fmt: skip


def test_a_token_is_printed_once_and_stored_hashed(tmp_path: Path) -> None:
    setup_region(tmp_path)
    created = run(tmp_path, "token", "create", "--role", "enterprise", "--enterprise", "e1")
    text = created.stdout.strip()
    assert text.startswith(tokens.PREFIX)
    assert len(text.splitlines()) == 1
    assert "not shown again" in created.stderr
    store = SqliteStore(tmp_path / "data" / "central.db")
    try:
        found = tokens.lookup(store, text)
        assert found is not None
        assert (found.role, found.enterprise) == ("enterprise", "e1")
        raw = (tmp_path / "data" / "central.db").read_bytes()
        assert text.encode() not in raw
        assert store.audit_log(limit=1)[0].action == "token.create"
    finally:
        store.close()
    listed = run(tmp_path, "token", "list").stdout
    assert "enterprise  e1" in listed
    assert text not in listed
    run(tmp_path, "token", "revoke", "--id", str(found.id))
    assert "revoked" in run(tmp_path, "token", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "enterprise"), "--enterprise"),
        (("--role", "admin", "--device", "gate-1"), "--device"),
        (("--role", "enterprise", "--enterprise", "nobody"), "nobody"),
        (("--role", "device", "--device", "Gate 1"), "--device"),
        (("--role", "king"), "king"),
        (("--role", "checkpoint"), "--checkpoint"),
        (("--role", "admin", "--checkpoint", "cp-1"), "--checkpoint"),
        (("--role", "checkpoint", "--checkpoint", "cp-nowhere"), "cp-nowhere"),
    ],
)
def test_bad_token_requests_are_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run(tmp_path, "token", "create", *args, ok=False)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1
    assert message in result.stderr


def test_a_checkpoint_token_names_its_registered_checkpoint(tmp_path: Path) -> None:
    run(tmp_path, "checkpoint", "add", "--id", "cp-1", "--name", "North", "--lat", "38.9",
        "--lon", "110.5")  # fmt: skip
    text = run(tmp_path, "token", "create", "--role", "checkpoint", "--checkpoint", "cp-1")
    store = SqliteStore(tmp_path / "data" / "central.db")
    try:
        found = tokens.lookup(store, text.stdout.strip())
        assert found is not None
        assert (found.role, found.checkpoint) == ("checkpoint", "cp-1")
        assert store.audit_log(limit=1)[0].detail["checkpoint"] == "cp-1"
    finally:
        store.close()
    assert "checkpoint  cp-1" in run(tmp_path, "token", "list").stdout


def serve(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [COALGATE, "central", "run", "--port", str(port), *args], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    out, err = process.communicate()
    raise AssertionError(f"central run did not serve: {out}\n{err}")


def stop(process: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    process.send_signal(signum)
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    assert process.returncode == 0, err
    assert "Traceback" not in err
    return out, err


def test_run_serves_the_api_and_stops_on_sigterm(tmp_path: Path) -> None:
    setup_region(tmp_path)
    admin = run(tmp_path, "token", "create", "--role", "admin").stdout.strip()
    process, base = serve(tmp_path, "--no-ingest", env=env_for(tmp_path))
    try:
        sites = httpx.get(f"{base}/api/v1/sites", headers={"Authorization": f"Bearer {admin}"})
        assert [s["id"] for s in sites.json()] == ["s1"]
        assert httpx.get(f"{base}/api/v1/sites").status_code == 401
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "coalgate central"
    finally:
        out, _ = stop(process, signal.SIGTERM)
    assert "central stopped" in out


def test_run_with_ingest_stops_on_ctrl_c(tmp_path: Path, mosquitto: Mosquitto) -> None:
    env = env_for(tmp_path) | {"COALGATE_MQTT_URL": mosquitto.url}
    process, base = serve(tmp_path, env=env)
    try:
        assert httpx.get(f"{base}/api/v1/keys").json()["keys"]
    finally:
        out, _ = stop(process, signal.SIGINT)
    assert "central-ingest-1 ingesting" in out
    assert "central stopped" in out
