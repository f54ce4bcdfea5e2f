"""The transparency routes' contract: any valid token reads them (401 without one), their
OpenAPI entries have response schemas, and the errors are the API's JSON with the right code."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.api.app import create_app
from central.config import Settings
from central.store.base import Store
from central.store.model import TOKEN_ROLES
from central.transparency import log
from tests.central import builders as b
from tests.central.api_support import TestClient, token
from tests.central.builders import T0, Region
from tests.central.transparency.support import KEYRING, ingest, interleaved
from wire.treehead import verify_tree_head


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings.from_env({"COALGATE_DATA_DIR": str(tmp_path / "data")})
    app = create_app(store=store, keyring=KEYRING, settings=settings, clock=lambda: T0)
    with TestClient(app) as http:
        yield http


def test_every_role_reads_the_log_and_no_token_is_401(store: Store, client: TestClient) -> None:
    records = interleaved(Region().register(store), 9)
    ingest(store, records)
    log.current_head(store, KEYRING.signing, now_ms=T0)
    roles = {
        "enterprise": {"enterprise": "sx-coal-a"},
        "device": {"device": "yl-mine-a-gate-9"},
    }
    store.add_checkpoint(b.checkpoint(), actor="test", at=T0)
    for role in TOKEN_ROLES:
        extra = roles.get(role, {"checkpoint": "cp-yulin-north"} if role == "checkpoint" else {})
        auth = {"Authorization": f"Bearer {token(store, role, **extra)}"}
        answer = client.get("/api/v1/transparency/sth", headers=auth)
        assert answer.status_code == 200, (role, answer.text)
        body = answer.json()
        head = verify_tree_head(base64.b64decode(body["sth"]), KEYRING.published)
        assert (body["size"], body["root"], body["ts"], body["kid"]) == (
            head.size, head.root.hex(), head.ts, head.kid,
        )  # fmt: skip
    for path in (
        "/api/v1/transparency/sth",
        f"/api/v1/transparency/inclusion/{records[0].record_id.hex()}",
        "/api/v1/transparency/consistency?first=0&second=9",
    ):
        answer = client.get(path)
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthorized"


def test_errors_are_json_with_their_codes(store: Store, client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {token(store, 'regulator')}"}
    records = interleaved(Region().register(store), 5)
    cases = [
        ("/api/v1/transparency/sth", 404, "not_found"),  # nothing signed yet
        ("/api/v1/transparency/inclusion/ABC", 422, "invalid_request"),
        ("/api/v1/transparency/consistency?first=5&second=2", 422, "invalid_request"),
        ("/api/v1/transparency/sth?size=-1", 422, "invalid_request"),
    ]
    for path, status, code in cases:
        answer = client.get(path, headers=auth)
        assert (answer.status_code, answer.json()["code"]) == (status, code), path
    ingest(store, records[:3])
    log.current_head(store, KEYRING.signing, now_ms=T0)
    ingest(store, records[3:])
    late = client.get(f"/api/v1/transparency/inclusion/{records[4].record_id.hex()}", headers=auth)
    assert (late.status_code, late.json()["code"]) == (409, "conflict")
    assert "after the tree head of size 3" in late.json()["message"]
    unknown = client.get(f"/api/v1/transparency/inclusion/{'ab' * 32}", headers=auth)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    missing = client.get("/api/v1/transparency/consistency?first=1&second=3", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["message"] == "no tree head of size 1"


def test_the_routes_are_documented_with_response_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, schema in [
        ("/api/v1/transparency/sth", "TreeHeadView"),
        ("/api/v1/transparency/inclusion/{record_id}", "InclusionView"),
        ("/api/v1/transparency/consistency", "ConsistencyView"),
    ]:
        operation = spec["paths"][path]["get"]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{schema}"}
        assert operation["security"], "a bearer token"
    assert "/metrics" in spec["paths"]
    assert "security" not in spec["paths"]["/metrics"]["get"]
