"""``coalgate central …`` as an administrator runs it, including docs/central.md's example."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.test_cli_wire import COALGATE

ROOT = Path(__file__).resolve().parents[2]


def doc_block() -> str:
    text = (ROOT / "docs" / "central.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 1, "docs/central.md must have exactly one sh block"
    return blocks[0]


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALGATE_")}
    env["COALGATE_DATA_DIR"] = str(tmp_path / "data")
    env["PATH"] = f"{Path(COALGATE).parent}:{env['PATH']}"
    return env


def run(tmp_path: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [COALGATE, "central", *args], cwd=tmp_path, env=env_for(tmp_path), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (result.returncode == 0) is ok, result
    assert "Traceback" not in result.stderr
    return result


def test_the_documented_session_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", doc_block()],
        cwd=tmp_path, env=env_for(tmp_path), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "device yl-mine-a-gate-1 revoked above seq 0" in result.stdout
    keys = json.loads((tmp_path / "central-keys.json").read_text())
    assert all(k["kid"].startswith("central-") for k in keys["keys"])
    assert (tmp_path / "gate-1.cert").stat().st_size > 100
    assert (tmp_path / "central-data" / "central.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("site", "add", "--id", "s1", "--enterprise", "nobody", "--kind", "coal_mine",
          "--name", "x"), "nobody"),
        (("vehicle", "add", "--plate", "陕KO2345", "--axles", "2", "--kind", "rigid"), "I and O"),
        (("vehicle", "add", "--plate", "陕K1234挂", "--axles", "2", "--kind", "rigid"), "trailer"),
        (("revoke", "--device", "no-such-device"), "no-such-device"),
        (("ingest", "--workers", "2"), "PostgreSQL"),
    ],
)  # fmt: skip
def test_bad_requests_get_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run(tmp_path, *args, ok=False)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1
    assert message in errors[0]


def test_a_bad_database_url_is_one_line(tmp_path: Path) -> None:
    env = env_for(tmp_path) | {"COALGATE_DATABASE_URL": "mysql://nope"}
    result = subprocess.run(
        [COALGATE, "central", "migrate"], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "COALGATE_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_enrolling_another_key_under_an_enrolled_id_is_refused(tmp_path: Path) -> None:
    run(tmp_path, "enterprise", "add", "--id", "e1", "--name", "E", "--credit-code", "x" * 18,
        "--land-mu", "1", "--capacity-t", "1")  # fmt: skip
    run(tmp_path, "site", "add", "--id", "s1", "--enterprise", "e1", "--kind", "coal_mine",
        "--name", "S")  # fmt: skip
    for directory in ("k1", "k2"):
        subprocess.run([COALGATE, "key", "new", "--device", "gate-1", "--out", directory],
                       cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    run(tmp_path, "enroll", "--site", "s1", "--device", "gate-1", "--pubkey", "k1/gate-1.pub")
    renewed = run(
        tmp_path, "enroll", "--site", "s1", "--device", "gate-1", "--pubkey", "k1/gate-1.pub"
    )
    assert len(renewed.stdout.strip()) > 100
    refused = run(tmp_path, "enroll", "--site", "s1", "--device", "gate-1", "--pubkey",
                  "k2/gate-1.pub", ok=False)  # fmt: skip
    assert "gate-1" in refused.stderr
