"""The integrator CLI, run as a user runs it: the installed ``coalgate`` in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

COALGATE = shutil.which("coalgate") or str(Path(sys.executable).parent / "coalgate")
STATUS = json.dumps(
    {
        "uptime_s": 5,
        "lanes": {"lane-1": "idle"},
        "backlog": 0,
        "bundle_version": None,
        "version": "t",
    }
)


def run(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [COALGATE, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode == 0) is ok, result
    assert "Traceback" not in result.stderr
    return result


def sign(
    cwd: Path, seq: int, out: str, *extra: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(
        "record", "sign", "--key", "keys/gate-1.key", "--site", "mine-a", "--device", "gate-1",
        "--seq", str(seq), "--type", "status", "--body", STATUS, "--out", out, *extra,
        cwd=cwd, ok=ok,
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    run("key", "new", "--device", "gate-1", "--out", "keys", cwd=tmp_path)
    return tmp_path


def test_sign_show_verify_a_chain(workdir: Path) -> None:
    sign(workdir, 1, "r1.cose", "--ts", "1795977600000")
    shown = json.loads(run("record", "show", "r1.cose", cwd=workdir).stdout)
    assert shown["seq"] == 1
    assert shown["ts"] == 1795977600000
    assert shown["body"]["lanes"] == {"lane-1": "idle"}
    sign(workdir, 2, "r2.cose", "--prev", shown["id"])
    result = run("record", "verify", "r1.cose", "r2.cose", "--keys", "keys", cwd=workdir)
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(": ok status device gate-1" in line for line in lines)


def test_chain_option_reports_gaps_and_forks(workdir: Path) -> None:
    sign(workdir, 1, "r1.cose")
    sign(workdir, 1, "r1-fork.cose", "--ts", "5")
    first = json.loads(run("record", "show", "r1.cose", cwd=workdir).stdout)["id"]
    sign(workdir, 3, "r3.cose", "--prev", first)
    result = run(
        "record", "verify", "r1.cose", "r1-fork.cose", "r3.cose", "--keys", "keys", "--chain",
        cwd=workdir, ok=False,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert "chain gate-1: seq 1..1 present of 3, 2 finding(s)" in lines
    assert "  gap: seq 2..2 missing" in lines
    assert "  equivocation: seq 1 has 2 different records" in lines
    intact = run("record", "verify", "r1.cose", "--keys", "keys", "--chain", cwd=workdir)
    assert "chain gate-1: seq 1..1 present of 1, 0 finding(s)" in intact.stdout


def test_verify_reports_each_bad_file_and_exits_non_zero(workdir: Path) -> None:
    sign(workdir, 1, "good.cose")
    data = bytearray((workdir / "good.cose").read_bytes())
    data[-1] ^= 0xFF
    (workdir / "bad.cose").write_bytes(bytes(data))
    (workdir / "junk.cose").write_bytes(b"\x00\x01garbage")
    result = run(
        "record", "verify", "good.cose", "bad.cose", "junk.cose", "--keys", "keys/gate-1.pub",
        cwd=workdir, ok=False,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("good.cose: ok")
    assert lines[1].startswith("bad.cose: bad_signature:")
    assert lines[2].startswith("junk.cose: undecodable:")


def test_unknown_device_key(workdir: Path) -> None:
    run("key", "new", "--device", "gate-2", "--out", "other", cwd=workdir)
    sign(workdir, 1, "r1.cose")
    result = run("record", "verify", "r1.cose", "--keys", "other", cwd=workdir, ok=False)
    assert "unknown_device" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("key", "new", "--device", "gate-1", "--out", "keys"), "never overwritten"),
        (("key", "new", "--device", "Gate 1", "--out", "keys"), "is not an id"),
        (("key", "new", "--device", "central-1", "--out", "keys"), "reserved prefix"),
        (("record", "show", "missing.cose"), "does not exist"),
        (("record", "verify", "x.cose", "--keys", "nowhere"), "no such file"),
    ],
)
def test_bad_input_gets_one_clear_line(workdir: Path, args: tuple[str, ...], message: str) -> None:
    result = run(*args, cwd=workdir, ok=False)
    assert message in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1
    assert message in errors[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--body", "{not json"), "is not JSON"),
        (("--body", '{"uptime_s": -1}'), "body.uptime_s"),
        (("--prev", "zz"), "64 hex"),
    ],
)
def test_bad_record_options(workdir: Path, extra: tuple[str, ...], message: str) -> None:
    result = sign(workdir, 2 if "--prev" in extra else 1, "r.cose", *extra, ok=False)
    assert message in result.stderr
    assert not (workdir / "r.cose").exists()


def test_records_are_never_overwritten(workdir: Path) -> None:
    sign(workdir, 1, "r1.cose")
    before = (workdir / "r1.cose").read_bytes()
    result = sign(workdir, 1, "r1.cose", ok=False)
    assert "File exists" in result.stderr
    assert (workdir / "r1.cose").read_bytes() == before


def test_signing_with_another_devices_key_is_refused(workdir: Path) -> None:
    result = run(
        "record", "sign", "--key", "keys/gate-1.key", "--site", "mine-a", "--device", "gate-2",
        "--seq", "1", "--type", "status", "--body", STATUS, "--out", "r.cose",
        cwd=workdir, ok=False,
    )  # fmt: skip
    assert "own key" in result.stderr
