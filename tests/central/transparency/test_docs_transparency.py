"""docs/transparency.md's auditor session runs: a central database of 40 records (a head was
signed at 25, kept by the auditor as ``sth-old.json``), ``coalgate central run`` (which signs
the head of 40 at start), then the doc's ``console`` block; what it prints must match the
doc's ``text`` block (``…`` stands for anything)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

from central.store.sqlite import SqliteStore
from central.transparency import log
from central.transparency.jsonform import head_view
from tests.central.api_support import token
from tests.central.builders import T0, Region
from tests.central.test_cli_api import serve, stop
from tests.central.test_cli_central import ROOT, env_for
from tests.central.transparency.support import KEYRING, ingest, interleaved
from wire.keyfiles import write_key_pair

DOC = ROOT / "docs" / "transparency.md"


def block(kind: str) -> str:
    (found,) = re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return str(found)


def script() -> str:
    lines = block("console").splitlines()
    return "\n".join(line.removeprefix("$ ") for line in lines) + "\n"


def test_the_documented_audit_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "keys").mkdir(parents=True)
    write_key_pair(KEYRING.signing, data / "keys")
    store = SqliteStore(data / "central.db")
    try:
        store.migrate()
        records = interleaved(Region().register(store), 40)
        ingest(store, records[:25], batch=10)
        kept = log.current_head(store, KEYRING.signing, now_ms=T0 + 60_000)
        ingest(store, records[25:], batch=10)
        regulator = token(store, "regulator")
    finally:
        store.close()
    (tmp_path / "sth-old.json").write_text(json.dumps(head_view(kept)))
    env = env_for(tmp_path)
    process, base = serve(tmp_path, "--no-ingest", env=env)
    try:
        env.update(CENTRAL=base, TOKEN=regulator, RECORD=records[16].record_id.hex())
        commands = script().replace("curl -s ", "curl -s --fail-with-body ")
        result = subprocess.run(
            ["bash", "-e", "-u", "-o", "pipefail", "-c", commands], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        stop(process, signal.SIGTERM)
    assert result.returncode == 0, result.stdout + result.stderr
    printed = result.stdout.splitlines()
    expected = block("text").splitlines()
    assert len(printed) == len(expected), result.stdout
    for line, pattern in zip(printed, expected, strict=True):
        assert re.fullmatch(".*".join(map(re.escape, pattern.split("…"))), line), (line, pattern)
