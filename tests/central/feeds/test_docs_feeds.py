"""docs/feeds.md's examples run: a day of real signed records is loaded into the database the
page describes, its ``sh`` block makes the tokens, ``coalgate central run`` serves, and its
``console`` block's curl commands must all succeed and answer what the page says. The page's
``verify`` function checks a signature made by central's webhook code."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path
from typing import Any

from central.store.model import Enterprise, Site
from central.store.sqlite import SqliteStore
from central.ticketing import service as ticketing
from central.webhooks import signing
from tests.central import builders as b
from tests.central.builders import Edge
from tests.central.test_cli_api import serve, stop
from tests.central.test_cli_central import ROOT, env_for

DOC = ROOT / "docs" / "feeds.md"
LOADED = b.utc_ms("2026-10-15T01:00:00")  # 09:00 CST


def block(kind: str) -> str:
    (found,) = re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return str(found)


def load_a_day(database: Path) -> None:
    """The region of docs/central.md with one delivered load and an escape alarm."""
    store = SqliteStore(database)
    try:
        store.migrate()
        for value in (
            Enterprise(id="yl-coal-co-a", name="榆林A煤业", credit_code="91610800MA6Y000A0A",
                       land_mu=320.5, capacity_t=1_200_000),
            Enterprise(id="mg-metal-b", name="B镁业", credit_code="91610800MA6Y000B0B",
                       land_mu=150, capacity_t=300_000),
        ):  # fmt: skip
            store.add_enterprise(value, actor="test", at=LOADED)
        store.add_site(
            Site(
                id="yl-mine-a",
                enterprise="yl-coal-co-a",
                kind="coal_mine",
                name="A矿",
                lat=38.29,
                lon=109.74,
            ),
            actor="test",
            at=LOADED,
        )
        store.add_site(
            Site(
                id="mg-smelter-b", enterprise="mg-metal-b", kind="magnesium_smelter", name="B镁厂"
            ),
            actor="test",
            at=LOADED,
        )
        mine = Edge(device="yl-mine-a-gate-1", site="yl-mine-a")
        smelter = Edge(device="mg-smelter-b-gate-1", site="mg-smelter-b", seed=8)
        for edge in (mine, smelter):
            store.enroll_device(b.device(edge), actor="test", at=LOADED)
        store.upsert_vehicles([b.vehicle()], actor="test", at=LOADED)
        issued = ticketing.issue(
            store,
            b.central_keyring(),
            b.ticket_request(
                enterprise="yl-coal-co-a",
                seller_site="yl-mine-a",
                buyer="mg-metal-b",
                dest_site="mg-smelter-b",
            ),
            issuer="coalgate-central",
            now_ms=LOADED - 3_600_000,
            actor="test",
        )
        cti = issued.ticket.cti
        records = [
            mine.sign(1, b.loading(cti, 34_000), ts=LOADED),
            mine.sign(2, b.escape_event(), ts=LOADED + 60_000),
            smelter.sign(1, b.arrival(cti, 34_000), ts=LOADED + 3 * 3_600_000),
        ]
        store.ingest([b.incoming(r) for r in records], [], now_ms=LOADED + 4 * 3_600_000)
    finally:
        store.close()


def test_the_documented_feed_examples_run(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    env["COALGATE_COAL_PRICES"] = "5500kcal-lump=820,default=600"
    (tmp_path / "data").mkdir()
    load_a_day(tmp_path / "data" / "central.db")
    setup = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", block("sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert setup.returncode == 0, setup.stderr
    process, base = serve(tmp_path, "--no-ingest", env=env)
    try:
        port = base.rsplit(":", 1)[1]
        script = "\n".join(line.removeprefix("$ ") for line in block("console").splitlines())
        script = script.replace("8080", port).replace("curl -s ", "curl -s --fail-with-body ")
        script = script.replace("\ncurl", "\necho; curl") + "\n"
        examples = subprocess.run(
            ["bash", "-e", "-u", "-o", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        stop(process, signal.SIGTERM)
    assert examples.returncode == 0, examples.stdout + examples.stderr
    out = examples.stdout
    assert '"kind":"escape","subject":"yl-coal-co-a"' in out
    assert '"url":"/api/v1/records/' in out
    assert '"enterprise":"yl-coal-co-a","score":90' in out
    assert "\nyl-coal-co-a,90," in out  # the scores' CSV
    assert '"period":"2026-10","sold_kg":34000,"received_kg":0,"value_yuan":27880' in out
    assert '"rank":1,"grade":"A"' in out
    assert "enterprise,period,sold_kg,received_kg,value_yuan" in out  # the CSV header
    assert '"kind":"trip","subject":"陕K12345"' in out
    assert '{"added":1,"replaced":0,"unchanged":0}' in out
    assert '"diff_kg":4000,"diff_value_yuan":3280' in out
    assert '"secret":"whsec_' in out


def test_the_documented_signature_check_accepts_central_signatures() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(block("python"), str(DOC), "exec"), namespace)
    verify = namespace["verify"]
    body = b'{"feed":"credit","item":{}}'
    header = signing.sign("whsec_0123456789abcdef", body, t_ms=1_000_000)
    assert verify("whsec_0123456789abcdef", body, header, 1_000_000)
    assert not verify("whsec_0123456789abcdef", body + b"x", header, 1_000_000)
    assert not verify("whsec_other", body, header, 1_000_000)
    assert not verify("whsec_0123456789abcdef", body, header, 1_000_000 + 300_001)
