"""The feed routes over HTTP (FastAPI's test client) on both stores: roles and scopes, cursors
across polls with new records in between, CSV that says what the JSON says, tax declarations,
webhook subscriptions and the OpenAPI document. The world is ``tests.central.api_support``'s:
``sx-coal-a`` loaded 34,000 kg of 5500kcal-lump at 2026-12-01T01:00Z (CST 09:00) and raised
an escape alarm."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.api.app import create_app
from central.config import Settings
from central.store.base import Store
from tests.central import builders as b
from tests.central.api_support import ISSUER, KEYRING, TestClient, World, build_world
from tests.central.builders import ENTERPRISE, HOUR, T0

NEW_YEAR = b.utc_ms("2027-01-02T00:00:00")  # December has ended and settled (1 day)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def world(store: Store) -> World:
    return build_world(store)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + 2 * HOUR)


@pytest.fixture
def client(store: Store, tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    settings = Settings.from_env(
        {
            "COALGATE_DATA_DIR": str(tmp_path),
            "COALGATE_ISSUER": ISSUER,
            "COALGATE_COAL_PRICES": "5500kcal-lump=820,default=600",
        }
    )
    app = create_app(store=store, keyring=KEYRING, settings=settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as opened:
        yield opened


def get(client: TestClient, world: World, path: str, who: str = "platform", **params: Any) -> Any:
    response = client.get(path, params=params, headers=world.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


def test_roles_and_scopes(client: TestClient, world: World) -> None:
    for path in ("credit", "credit/scores", "trucks", "mu-efficiency", "tax"):
        url = f"/api/v1/feeds/{path}"
        for who in ("platform", "regulator", "admin", "enterprise"):
            assert client.get(url, headers=world.auth(who)).status_code == 200, (path, who)
        for who in ("checkpoint", "device"):
            refused = client.get(url, headers=world.auth(who))
            assert refused.status_code == 403, (path, who)
            assert refused.json()["code"] == "forbidden"
        assert client.get(url).status_code == 401
        other = client.get(url, params={"enterprise": b.BUYER}, headers=world.auth("enterprise"))
        assert other.status_code == 403
    mine = get(client, world, "/api/v1/feeds/credit", "enterprise")
    assert [i["kind"] for i in mine["items"]] == ["escape"]
    assert {i["subject"] for i in mine["items"]} == {ENTERPRISE}
    assert get(client, world, "/api/v1/feeds/credit", "buyer")["items"] == []
    assert get(client, world, "/api/v1/feeds/credit", "platform", enterprise=b.BUYER)["items"] == []


def test_credit_cursor_across_polls_with_new_records(
    client: TestClient, world: World, store: Store
) -> None:
    seller = world.region.seller
    first = get(client, world, "/api/v1/feeds/credit", limit=1)
    assert [i["kind"] for i in first["items"]] == ["escape"]
    assert first["more"] is False
    (score,) = first["scores"]
    assert (score["enterprise"], score["score"]) == (ENTERPRISE, 90)
    assert [line["events"] for line in score["lines"] if line["kind"] == "escape"] == [
        [first["items"][0]["id"]]
    ]
    cursor = first["cursor"]
    assert get(client, world, "/api/v1/feeds/credit", after=cursor)["items"] == []
    # Three more events arrive between two polls.
    records = [seller.sign(seq, b.escape_event(), ts=T0 + HOUR + seq * 60_000) for seq in (3, 4, 5)]
    store.ingest([b.incoming(r) for r in records], [], now_ms=T0 + 2 * HOUR)
    seen: list[str] = []
    while True:
        page = get(client, world, "/api/v1/feeds/credit", after=cursor, limit=2)
        seen += [i["key"] for i in page["items"]]
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert seen == [f"record:{r.id.hex()}" for r in records]
    assert get(client, world, "/api/v1/feeds/credit", after=cursor)["items"] == []


def _csv(client: TestClient, world: World, path: str, **params: Any) -> list[dict[str, str]]:
    by_param = client.get(path, params={**params, "format": "csv"}, headers=world.auth("platform"))
    by_accept = client.get(
        path, params=params, headers={**world.auth("platform"), "Accept": "text/csv"}
    )
    assert by_param.status_code == by_accept.status_code == 200
    assert by_param.headers["content-type"].startswith("text/csv")
    assert by_param.text == by_accept.text
    return list(csv.DictReader(io.StringIO(by_param.text)))


def test_csv_says_what_the_json_says(client: TestClient, world: World, clock: Clock) -> None:
    clock.now = NEW_YEAR
    credit = get(client, world, "/api/v1/feeds/credit")
    rows = _csv(client, world, "/api/v1/feeds/credit")
    assert [(r["id"], r["kind"], r["enterprise"], r["at"]) for r in rows] == [
        (str(i["id"]), i["kind"], i["subject"], str(i["at"])) for i in credit["items"]
    ]
    scores = _csv(client, world, "/api/v1/feeds/credit/scores", enterprise=ENTERPRISE)
    assert {(r["kind"], r["count"], r["points"]) for r in scores if r["count"] != "0"} == {
        ("escape", "1", "10")
    }
    efficiency = get(client, world, "/api/v1/feeds/mu-efficiency")
    assert [(i["period"], i["enterprise"], i["rank"], i["grade"]) for i in efficiency["items"]] == [
        ("2026-12", ENTERPRISE, 1, "A"),
        ("2026-12", b.BUYER, 2, "B"),
        ("2026-12", "zz-other-c", 3, "C"),
    ]
    seller = efficiency["items"][0]
    # 34 t x 820 yuan/t = 27,880 yuan over 820.5 mu; 3,000,000 t a year x 31/365 in December
    assert (seller["sold_kg"], seller["value_yuan"], seller["value_yuan_per_mu"]) == (
        34_000,
        27_880,
        33.98,
    )
    assert (seller["sold_t_per_mu"], seller["capacity_share"]) == (0.041, 0.0001)
    assert (efficiency["cursor"], efficiency["more"]) == ("2026-12", False)
    rows = _csv(client, world, "/api/v1/feeds/mu-efficiency")
    assert [
        {k: r[k] for k in ("enterprise", "value_yuan", "value_yuan_per_mu", "grade")} for r in rows
    ] == [
        {k: str(i[k]) for k in ("enterprise", "value_yuan", "value_yuan_per_mu", "grade")}
        for i in efficiency["items"]
    ]
    days = get(client, world, "/api/v1/feeds/mu-efficiency", "enterprise", period="day", limit=40)
    assert [(i["period"], i["sold_kg"]) for i in days["items"] if i["sold_kg"]] == [
        ("2026-12-01", 34_000)
    ]
    assert {i["enterprise"] for i in days["items"]} == {ENTERPRISE}
    # 1 Jan (CST) ends at 2027-01-01T16:00Z and settles a day later: not yet at NEW_YEAR
    assert (days["cursor"], days["more"]) == ("2026-12-31", False)
    bad = client.get(
        "/api/v1/feeds/mu-efficiency",
        params={"after": "2026-12-01"},
        headers=world.auth("platform"),
    )
    assert bad.status_code == 422


def declare(
    client: TestClient, world: World, body: str | dict[str, Any], who: str = "platform"
) -> Any:
    if isinstance(body, str):
        return client.post(
            "/api/v1/tax/declarations",
            content=body.encode(),
            headers={**world.auth(who), "Content-Type": "text/csv"},
        )
    return client.post("/api/v1/tax/declarations", json=body, headers=world.auth(who))


def test_tax_declarations_and_the_ranked_feed(
    client: TestClient, world: World, clock: Clock
) -> None:
    text = (
        "enterprise,period,sold_kg,value_yuan\n"
        "sx-coal-a,2026-12,30000,24600\nmg-metal-b,2026-12,1000,600\n"
    )
    assert declare(client, world, text).json() == {"added": 2, "replaced": 0, "unchanged": 0}
    assert declare(client, world, text).json() == {"added": 0, "replaced": 0, "unchanged": 2}
    again = {
        "declarations": [
            {"enterprise": "sx-coal-a", "period": "2026-12", "sold_kg": 30000, "value_yuan": 24600}
        ]
    }
    assert declare(client, world, again).json() == {"added": 0, "replaced": 0, "unchanged": 1}
    bad = declare(
        client,
        world,
        "enterprise,period,sold_kg,value_yuan\nsx-coal-a,2026-12,1,1\nnobody,2026-12,1,1\n"
        "sx-coal-a,12/2026,1,1\nmg-metal-b,2026-11,-5,1\n",
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_declarations"
    assert [(e["row"], e["field"]) for e in bad.json()["errors"]] == [
        (2, "enterprise"),
        (3, "period"),
        (4, "sold_kg"),
    ]
    # Nothing of the bad submission was stored: the first row's figures are still 30,000.
    own = declare(
        client,
        world,
        {
            "declarations": [
                {"enterprise": "mg-metal-b", "period": "2026-12", "sold_kg": 1, "value_yuan": 1}
            ]
        },
        who="enterprise",
    )
    assert own.status_code == 422
    assert own.json()["errors"][0]["message"] == "you may declare for sx-coal-a only"
    assert declare(client, world, {"declarations": []}).status_code == 422
    assert declare(client, world, text, who="checkpoint").status_code == 403
    clock.now = NEW_YEAR
    feed = get(client, world, "/api/v1/feeds/tax")
    assert [
        (
            i["rank"],
            i["enterprise"],
            i["measured_kg"],
            i["measured_value_yuan"],
            i["diff_kg"],
            i["diff_value_yuan"],
        )
        for i in feed["items"]
    ] == [
        (1, ENTERPRISE, 34_000, 27_880, 4_000, 3_280),
        (2, b.BUYER, 0, 0, -1_000, -600),
    ]
    rows = _csv(client, world, "/api/v1/feeds/tax")
    assert [(r["enterprise"], r["diff_value_yuan"], r["declared"]) for r in rows] == [
        (ENTERPRISE, "3280", "true"),
        (b.BUYER, "-600", "true"),
    ]
    assert [i["enterprise"] for i in get(client, world, "/api/v1/feeds/tax", "buyer")["items"]] == [
        b.BUYER
    ]


def test_trucks_feed_over_http(
    client: TestClient, world: World, store: Store, clock: Clock
) -> None:
    # the world's ticket was loaded at T0 + 1 h; it arrives at the smelter at T0 + 3 h
    arrival = world.region.dest.sign(1, b.arrival(world.ticket.cti, 34_000), ts=T0 + 3 * HOUR)
    store.ingest([b.incoming(arrival)], [], now_ms=T0 + 3 * HOUR)
    clock.now = T0 + 4 * HOUR
    feed = get(client, world, "/api/v1/feeds/trucks")
    assert [(i["kind"], i["subject"]) for i in feed["items"]] == [("trip", b.PLATE)]
    trip = feed["items"][0]["body"]
    assert (trip["loaded_at"], trip["arrived_at"], trip["duration_ms"]) == (
        T0 + HOUR,
        T0 + 3 * HOUR,
        2 * HOUR,
    )
    assert get(client, world, "/api/v1/feeds/trucks", "buyer")["items"] == feed["items"]
    assert get(client, world, "/api/v1/feeds/trucks", "other_enterprise")["items"] == []
    rows = _csv(client, world, "/api/v1/feeds/trucks")
    assert [(r["id"], r["kind"], r["subject"]) for r in rows] == [
        (str(feed["items"][0]["id"]), "trip", b.PLATE)
    ]


def test_webhook_subscriptions(client: TestClient, world: World) -> None:
    made = client.post(
        "/api/v1/webhooks",
        json={"feed": "credit", "url": "http://127.0.0.1:9/hook"},
        headers=world.auth("enterprise"),
    )
    assert made.status_code == 200, made.text
    hook = made.json()
    assert hook["secret"].startswith("whsec_")
    assert hook["enterprise"] == ENTERPRISE
    listed = get(client, world, "/api/v1/webhooks", "enterprise")
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    assert get(client, world, "/api/v1/webhooks", "platform") == []
    gone = client.delete(f"/api/v1/webhooks/{hook['id']}", headers=world.auth("platform"))
    assert gone.status_code == 404  # not the platform token's
    assert (
        client.delete(
            f"/api/v1/webhooks/{hook['id']}", headers=world.auth("enterprise")
        ).status_code
        == 204
    )
    bad = client.post(
        "/api/v1/webhooks",
        json={"feed": "credit", "url": "ftp://example.org/x"},
        headers=world.auth("platform"),
    )
    assert bad.status_code == 422
    refused = client.post(
        "/api/v1/webhooks",
        json={"feed": "credit", "url": "http://example.org/x"},
        headers=world.auth("checkpoint"),
    )
    assert refused.status_code == 403


def test_openapi_documents_the_feeds(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("credit", "credit/scores", "trucks", "mu-efficiency", "tax"):
        content = paths[f"/api/v1/feeds/{path}"]["get"]["responses"]["200"]["content"]
        assert "text/csv" in content
        assert "schema" in content["application/json"]
    body = paths["/api/v1/tax/declarations"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv"}
    assert "CreditPage" in schema["components"]["schemas"]
    assert "EfficiencyPage" in schema["components"]["schemas"]
    assert "/api/v1/webhooks" in paths
