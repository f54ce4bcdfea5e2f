"""``coalgate audit scan`` on both stores (the CLI, a subprocess): a clean log passes; bytes
edited with SQL after the fact, a node changed, a leaf removed and a history rewritten are each
reported, one line per finding, exit 1, and nothing is repaired."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from central.store.base import Store
from central.transparency import log
from central.transparency.scan import scan
from tests.central.builders import T0, Region
from tests.central.transparency.support import KEYRING, ingest, interleaved
from tests.central.transparency.test_api_audit import rewrite_leaf
from tests.test_cli_wire import COALGATE
from wire.keys import KeySet
from wire.keysets import jwks


def run_scan(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    keys = tmp_path / "central-keys.json"
    keys.write_text(json.dumps(jwks(KeySet([KEYRING.signing.public]))))
    result = subprocess.run(
        [COALGATE, "audit", "scan", "--database", database_url, "--keys", str(keys)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result


def sql(store: Store, statement: str, params: tuple[Any, ...] = ()) -> None:
    """A statement on the store's database, behind its back (what a tamperer does)."""
    store_any: Any = store
    store_any._write(lambda tx: tx.run(statement, params))


@pytest.fixture
def logged(store: Store) -> list[bytes]:
    region = Region().register(store)
    records = interleaved(region, 1000)
    ingest(store, records[:400], batch=200)
    log.current_head(store, KEYRING.signing, now_ms=T0 + 1)
    ingest(store, records[400:], batch=300)
    log.current_head(store, KEYRING.signing, now_ms=T0 + 2)
    return [r.raw for r in records]


def test_a_clean_log_passes(database_url: str, logged: list[bytes], tmp_path: Path) -> None:
    result = run_scan(database_url, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "ok: 1000 leaves, 2 tree heads checked\n"


def test_a_record_edited_in_the_database_is_reported(
    store: Store, database_url: str, logged: list[bytes], tmp_path: Path
) -> None:
    raw = logged[123]
    record_id = hashlib.sha256(raw).digest()
    edited = raw[:-40] + bytes([raw[-40] ^ 1]) + raw[-39:]
    sql(store, "UPDATE records SET raw = ? WHERE record_id = ?", (edited, record_id))
    result = run_scan(database_url, tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    name = f"record {record_id.hex()} (yl-mine-a-gate-1 seq 42, leaf 123)"
    assert f"record_changed: {name}: its bytes were changed after it was stored" in "\n".join(lines)
    assert any(line.startswith(f"bad_signature: {name}: ") for line in lines)
    assert any(line.startswith("leaf_changed: ") for line in lines)
    assert any(line.startswith("history_rewritten: tree head of size 400: ") for line in lines)
    assert any(line.startswith("broken_chain: ") and "seq 43" in line for line in lines)
    assert result.stderr.startswith("FAILED: ")
    # Nothing was repaired: the edited bytes are still there.
    stored = store.record_by_id(record_id)
    assert stored is not None
    assert stored.raw == edited


def test_changed_nodes_a_missing_leaf_and_a_rewritten_history_are_reported(
    store: Store, logged: list[bytes]
) -> None:
    sql(store, "UPDATE transparency_nodes SET hash = ? WHERE level = 3 AND idx = 7", (bytes(32),))
    report = scan(store, KEYRING.published)
    assert [f.message for f in report.findings] == [
        "tree node (3, 7) is not the hash of its children: proofs built from it will not verify",
        "tree node (4, 3) is not the hash of its children: proofs built from it will not verify",
    ]
    rewrite_leaf(store, 500, logged[0])
    report = scan(store, KEYRING.published)
    kinds = [f.kind for f in report.findings]
    assert "history_rewritten" in kinds, "the head of 1000 no longer matches the records"
    assert "record_changed" in kinds
    assert "node_changed" not in kinds, "the tree was recomputed"
    sql(store, "DELETE FROM transparency_nodes WHERE level = 0 AND idx = 999")
    sql(store, "DELETE FROM transparency_leaves WHERE idx = 999")
    report = scan(store, KEYRING.published)
    messages = [f"{f.kind}: {f.message}" for f in report.findings]
    assert "log_size: the log says it has 1000 leaves, 999 are stored" in messages
    assert any(m.startswith("not_logged: record ") for m in messages)


def test_a_database_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    keys = tmp_path / "k.json"
    keys.write_text(json.dumps(jwks(KeySet([KEYRING.signing.public]))))
    result = subprocess.run(
        [COALGATE, "audit", "scan", "--database", "mysql://x", "--keys", str(keys)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: database URL 'mysql://x': expected postgresql://…, sqlite:///path or a file path"
    ]
