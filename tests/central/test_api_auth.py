"""Every route of the API refuses whoever its rule does not admit.

The list of routes comes from the app's own OpenAPI schema, and ``RULES`` says which roles may
call each one: a route added without a rule fails ``test_every_route_has_a_rule``. Each route
is then called with no token, a malformed header, an unknown token, a revoked token and every
role it does not allow (401/403 each), with another enterprise's token (or another device's)
where the route deals with one enterprise's objects (403), and with each allowed role
(neither 401 nor 403), against a real region (tests/central/api_support.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from central.api.tokens import new_token
from central.store.base import Store
from central.store.sqlite import SqliteStore
from tests.central import builders as b
from tests.central.api_support import NEW_DEVICE, TestClient, World, build_world, make_app

PUBLIC: frozenset[str] = frozenset({"*"})
ROLES = ("regulator", "admin", "enterprise", "checkpoint", "platform", "device")
FEEDS = ("credit", "credit/scores", "trucks", "mu-efficiency", "tax")
FEED_READERS = frozenset({"platform", "regulator", "admin", "enterprise"})
FEED_WRITERS = frozenset({"platform", "regulator", "enterprise"})

RULES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/api/v1/keys"): PUBLIC,
    ("GET", "/api/v1/records"): frozenset({"regulator", "enterprise"}),
    ("GET", "/api/v1/records/{id}"): frozenset({"regulator", "enterprise"}),
    ("GET", "/api/v1/records/{id}/cose"): frozenset({"regulator", "enterprise"}),
    ("GET", "/api/v1/quarantine"): frozenset({"regulator", "admin"}),
    ("GET", "/api/v1/alarms"): frozenset({"regulator", "admin"}),
    ("POST", "/api/v1/alarms/{id}/ack"): frozenset({"regulator", "admin"}),
    ("GET", "/api/v1/sites"): frozenset({"regulator", "admin", "enterprise"}),
    ("GET", "/api/v1/devices"): frozenset({"regulator", "admin", "enterprise"}),
    ("POST", "/api/v1/devices/enroll"): frozenset({"admin", "device"}),
    ("POST", "/api/v1/tickets"): frozenset({"enterprise"}),
    ("GET", "/api/v1/tickets"): frozenset({"regulator", "enterprise"}),
    ("GET", "/api/v1/tickets/{cti}"): frozenset({"regulator", "enterprise"}),
    ("POST", "/api/v1/tickets/{cti}/revoke"): frozenset({"admin", "enterprise"}),
    ("POST", "/api/v1/tickets/verify"): frozenset({"checkpoint", "regulator"}),
    ("POST", "/api/v1/sightings"): frozenset({"checkpoint"}),
    ("GET", "/api/v1/sightings"): frozenset({"regulator", "checkpoint"}),
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/api/v1/transparency/sth"): frozenset(ROLES),
    ("GET", "/api/v1/transparency/inclusion/{record_id}"): frozenset(ROLES),
    ("GET", "/api/v1/transparency/consistency"): frozenset(ROLES),
    **{("GET", f"/api/v1/feeds/{feed}"): FEED_READERS for feed in FEEDS},
    ("POST", "/api/v1/tax/declarations"): FEED_WRITERS,
    ("POST", "/api/v1/webhooks"): FEED_WRITERS,
    ("GET", "/api/v1/webhooks"): FEED_WRITERS,
    ("DELETE", "/api/v1/webhooks/{id}"): FEED_WRITERS,
}

Request = tuple[str, dict[str, Any], Any]  # path, query, JSON body


def _feed(feed: str, **query: str) -> Callable[[World], Request]:
    return lambda w: (f"/api/v1/feeds/{feed}", query, None)


def _pem(world: World) -> str:
    edge = b.Edge(device=NEW_DEVICE, seed=21)
    return edge.key.public.to_pem().decode()


# A valid request per route (it would succeed for an allowed role) …
REQUESTS: dict[tuple[str, str], Callable[[World], Request]] = {
    ("GET", "/healthz"): lambda w: ("/healthz", {}, None),
    ("GET", "/api/v1/keys"): lambda w: ("/api/v1/keys", {}, None),
    ("GET", "/api/v1/records"): lambda w: ("/api/v1/records", {}, None),
    ("GET", "/api/v1/records/{id}"): lambda w: (f"/api/v1/records/{w.loading.id.hex()}", {}, None),
    ("GET", "/api/v1/records/{id}/cose"): lambda w: (
        f"/api/v1/records/{w.loading.id.hex()}/cose", {}, None
    ),
    ("GET", "/api/v1/quarantine"): lambda w: ("/api/v1/quarantine", {}, None),
    ("GET", "/api/v1/alarms"): lambda w: ("/api/v1/alarms", {}, None),
    ("POST", "/api/v1/alarms/{id}/ack"): lambda w: (
        f"/api/v1/alarms/{w.alarm_id}/ack", {}, {"note": "seen"}
    ),
    ("GET", "/api/v1/sites"): lambda w: ("/api/v1/sites", {}, None),
    ("GET", "/api/v1/devices"): lambda w: ("/api/v1/devices", {}, None),
    ("POST", "/api/v1/devices/enroll"): lambda w: (
        "/api/v1/devices/enroll", {}, {"site": b.SITE, "device": NEW_DEVICE,
                                       "public_key_pem": _pem(w)}
    ),
    ("POST", "/api/v1/tickets"): lambda w: (
        "/api/v1/tickets", {}, {"seller_site": b.SITE, "buyer": b.BUYER, "plate": b.PLATE,
                                "coal": "5500kcal-lump", "max_net_kg": 30_000,
                                "dest_site": b.DEST_SITE}
    ),
    ("GET", "/api/v1/tickets"): lambda w: ("/api/v1/tickets", {}, None),
    ("GET", "/api/v1/tickets/{cti}"): lambda w: (f"/api/v1/tickets/{w.cti}", {}, None),
    ("POST", "/api/v1/tickets/{cti}/revoke"): lambda w: (
        f"/api/v1/tickets/{w.cti}/revoke", {}, None
    ),
    ("POST", "/api/v1/tickets/verify"): lambda w: ("/api/v1/tickets/verify", {}, {"qr": w.qr()}),
    ("POST", "/api/v1/sightings"): lambda w: ("/api/v1/sightings", {}, {"qr": w.qr()}),
    ("GET", "/api/v1/sightings"): lambda w: ("/api/v1/sightings", {}, None),
    ("GET", "/metrics"): lambda w: ("/metrics", {}, None),
    ("GET", "/api/v1/transparency/sth"): lambda w: ("/api/v1/transparency/sth", {}, None),
    ("GET", "/api/v1/transparency/inclusion/{record_id}"): lambda w: (
        f"/api/v1/transparency/inclusion/{w.loading.id.hex()}", {}, None
    ),
    ("GET", "/api/v1/transparency/consistency"): lambda w: (
        "/api/v1/transparency/consistency", {"first": 0, "second": 2}, None
    ),
    **{("GET", f"/api/v1/feeds/{feed}"): _feed(feed) for feed in FEEDS},
    ("POST", "/api/v1/tax/declarations"): lambda w: (
        "/api/v1/tax/declarations", {}, {"declarations": [
            {"enterprise": b.ENTERPRISE, "period": "2026-11", "sold_kg": 1, "value_yuan": 1}]}
    ),
    ("POST", "/api/v1/webhooks"): lambda w: (
        "/api/v1/webhooks", {}, {"feed": "credit", "url": "https://example.org/hook"}
    ),
    ("GET", "/api/v1/webhooks"): lambda w: ("/api/v1/webhooks", {}, None),
    ("DELETE", "/api/v1/webhooks/{id}"): lambda w: ("/api/v1/webhooks/1", {}, None),
}  # fmt: skip

# … and the requests another enterprise's (or device's) token must be refused, per route.
FOREIGN: dict[tuple[str, str], list[Callable[[World], Request]]] = {
    ("GET", "/api/v1/records"): [
        lambda w: ("/api/v1/records", {"site": b.SITE}, None),
        lambda w: ("/api/v1/records", {"site": "no-such-site"}, None),
    ],
    ("GET", "/api/v1/records/{id}"): [REQUESTS[("GET", "/api/v1/records/{id}")]],
    ("GET", "/api/v1/records/{id}/cose"): [REQUESTS[("GET", "/api/v1/records/{id}/cose")]],
    ("GET", "/api/v1/devices"): [lambda w: ("/api/v1/devices", {"site": b.SITE}, None)],
    ("POST", "/api/v1/tickets"): [REQUESTS[("POST", "/api/v1/tickets")]],
    ("GET", "/api/v1/tickets"): [lambda w: ("/api/v1/tickets", {"enterprise": b.ENTERPRISE}, None)],
    ("GET", "/api/v1/tickets/{cti}"): [REQUESTS[("GET", "/api/v1/tickets/{cti}")]],
    ("POST", "/api/v1/tickets/{cti}/revoke"): [REQUESTS[("POST", "/api/v1/tickets/{cti}/revoke")]],
    **{("GET", f"/api/v1/feeds/{feed}"): [_feed(feed, enterprise=b.ENTERPRISE)] for feed in FEEDS},
}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = SqliteStore(tmp_path / "central.db")
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def world(store: Store) -> World:
    return build_world(store)


@pytest.fixture
def client(store: Store, tmp_path: Path) -> TestClient:
    return TestClient(make_app(store, tmp_path), raise_server_exceptions=False)


def call(client: TestClient, method: str, request: Request, headers: dict[str, str]) -> Any:
    path, query, body = request
    return client.request(method, path, params=query, json=body, headers=headers)


def test_every_route_has_a_rule(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    routes = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert routes - RULES.keys() == set(), "routes without a rule: add them to RULES"
    assert RULES.keys() - routes == set(), "rules for routes that do not exist"
    assert RULES.keys() == REQUESTS.keys()
    for (method, path), roles in RULES.items():
        operation = schema["paths"][path][method.lower()]
        assert ("security" in operation) == (roles != PUBLIC), (method, path)


@pytest.mark.parametrize("route", sorted(RULES), ids=lambda r: f"{r[0]} {r[1]}")
def test_the_route_admits_only_its_roles(
    route: tuple[str, str], world: World, client: TestClient
) -> None:
    method, _ = route
    allowed = RULES[route]
    request = REQUESTS[route](world)
    if allowed == PUBLIC:
        assert call(client, method, request, {}).status_code == 200
        return
    refusals: list[tuple[str, dict[str, str], int]] = [
        ("no token", {}, 401),
        ("basic auth", {"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        ("empty bearer", {"Authorization": "Bearer "}, 401),
        ("unknown token", {"Authorization": f"Bearer {new_token()}"}, 401),
        ("revoked token", world.auth("revoked"), 401),
    ]
    refusals += [(role, world.auth(role), 403) for role in ROLES if role not in allowed]
    for name, headers, status in refusals:
        response = call(client, method, request, headers)
        assert response.status_code == status, (name, response.text)
        error = response.json()
        assert set(error) == {"code", "message"}, error
        expected = {"forbidden"} if status == 403 else {"unauthorized", "invalid_token"}
        assert error["code"] in expected, (name, error)
    for foreign in FOREIGN.get(route, []):
        response = call(client, method, foreign(world), world.auth("other_enterprise"))
        assert response.status_code == 403, response.text
    for role in sorted(allowed):
        response = call(client, method, request, world.auth(role))
        assert response.status_code not in (401, 403), (role, response.text)


def test_a_device_token_enrolls_only_its_own_device(world: World, client: TestClient) -> None:
    path, _, body = REQUESTS[("POST", "/api/v1/devices/enroll")](world)
    refused = client.post(path, json=body, headers=world.auth("other_device"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert client.post(path, json=body, headers=world.auth("device")).status_code == 200


def test_the_buyer_reads_but_cannot_revoke_and_sees_no_seller_records(
    world: World, client: TestClient
) -> None:
    buyer = world.auth("buyer")
    assert client.get(f"/api/v1/tickets/{world.cti}", headers=buyer).status_code == 200
    assert client.post(f"/api/v1/tickets/{world.cti}/revoke", headers=buyer).status_code == 403
    records = client.get("/api/v1/records", headers=buyer).json()["items"]
    assert records == []
    assert client.get(f"/api/v1/records/{world.loading.id.hex()}", headers=buyer).status_code == 403
    sites = client.get("/api/v1/sites", headers=buyer).json()
    assert [s["id"] for s in sites] == [b.DEST_SITE]
    devices = client.get("/api/v1/devices", headers=buyer).json()
    assert {d["site"] for d in devices} == {b.DEST_SITE}
    foreign = client.get("/api/v1/tickets", headers=world.auth("other_enterprise")).json()
    assert foreign == []
