"""``coalgate checkpoint sync`` against a live central, then ``coalgate checkpoint verify``
with central stopped: run as an officer runs them, the installed command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.store import open_store
from central.store.base import Store
from tests.central import builders as b
from tests.central.dashboard.support import CentralServer, World, build_world
from tests.test_cli_wire import COALGATE
from wire.keys import SigningKey
from wire.receipts import encode_receipt
from wire.tickets import issue_ticket, ticket_qr

NOW_S = 1_796_083_200 + 2 * 3600  # two hours after the region's tickets were issued


def checkpoint(cwd: Path, *args: str, ok: bool = True, **env: str) -> str:
    result = subprocess.run(
        [COALGATE, "checkpoint", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        check=False, env={**os.environ, **env},
    )  # fmt: skip
    assert (result.returncode == 0) is ok, result
    assert "Traceback" not in result.stderr
    return result.stdout if ok else result.stdout + result.stderr


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store: Store = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    store.migrate()
    try:
        yield build_world(store)
    finally:
        store.close()


@pytest.fixture
def synced(world: World, tmp_path: Path) -> Path:
    """The key set synced from a live central, which is then stopped."""
    keys = tmp_path / "officer" / "keys.json"
    with CentralServer(world.store, tmp_path) as server:
        line = checkpoint(
            tmp_path, "sync", "--url", server.url, "--out", str(keys), "--timeout", "30"
        )
        url = server.url
    assert line.strip() == f"synced 1 central key(s) (central-20261129) from {url} to {keys}"
    unreachable = checkpoint(tmp_path, "sync", "--url", url, "--out", str(keys), ok=False)
    assert "cannot reach" in unreachable  # central is down from here on
    return keys


def test_a_ticket_and_a_receipt_verify_offline_with_the_synced_keys(
    world: World, synced: Path, tmp_path: Path
) -> None:
    line = checkpoint(tmp_path, "verify", world.qr(), "--keys", str(synced), "--now", str(NOW_S))
    assert line.count("\n") == 1
    ticket = world.ticket
    assert line.startswith(f"VALID ticket {ticket.no} 陕K12345 yl-mine-a → mg-smelter-b")
    assert "(open)" in line
    later = str(ticket.exp + 1)
    assert "(passed)" in checkpoint(tmp_path, "verify", world.qr(), "--keys", str(synced),
                                    "--now", later)  # fmt: skip
    line = checkpoint(tmp_path, "verify", world.receipt(), "--keys", str(synced))
    assert line.startswith(f"VALID receipt {ticket.no}")
    assert "loaded net 34000 kg" in line
    assert "by yl-mine-a-gate-1" in line
    answer = json.loads(checkpoint(tmp_path, "verify", "--json", world.receipt(),
                                   "--keys", str(synced)))  # fmt: skip
    assert (answer["kind"], answer["valid"], answer["net_kg"]) == ("receipt", True, 34_000)
    assert answer["checks"] == {"signature": True, "certified_device": True, "loadable": True}
    assert answer["record"] == world.loading.id.hex()
    assert answer["ticket"]["plate"] == "陕K12345"


def test_the_default_key_file_lives_under_the_checkpoint_dir(world: World, tmp_path: Path) -> None:
    data = tmp_path / "cp-data"
    with CentralServer(world.store, tmp_path) as server:
        checkpoint(tmp_path, "sync", "--url", server.url, COALGATE_CHECKPOINT_DIR=str(data))
    assert json.loads((data / "central-keys.json").read_text())["keys"][0]["kid"]
    line = checkpoint(tmp_path, "verify", world.qr(), COALGATE_CHECKPOINT_DIR=str(data))
    assert line.startswith("VALID ticket")


def test_a_tampered_or_foreign_qr_is_one_failing_line(
    world: World, synced: Path, tmp_path: Path
) -> None:
    receipt = world.receipt()
    tampered = receipt[:300] + ("A" if receipt[300] != "A" else "B") + receipt[301:]
    out = checkpoint(tmp_path, "verify", tampered, "--keys", str(synced), ok=False)
    assert len(out.strip().splitlines()) == 1
    assert out.startswith("INVALID receipt: ")
    forger = SigningKey.from_seed(b"\x09" * 32, kid="central-20261129")
    forged = issue_ticket(
        forger, iss="yulin-energy-bureau", seller_site="yl-mine-a", seller="sx-coal-a",
        buyer="mg-metal-b", plate="陕K12345", coal="5500kcal-lump", max_net_kg=40_000,
        dest_site="mg-smelter-b", no="20261201-00000000", iat=NOW_S, exp=NOW_S + 3600,
        cti=bytes(16),
    )  # fmt: skip
    out = checkpoint(tmp_path, "verify", ticket_qr(forged), "--keys", str(synced), ok=False)
    assert out.startswith("INVALID ticket: ")
    assert len(out.strip().splitlines()) == 1
    late = world.region.seller.sign(
        5, b.loading(world.ticket.cti, 34_000), ts=world.ticket.exp * 1000 + 1
    )
    certificate = world.store.get_device(world.region.seller.device).certificate
    loaded_late = encode_receipt(ticket=world.ticket.raw, record=late.raw, certificate=certificate)
    answer = json.loads(checkpoint(tmp_path, "verify", "--json", loaded_late, "--keys",
                                   str(synced), ok=False))  # fmt: skip
    assert (answer["valid"], answer["reason"]) == (False, "deadline")
    assert answer["checks"] == {"signature": True, "certified_device": None, "loadable": False}
    answer = json.loads(checkpoint(tmp_path, "verify", "--json", "hello", "--keys", str(synced),
                                   ok=False))  # fmt: skip
    assert (answer["valid"], answer["reason"]) == (False, "bad_qr")


def test_verify_without_a_synced_key_set_says_what_to_do(tmp_path: Path) -> None:
    out = checkpoint(tmp_path, "verify", "CT1:XYZ", "--keys", str(tmp_path / "none.json"),
                     ok=False)  # fmt: skip
    assert "coalgate checkpoint sync --url CENTRAL" in out
    assert len(out.strip().splitlines()) == 1
