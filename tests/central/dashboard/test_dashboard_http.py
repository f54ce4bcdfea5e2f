"""The dashboard's sessions and JSON routes over HTTP (the app in process): login, cookie,
CSRF, expiry and revocation; the role scoping of every route the pages read; the live stream's
cursor. The browser tests (test_dashboard_browser.py) drive the same routes from the pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.api.auth import Principal
from central.dashboard import figures
from central.dashboard.live import BACKFILL, LiveCursor, LiveFeed
from central.dashboard.sessions import ABSOLUTE_MS, COOKIE, IDLE_MS, SessionTable
from central.store import open_store
from central.store.base import Store
from central.store.model import ApiToken, DeviceStatus, RecordQuery
from tests.central import builders as b
from tests.central.api_support import KEYRING, TestClient, settings
from tests.central.builders import HOUR, T0
from tests.central.dashboard.support import OTHER_SITE, World, build_world, curve
from wire.keys import SigningKey
from wire.records import record_id
from wire.tickets import issue_ticket, ticket_qr

NOW = T0 + 2 * HOUR


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'central.db'}")
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def world(store: Store) -> World:
    return build_world(store)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(store: Store, world: World, tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    from central.api.app import create_app  # noqa: PLC0415 - after the world is built

    app = create_app(store=store, keyring=KEYRING, settings=settings(tmp_path), clock=clock)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def login(client: TestClient, token: str) -> str:
    answer = client.post("/dashboard/api/session", json={"token": token})
    assert answer.status_code == 200, answer.text
    csrf: str = answer.json()["csrf"]
    return csrf


# --- sessions ---------------------------------------------------------------------------------


def test_login_sets_a_strict_http_only_cookie_that_is_not_the_token(
    client: TestClient, world: World
) -> None:
    answer = client.post("/dashboard/api/session", json={"token": world.tokens["regulator"]})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here; set behind HTTPS
    assert world.tokens["regulator"] not in cookie
    who = answer.json()
    assert (who["role"], who["home"]) == ("regulator", "/dashboard/")
    assert client.get("/api/v1/alarms").status_code == 200  # the API accepts the session
    assert client.get("/dashboard/api/session").json()["csrf"] == who["csrf"]


@pytest.mark.parametrize(
    ("who", "status"), [("platform", 403), ("nobody", 401)]
)  # fmt: skip
def test_only_roles_with_pages_log_in(
    client: TestClient, world: World, who: str, status: int
) -> None:
    token = world.tokens.get(who, "cg_" + "x" * 43)
    answer = client.post("/dashboard/api/session", json={"token": token})
    assert answer.status_code == status
    assert COOKIE not in answer.headers.get("set-cookie", "")


def test_a_change_needs_the_sessions_csrf_secret(client: TestClient, world: World) -> None:
    csrf = login(client, world.tokens["regulator"])
    (alarm,) = world.store.alarms()
    url = f"/api/v1/alarms/{alarm.id}/ack"
    refused = client.post(url, json={"note": "x"})
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["message"]
    wrong = client.post(url, json={"note": "x"}, headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status_code == 403
    done = client.post(url, json={"note": "checked"}, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200
    assert done.json()["ack"]["note"] == "checked"


def test_logout_ends_the_session(client: TestClient, world: World) -> None:
    csrf = login(client, world.tokens["regulator"])
    assert client.delete("/dashboard/api/session").status_code == 403  # no CSRF secret
    assert (
        client.delete("/dashboard/api/session", headers={"X-CSRF-Token": csrf}).status_code == 200
    )
    assert client.get("/dashboard/api/sites").status_code == 401
    assert client.get("/dashboard/api/session").status_code == 401


def test_idle_and_absolute_expiry(client: TestClient, world: World, clock: Clock) -> None:
    login(client, world.tokens["regulator"])
    clock.now += IDLE_MS - 1
    assert client.get("/dashboard/api/sites").status_code == 200  # and restarts the idle clock
    clock.now += IDLE_MS - 1
    assert client.get("/dashboard/api/sites").status_code == 200
    clock.now += IDLE_MS
    assert client.get("/dashboard/api/sites").status_code == 401
    login(client, world.tokens["regulator"])
    for _ in range(ABSOLUTE_MS // (IDLE_MS // 2)):
        clock.now += IDLE_MS // 2
        if client.get("/dashboard/api/sites").status_code == 401:
            break
    assert clock.now - NOW >= ABSOLUTE_MS  # busy all along, ended by the absolute limit


def test_revoking_the_token_ends_its_sessions(client: TestClient, world: World) -> None:
    login(client, world.tokens["enterprise"])
    assert client.get("/dashboard/api/sites").status_code == 200
    (token,) = [t for t in world.store.list_tokens() if t.enterprise == b.ENTERPRISE]
    world.store.revoke_token(token.id, actor="test", at=NOW)
    assert client.get("/dashboard/api/sites").status_code == 401


def test_a_bearer_token_still_wins_over_a_cookie(client: TestClient, world: World) -> None:
    login(client, world.tokens["regulator"])
    bearer = {"Authorization": f"Bearer {world.tokens['enterprise']}"}
    assert client.get("/dashboard/api/alarms", headers=bearer).status_code == 403


def test_the_session_table_evicts_the_least_recently_used() -> None:
    table = SessionTable(max_sessions=2)
    token = ApiToken(id=1, digest=b"d" * 32, role="regulator", enterprise=None, device=None,
                     created_at=0)  # fmt: skip
    first, _ = table.open(token, now_ms=0)
    second, _ = table.open(token, now_ms=1)
    assert table.get(first, now_ms=2) is not None  # first is now the most recent
    table.open(token, now_ms=3)
    assert len(table) == 2
    assert table.get(second, now_ms=4) is None
    assert table.get(first, now_ms=4) is not None


# --- scoping ------------------------------------------------------------------------------------


def test_an_enterprise_sees_its_own_and_nothing_else(client: TestClient, world: World) -> None:
    login(client, world.tokens["enterprise"])
    sites = {s["id"] for s in client.get("/dashboard/api/sites").json()["sites"]}
    assert sites == {b.SITE, b.OTHER_SITE}
    tonnage = client.get("/dashboard/api/tonnage").json()
    assert {e["id"] for e in tonnage["enterprises"]} == {b.ENTERPRISE}
    assert OTHER_SITE not in {s["id"] for s in tonnage["sites"]}
    listed = {t["id"] for t in client.get("/dashboard/api/tickets").json()["items"]}
    assert listed == {world.ticket.id}
    assert client.get(f"/dashboard/api/tickets/{world.other_ticket.id}").status_code == 403
    assert client.get("/dashboard/api/trucks/陕K54321").json()["trips"] == []
    assert client.get("/dashboard/api/alarms").status_code == 403
    detail = client.get(f"/dashboard/api/tickets/{world.ticket.id}").json()
    assert detail["source"]["visible"] is True
    assert detail["destination"] == {  # the buyer's gate: not the seller's to read
        "id": detail["ticket"]["arrived_record"], "visible": False,
        "reason": "other_enterprise", "site": b.DEST_SITE,
    }  # fmt: skip
    assert detail["sightings"] is None  # sightings are the regulator's
    arrival = detail["ticket"]["arrived_record"]
    assert client.get(f"/dashboard/api/records/{arrival}").status_code == 403


def test_the_buyer_sees_the_ticket_but_not_the_sellers_records(
    client: TestClient, world: World, store: Store
) -> None:
    from tests.central.api_support import token  # noqa: PLC0415

    login(client, token(store, "enterprise", enterprise=b.BUYER))
    detail = client.get(f"/dashboard/api/tickets/{world.ticket.id}").json()
    assert detail["source"]["visible"] is False
    assert detail["destination"]["visible"] is True
    readings = detail["destination"]["evidence"]["readings"]
    assert len(readings) == 40
    assert readings == [list(r) for r in curve(33_950).readings]  # the evidence, as signed


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("checkpoint", "/dashboard/api/sites", 403),
        ("checkpoint", "/dashboard/api/tickets", 403),
        ("admin", "/dashboard/api/tickets", 403),
        ("admin", "/dashboard/api/alarms", 200),
        ("enterprise", "/dashboard/api/checkpoint/verify", 405),
        ("regulator", "/dashboard/api/tonnage", 200),
    ],
)
def test_role_gates(client: TestClient, world: World, who: str, path: str, status: int) -> None:
    login(client, world.tokens[who])
    assert client.get(path).status_code == status


def test_the_checkpoint_verify_adds_what_central_knows(client: TestClient, world: World) -> None:
    csrf = login(client, world.tokens["checkpoint"])
    headers = {"X-CSRF-Token": csrf}
    answer = client.post("/dashboard/api/checkpoint/verify", json={"qr": world.receipt()},
                         headers=headers).json()  # fmt: skip
    assert answer["verification"]["valid"] is True
    assert answer["verification"]["net_kg"] == 34_000
    central = answer["central"]
    assert (central["state"], central["source_net_kg"], central["used"]) == ("closed", 34_000, True)
    assert central["seller_site_name"] == "大柳塔A矿"
    assert central["seen_here"] == []
    client.post("/api/v1/sightings", json={"qr": world.qr()}, headers=headers)
    again = client.post("/dashboard/api/checkpoint/verify", json={"qr": world.qr()},
                        headers=headers).json()  # fmt: skip
    assert len(again["central"]["seen_here"]) == 1
    real = world.ticket
    forger = SigningKey.from_seed(b"\x09" * 32, kid=real.kid)  # central's kid, another key
    forged = issue_ticket(
        forger, iss=real.iss, iat=real.iat, cti=real.cti, seller_site=real.seller_site,
        seller=real.seller, buyer=real.buyer, plate="陕K99999", coal=real.coal,
        max_net_kg=real.max_net_kg, dest_site=real.dest_site, no=real.no, exp=real.exp,
    )  # fmt: skip
    bad = client.post("/dashboard/api/checkpoint/verify", json={"qr": ticket_qr(forged)},
                      headers=headers).json()  # fmt: skip
    assert (bad["verification"]["valid"], bad["verification"]["reason"]) == (
        False, "bad_signature"
    )  # fmt: skip
    assert bad["central"] is None  # nothing of the real ticket for a forged text naming it


def test_a_record_shows_its_signature_and_chain(client: TestClient, world: World) -> None:
    login(client, world.tokens["regulator"])
    check = client.get(f"/dashboard/api/records/{world.loading.id.hex()}").json()
    assert check["signature"]["ok"] is True
    assert check["chain"] == {"backward": "linked", "forward": "linked", "equivocation": False,
                              "ok": True}  # fmt: skip
    seller = world.region.seller
    assert check["neighbours"]["before"] == seller.signed[1].id.hex()
    last = client.get(f"/dashboard/api/records/{seller.signed[4].id.hex()}").json()
    assert last["chain"]["forward"] == "missing"


# --- the live stream's cursor -------------------------------------------------------------------


def test_the_live_feed_backfills_then_sends_only_what_is_new(
    world: World, store: Store, tmp_path: Path
) -> None:
    import logging  # noqa: PLC0415

    from central.api.context import ApiContext  # noqa: PLC0415

    context = ApiContext(
        store=store, keyring=KEYRING, settings=settings(tmp_path), publisher=None,
        clock=lambda: NOW, logger=logging.getLogger("tests.live"),
    )  # fmt: skip
    regulator = Principal(token_id=1, role="regulator", enterprise=None, device=None)
    feed = LiveFeed(context, regulator, None)
    first = feed.poll()
    day = [
        r.record_id.hex()
        for r in store.find_records(RecordQuery(type="weighing", limit=1000))
        if r.received_at >= NOW - 24 * HOUR
    ]
    sent = [c.split('"id":"', 1)[1][:64] for c in first if "event: weighing" in c]
    assert sent == day[-BACKFILL:]  # the latest of the last day (fewer in the last hour)
    assert world.loading.id.hex() in sent
    assert sum("event: alarm" in c for c in first) == 1
    assert feed.poll() == []  # nothing new; the lookback window re-read is skipped
    seller = world.region.seller
    record = seller.sign(5, b.weighing(ticket=None, plate="陕K77777"), ts=NOW)
    store.ingest([b.incoming(record, received_at=NOW + 10)], [], now_ms=NOW + 10)
    (chunk,) = feed.poll()
    assert record_id(record.raw).hex() in chunk
    cursor = LiveCursor.decode(chunk.split("\n", 1)[0].removeprefix("id: "))
    assert cursor is not None
    assert (cursor.received_at, cursor.record_id) == (NOW + 10, record.id)
    resumed = LiveFeed(context, regulator, cursor)  # the browser reconnects with Last-Event-ID
    assert resumed.poll() == []
    enterprise = Principal(token_id=2, role="enterprise", enterprise=OTHER_ENTERPRISE_ID,
                           device=None)  # fmt: skip
    assert LiveFeed(context, enterprise, None).poll() == []  # none of its sites weighed


OTHER_ENTERPRISE_ID = "zz-other-c"


@given(st.text(max_size=130))
def test_a_cursor_from_anywhere_decodes_or_is_none(text: str) -> None:
    cursor = LiveCursor.decode(text)
    if cursor is not None:
        assert LiveCursor.decode(cursor.encode()) == cursor


# --- figures (pure) -----------------------------------------------------------------------------


def test_days_and_device_health() -> None:
    assert figures.cst_days(b.utc_ms("2026-11-30T16:00:00"), 3) == [
        "2026-11-29", "2026-11-30", "2026-12-01"
    ]  # fmt: skip
    assert figures.cst_days(b.utc_ms("2026-11-30T15:59:59.999"), 1) == ["2026-11-30"]
    assert figures.device_health(None, None, state="active", now_ms=NOW) == "unknown"
    assert figures.device_health(None, NOW - 1000, state="active", now_ms=NOW) == "online"
    quiet = NOW - figures.SILENT_MS - 1
    assert figures.device_health(None, quiet, state="active", now_ms=NOW) == "silent"
    assert figures.device_health(None, NOW, state="revoked", now_ms=NOW) == "revoked"


def test_a_site_is_as_healthy_as_its_healthiest_device(
    client: TestClient, world: World, store: Store
) -> None:
    login(client, world.tokens["regulator"])

    def health() -> dict[str, str]:
        sites = client.get("/dashboard/api/sites").json()["sites"]
        return {s["id"]: s["health"] for s in sites}

    assert health() == {b.SITE: "silent", b.DEST_SITE: "silent", b.OTHER_SITE: "silent",
                        OTHER_SITE: "no_device"}  # fmt: skip
    seller = world.region.seller.device
    store.set_device_status(
        DeviceStatus(device=seller, state="online", since=NOW - 1000, version="0.1.0",
                     updated_at=NOW)
    )  # fmt: skip
    assert health()[b.SITE] == "online"
    (mine,) = [s for s in client.get("/dashboard/api/sites").json()["sites"] if s["id"] == b.SITE]
    (gate,) = mine["devices"]
    assert (gate["backlog"], gate["last_seq"], gate["version"]) == (3, 4, "0.1.0")
    assert gate["certificate_exp"] is not None
    store.set_device_status(
        DeviceStatus(device=seller, state="offline", since=NOW, version=None, updated_at=NOW)
    )
    assert health()[b.SITE] == "offline"
