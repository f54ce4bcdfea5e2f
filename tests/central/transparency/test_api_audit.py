"""The transparency routes and ``coalgate audit verify`` together, as an auditor uses them:
fetch central's key set, a tree head, a record's bytes and its proofs over HTTP, save them as
files, and verify offline with the CLI (a subprocess). A history rewritten after a head was
signed fails the consistency check; a proof against another head fails too."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.api.app import create_app
from central.config import Settings
from central.store.base import Store
from central.store.model import StoredTreeHead
from central.transparency import log, tree
from tests.central.api_support import TestClient, token
from tests.central.builders import T0, Region
from tests.central.transparency.support import KEYRING, ingest, interleaved
from tests.test_cli_wire import COALGATE
from wire import merkle
from wire.keys import KeySet, SigningKey
from wire.keysets import jwks
from wire.treehead import sign_tree_head

NOW = T0 + 10_000_000


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings.from_env({"COALGATE_DATA_DIR": str(tmp_path / "data")})
    app = create_app(store=store, keyring=KEYRING, settings=settings, clock=lambda: NOW)
    with TestClient(app) as http:
        yield http


def audit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [COALGATE, "audit", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result


def fetch(http: TestClient, path: str, auth: dict[str, str], out: Path) -> Any:
    answer = http.get(path, headers=auth)
    assert answer.status_code == 200, answer.text
    out.write_bytes(answer.content)
    return answer.json() if answer.headers["content-type"].startswith("application/json") else None


def test_an_auditor_proves_inclusion_and_consistency_offline(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    region = Region().register(store)
    records = interleaved(region, 40)
    ingest(store, records[:25], batch=25)
    log.current_head(store, KEYRING.signing, now_ms=T0 + 1)
    ingest(store, records[25:], batch=15)
    log.current_head(store, KEYRING.signing, now_ms=T0 + 2)
    auth = {"Authorization": f"Bearer {token(store, 'platform')}"}
    keys = tmp_path / "central-keys.json"
    keys.write_bytes(client.get("/api/v1/keys").content)
    old = fetch(client, "/api/v1/transparency/sth?size=25", auth, tmp_path / "sth-25.json")
    sth = fetch(client, "/api/v1/transparency/sth", auth, tmp_path / "sth.json")
    assert (old["size"], sth["size"]) == (25, 40)
    assert sth["root"] == merkle.root_hash([r.raw for r in records]).hex()
    target = records[17]
    auth_reg = {"Authorization": f"Bearer {token(store, 'regulator')}"}
    fetch(client, f"/api/v1/records/{target.record_id.hex()}/cose", auth_reg, tmp_path / "r.cbor")
    proof = fetch(
        client, f"/api/v1/transparency/inclusion/{target.record_id.hex()}", auth,
        tmp_path / "proof.json",
    )  # fmt: skip
    assert (proof["leaf_index"], proof["tree_size"]) == (17, 40)
    fetch(client, "/api/v1/transparency/consistency?first=25&second=40", auth, tmp_path / "c.json")

    ok = audit(
        tmp_path, "verify", "--keys", str(keys), "--sth", "sth-25.json", "--sth", "sth.json",
        "--inclusion", "proof.json", "--record", "r.cbor", "--consistency", "c.json",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert f"ok: record {target.record_id.hex()} (" in ok.stdout
    assert "is leaf 17 of the tree of size 40 signed by central-" in ok.stdout
    assert "ok: the tree of size 40 extends the tree of size 25" in ok.stdout

    # Another record's bytes, a bent path, a foreign key set: one line each, exit 1.
    (tmp_path / "other.cbor").write_bytes(records[3].raw)
    wrong = audit(tmp_path, "verify", "--keys", str(keys), "--inclusion", "proof.json",
                  "--record", "other.cbor")  # fmt: skip
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        f"Error: other.cbor is not record {target.record_id.hex()} "
        f"(its SHA-256 is {records[3].record_id.hex()})"
    ]
    bent = dict(proof, audit_path=[bytes(32).hex(), *proof["audit_path"][1:]])
    (tmp_path / "bent.json").write_text(json.dumps(bent))
    failed = audit(tmp_path, "verify", "--keys", str(keys), "--inclusion", "bent.json",
                   "--record", "r.cbor")  # fmt: skip
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: inclusion proof does not hold: ")
    assert len(failed.stderr.strip().splitlines()) == 1
    stranger = SigningKey.from_seed(bytes([9]) * 32, kid="central-20200101")
    (tmp_path / "stranger.json").write_text(json.dumps(jwks(KeySet([stranger.public]))))
    foreign = audit(tmp_path, "verify", "--keys", "stranger.json", "--sth", "sth.json")
    assert foreign.returncode == 1
    assert len(foreign.stderr.strip().splitlines()) == 1
    assert "central-20261" in foreign.stderr or "not in the key set" in foreign.stderr


def test_a_rewritten_history_fails_the_consistency_check(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    region = Region().register(store)
    records = interleaved(region, 1000)
    ingest(store, records[:500], batch=250)
    kept = log.current_head(store, KEYRING.signing, now_ms=T0 + 1)  # the auditor saves this
    ingest(store, records[500:], batch=250)
    log.current_head(store, KEYRING.signing, now_ms=T0 + 2)
    auth = {"Authorization": f"Bearer {token(store, 'regulator')}"}
    keys = tmp_path / "central-keys.json"
    keys.write_bytes(client.get("/api/v1/keys").content)
    fetch(client, "/api/v1/transparency/sth?size=500", auth, tmp_path / "kept.json")

    # Central's operator replaces leaf 10 with other bytes, recomputes the whole tree and
    # signs a new head for 1000; the head of 500 it left alone (the auditor has it anyway).
    forged = region.dest.other_version(4)  # record 10 is the dest's seq 4
    assert (records[10].device, records[10].seq) == (forged.device, forged.seq)
    rewrite_leaf(store, 10, forged.raw)
    store_any: Any = store
    store_any._write(lambda tx: tx.run("DELETE FROM tree_heads WHERE size = 1000"))
    log.current_head(store, KEYRING.signing, now_ms=T0 + 3)

    proof = log.consistency(store, 500, 1000)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(
            first=500, second=1000, first_root=kept.root, second_root=proof.second.root,
            proof=proof.path,
        )  # fmt: skip
    fetch(client, "/api/v1/transparency/consistency?first=500&second=1000", auth,
          tmp_path / "c.json")  # fmt: skip
    failed = audit(tmp_path, "verify", "--keys", str(keys), "--sth", "kept.json",
                   "--consistency", "c.json")  # fmt: skip
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1].startswith("Error: consistency proof does not hold: ")

    # Had it re-signed 500 as well, the head the auditor kept gives it away.
    store_any._write(lambda tx: tx.run("DELETE FROM tree_heads WHERE size = 500"))
    head = sign_tree_head(KEYRING.signing, size=500, root=log.root(store, 500), ts=T0 + 4)
    store.add_tree_head(
        StoredTreeHead(size=500, root=head.root, ts=head.ts, kid=head.kid, raw=head.raw)
    )
    fetch(client, "/api/v1/transparency/consistency?first=500&second=1000", auth,
          tmp_path / "c2.json")  # fmt: skip
    caught = audit(tmp_path, "verify", "--keys", str(keys), "--sth", "kept.json",
                   "--consistency", "c2.json")  # fmt: skip
    assert caught.returncode == 1
    assert "central signed two different roots for tree size 500" in caught.stderr


def rewrite_leaf(store: Store, index: int, raw: bytes) -> None:
    """What a dishonest operator would do: new bytes for a record, every node recomputed."""
    entries = store.log_entries(limit=100_000)
    hashes = [e.leaf_hash or b"" for e in entries]
    hashes[index] = merkle.leaf_hash(raw)
    nodes = tree.append(0, [], hashes)
    record_id = entries[index].record_id
    store_any: Any = store

    def work(tx: Any) -> None:
        tx.run("UPDATE records SET raw = ? WHERE record_id = ?", (raw, record_id))
        tx.many(
            "UPDATE transparency_nodes SET hash = ? WHERE level = ? AND idx = ?",
            [(n.hash, n.level, n.index) for n in nodes],
        )

    store_any._write(work)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{}", "Error: inclusion proof: record_id: Field required"),
        (b"not json", "Error: proof.json: not JSON ("),
        (
            json.dumps(
                {
                    "record_id": "ab",
                    "leaf_index": 0,
                    "tree_size": 1,
                    "audit_path": [],
                    "sth": {"size": 1, "root": "", "ts": 0, "kid": "k", "sth": "!"},
                }
            ).encode(),
            "Error: record_id[0] is 1 bytes, not 32",
        ),
    ],
)
def test_a_malformed_proof_file_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "keys.json").write_text(json.dumps(jwks(KEYRING.published)))
    (tmp_path / "proof.json").write_bytes(content)
    (tmp_path / "r.cbor").write_bytes(b"\xd2")
    result = audit(tmp_path, "verify", "--keys", "keys.json", "--inclusion", "proof.json",
                   "--record", "r.cbor")  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(message), lines
