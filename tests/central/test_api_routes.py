"""Each route of the API with real signed data on a real SQLite store (no mocks): records
ingested through ``Store.ingest``, a ticket issued by the ticket service, enrollment with a
real key, verification of real ticket and receipt QR texts."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.store.base import Store
from central.store.sqlite import SqliteStore
from tests.central import builders as b
from tests.central.api_support import (
    KEYRING,
    NEW_DEVICE,
    NOW,
    OTHER_SITE,
    TestClient,
    World,
    build_world,
    make_app,
    token,
)
from tests.central.builders import HOUR, T0, Region
from wire.certificates import verify_certificate
from wire.keysets import decode_cose_key_set, parse_jwks
from wire.tickets import ticket_from_qr, verify_ticket


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
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(store, tmp_path), raise_server_exceptions=False) as opened:
        yield opened


def test_health_and_public_keys(world: World, client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "backend": "sqlite"}
    jwks = client.get("/api/v1/keys")
    assert jwks.headers["content-type"] == "application/json"
    assert set(parse_jwks(jwks.json())) == {b.CENTRAL.kid}
    cose = client.get("/api/v1/keys", headers={"Accept": "application/cose-key-set"})
    assert cose.headers["content-type"] == "application/cose-key-set"
    assert decode_cose_key_set(cose.content)[b.CENTRAL.kid].raw == b.CENTRAL.public.raw
    assert client.get("/docs").status_code == 200


def test_records_filter_and_page(world: World, client: TestClient) -> None:
    auth = world.auth("regulator")

    def ids(**query: object) -> list[str]:
        response = client.get("/api/v1/records", params=query, headers=auth)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    loading, event = world.loading.id.hex(), world.event.id.hex()
    assert ids() == [loading, event]
    assert ids(type="weighing") == [loading]
    assert ids(type="event") == [event]
    assert ids(plate="陕K·12345") == [loading]  # normalised like the store's plates
    assert ids(plate="陕A99999") == []
    assert ids(ticket=world.cti) == [loading]
    assert ids(device=world.region.seller.device, site=b.SITE) == [loading, event]
    assert ids(site=b.DEST_SITE) == []
    assert ids(since=T0 + HOUR + 1) == [event]
    assert ids(until=T0 + HOUR + 1) == [loading]
    # The enterprise that owns the mine sees its records; the cursor pages through them.
    own = world.auth("enterprise")
    first = client.get("/api/v1/records", params={"limit": 1}, headers=own).json()
    assert [r["id"] for r in first["items"]] == [loading]
    assert first["items"][0]["payload"]["body"]["net_kg"] == 34_000
    second = client.get(
        "/api/v1/records", params={"limit": 1, "after": first["next"]}, headers=own
    ).json()
    assert [r["id"] for r in second["items"]] == [event]
    third = client.get(
        "/api/v1/records", params={"limit": 1, "after": second["next"]}, headers=own
    ).json()
    assert third == {"items": [], "next": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"after": "yesterday"}, "after"),
        ({"after": "1-" + "zz" * 32}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"site": "Not An Id"}, "site"),
        ({"ticket": "abc"}, "ticket"),
        ({"type": "invoice"}, "type"),
        ({"since": -1}, "since"),
        ({"since": 2**70}, "since"),
        ({"plate": "not a plate"}, "plate"),
    ],
)
def test_bad_record_queries_are_422_naming_the_field(
    world: World, client: TestClient, query: dict[str, object], field: str
) -> None:
    response = client.get("/api/v1/records", params=query, headers=world.auth("regulator"))
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(f"{field}: "), error


def test_one_record_and_its_signed_bytes(world: World, client: TestClient) -> None:
    auth = world.auth("regulator")
    record_id = world.loading.id.hex()
    record = client.get(f"/api/v1/records/{record_id}", headers=auth).json()
    assert record["device"] == world.region.seller.device
    assert record["seq"] == 1
    assert record["payload"]["body"]["ticket"] == world.cti
    cose = client.get(f"/api/v1/records/{record_id}/cose", headers=auth)
    assert cose.headers["content-type"] == "application/cose"
    assert cose.content == world.loading.raw
    missing = client.get(f"/api/v1/records/{'0' * 64}", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    bad = client.get("/api/v1/records/xyz", headers=auth)
    assert bad.status_code == 422
    assert bad.json()["message"].startswith("id: ")


def test_quarantine_alarms_and_acknowledgement(world: World, client: TestClient) -> None:
    auth = world.auth("admin")
    (entry,) = client.get("/api/v1/quarantine", headers=auth).json()
    assert entry["reason"] == "bad_signature"
    assert entry["device"] == world.region.seller.device
    alarms = client.get("/api/v1/alarms", headers=auth).json()
    escape = next(a for a in alarms["items"] if a["kind"] == "escape")
    assert escape["ref"] == world.event.id.hex()
    assert escape["ack"] is None
    acked = client.post(
        f"/api/v1/alarms/{escape['id']}/ack", json={"note": "gate camera checked"}, headers=auth
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["ack"]["note"] == "gate camera checked"
    assert acked.json()["ack"]["at"] == NOW
    again = client.post(f"/api/v1/alarms/{escape['id']}/ack", json={}, headers=auth)
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    missing = client.post("/api/v1/alarms/999999/ack", json={}, headers=auth)
    assert missing.status_code == 404
    listed = client.get(
        "/api/v1/alarms", params={"after": escape["id"] - 1, "limit": 1}, headers=auth
    ).json()
    assert listed["items"][0]["ack"]["note"] == "gate camera checked"
    assert listed["next"] == escape["id"]
    assert world.store.audit_log(limit=1)[0].action == "alarm.ack"


def test_sites_and_devices(world: World, client: TestClient) -> None:
    sites = client.get("/api/v1/sites", headers=world.auth("regulator")).json()
    assert {s["id"] for s in sites} == {b.SITE, b.DEST_SITE, b.OTHER_SITE, "zz-works-c"}
    own = client.get("/api/v1/sites", headers=world.auth("enterprise")).json()
    assert {s["id"] for s in own} == {b.SITE, b.OTHER_SITE}
    devices = client.get(
        "/api/v1/devices", params={"site": b.SITE}, headers=world.auth("admin")
    ).json()
    assert [(d["id"], d["state"]) for d in devices] == [(world.region.seller.device, "active")]
    assert devices[0]["public_key"] == world.region.seller.key.public.raw.hex()


def test_a_device_enrolls_itself_with_its_token(world: World, client: TestClient) -> None:
    edge = b.Edge(device=NEW_DEVICE, seed=31)
    body = {
        "site": b.SITE,
        "device": NEW_DEVICE,
        "public_key_pem": edge.key.public.to_pem().decode(),
    }
    response = client.post("/api/v1/devices/enroll", json=body, headers=world.auth("device"))
    assert response.status_code == 200, response.text
    answer = response.json()
    keys = parse_jwks(answer["central_keys"])
    certificate = verify_certificate(base64.b64decode(answer["certificate"]), keys, now_s=None)
    assert (certificate.device, certificate.site) == (NEW_DEVICE, b.SITE)
    assert certificate.key.raw == edge.key.public.raw
    assert world.store.get_device(NEW_DEVICE).state == "active"
    # The same key again renews; another key under the id is refused (ids are never reused).
    renewed = client.post("/api/v1/devices/enroll", json=body, headers=world.auth("device"))
    assert renewed.status_code == 200
    other = b.Edge(device=NEW_DEVICE, seed=32).key.public.to_pem().decode()
    refused = client.post(
        "/api/v1/devices/enroll", json=body | {"public_key_pem": other},
        headers=world.auth("device"),
    )  # fmt: skip
    assert (refused.status_code, refused.json()["code"]) == (409, "conflict")
    garbage = client.post(
        "/api/v1/devices/enroll", json=body | {"public_key_pem": "not a key"},
        headers=world.auth("admin"),
    )  # fmt: skip
    assert (garbage.status_code, garbage.json()["code"]) == (422, "invalid_request")
    nowhere = client.post(
        "/api/v1/devices/enroll", json=body | {"site": "no-such-site"}, headers=world.auth("admin")
    )
    assert nowhere.status_code == 404


def ticket_body(**changes: object) -> dict[str, object]:
    return {
        "seller_site": b.SITE, "buyer": b.BUYER, "plate": "陕K·12345", "coal": "5500kcal-lump",
        "max_net_kg": 30_000, "dest_site": b.DEST_SITE, "valid_hours": 24, "transit_hours": 12,
    } | changes  # fmt: skip


def test_an_enterprise_requests_reads_and_revokes_a_ticket(
    world: World, client: TestClient
) -> None:
    own = world.auth("enterprise")
    response = client.post("/api/v1/tickets", json=ticket_body(), headers=own)
    assert response.status_code == 200, response.text
    issued = response.json()
    assert issued["state"] == "issued"
    assert issued["bundles"] == []  # no publisher configured
    ticket = verify_ticket(ticket_from_qr(issued["qr"]), KEYRING.published, now_s=NOW // 1000)
    assert ticket.id == issued["id"]
    assert (ticket.plate, ticket.max_net_kg, ticket.exp - ticket.iat) == (
        "陕K12345",
        30_000,
        86_400,
    )
    assert ticket.transit_s == 12 * 3600
    assert issued["ticket"]["no"] == issued["no"] == ticket.no
    assert issued["ticket"]["quota_kg"] == 30_000
    read = client.get(f"/api/v1/tickets/{ticket.id}", headers=world.auth("buyer")).json()
    assert read["state"] == "issued"
    listed = client.get("/api/v1/tickets", params={"state": "issued"}, headers=own).json()
    assert [t["id"] for t in listed] == [ticket.id]
    loaded = client.get(
        "/api/v1/tickets", params={"state": "loaded"}, headers=world.auth("regulator")
    ).json()
    assert [(t["id"], t["source_net_kg"]) for t in loaded] == [(world.cti, 34_000)]
    revoked = client.post(f"/api/v1/tickets/{ticket.id}/revoke", headers=own)
    assert revoked.json()["state"] == "revoked"
    again = client.post(f"/api/v1/tickets/{ticket.id}/revoke", headers=own)
    assert (again.status_code, again.json()["code"]) == (409, "ticket_state")
    unknown = client.get(f"/api/v1/tickets/{'0' * 32}", headers=world.auth("regulator"))
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("changes", "status", "code", "text"),
    [
        ({"dest_site": b.SITE}, 422, "ticket_rejected", ""),
        ({"dest_site": OTHER_SITE}, 422, "ticket_rejected", ""),  # no device there
        ({"plate": "陕K1234挂"}, 422, "ticket_rejected", ""),
        ({"max_net_kg": 0}, 422, "invalid_request", "max_net_kg: "),
        ({"max_net_kg": "lots"}, 422, "invalid_request", "max_net_kg: "),
        ({"valid_hours": 10_000}, 422, "invalid_request", "valid_hours: "),
        ({"buyer": "Big Buyer"}, 422, "invalid_request", "buyer: "),
        ({"coal": "a\x00b"}, 422, "invalid_request", "coal: "),
        ({"surprise": 1}, 422, "invalid_request", "surprise: "),
        ({"seller_site": b.OTHER_SITE, "dest_site": b.DEST_SITE}, 200, "", ""),
    ],
)  # fmt: skip
def test_ticket_requests_that_break_a_rule(
    *,
    world: World,
    client: TestClient,
    changes: dict[str, object],
    status: int,
    code: str,
    text: str,
) -> None:
    response = client.post(
        "/api/v1/tickets", json=ticket_body(**changes), headers=world.auth("enterprise")
    )
    assert response.status_code == status, response.text
    if code:
        assert response.json()["code"] == code
        assert text in response.json()["message"]


def test_a_body_that_is_not_json_is_a_422(world: World, client: TestClient) -> None:
    response = client.post(
        "/api/v1/tickets", content=b"{not json", headers=world.auth("enterprise") | {
            "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 422
    assert set(response.json()) == {"code", "message"}


def test_quota_exceeded_is_a_409(store: Store, tmp_path: Path) -> None:
    Region().register(store, capacity_t=50)  # 50 t a year
    own = {"Authorization": f"Bearer {token(store, 'enterprise', enterprise=b.ENTERPRISE)}"}
    with TestClient(make_app(store, tmp_path)) as client:
        first = client.post("/api/v1/tickets", json=ticket_body(max_net_kg=40_000), headers=own)
        assert first.status_code == 200
        second = client.post("/api/v1/tickets", json=ticket_body(max_net_kg=20_000), headers=own)
    assert second.status_code == 409
    assert second.json()["code"] == "quota_exceeded"
    assert store.quota_used(b.ENTERPRISE, "2026") == 40_000


def test_verify_tickets_and_receipts(world: World, client: TestClient) -> None:
    checkpoint = world.auth("checkpoint")
    ticket = client.post("/api/v1/tickets/verify", json={"qr": world.qr()}, headers=checkpoint)
    answer = ticket.json()
    assert (answer["kind"], answer["valid"]) == ("ticket", True)
    assert answer["checks"] == {"signature": True, "loadable": True, "certified_device": None}
    assert answer["ticket"]["cti"] == world.cti
    assert answer["online"]["ticket_state"] == "loaded"

    receipt = client.post(
        "/api/v1/tickets/verify", json={"qr": world.receipt()}, headers=checkpoint
    ).json()
    assert (receipt["kind"], receipt["valid"], receipt["net_kg"]) == ("receipt", True, 34_000)
    assert receipt["checks"] == {"signature": True, "loadable": True, "certified_device": True}
    assert receipt["online"] == {
        "ticket_known": True, "ticket_state": "loaded", "ticket_flags": [],
        "device_state": "active", "record_stored": True,
    }  # fmt: skip

    # A QR that does not verify is answered, not an error: the officer sees why.
    forged = world.qr()[:-6] + ("AAAAAA" if not world.qr().endswith("AAAAAA") else "BBBBBB")
    bad = client.post("/api/v1/tickets/verify", json={"qr": forged}, headers=checkpoint)
    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    assert bad.json()["reason"]
    other = client.post("/api/v1/tickets/verify", json={"qr": "XX1:abc"}, headers=checkpoint)
    assert (other.status_code, other.json()["message"][:4]) == (422, "qr: ")

    # Revoked at central: still verifies offline, the online state says revoked.
    world.store.revoke_ticket(world.ticket.cti, actor="test", at=NOW)
    after = client.post("/api/v1/tickets/verify", json={"qr": world.qr()}, headers=checkpoint)
    assert after.json()["online"]["ticket_state"] == "revoked"


def test_errors_for_unknown_routes_and_methods_have_the_shape(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    wrong = client.delete("/api/v1/keys")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
