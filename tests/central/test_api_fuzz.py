"""Schemathesis against the API in process: for every operation of the app's OpenAPI schema,
hypothesis draws path parameters, queries, headers and bodies from the schema — valid ones
(``positive``) and ones that break it (``negative``) — and sends them with no token or with a
token of a role the operation admits (``RULES`` of test_api_auth.py), so the generated input
reaches the route's code and not only the token check. No input may make the API answer a
5xx; a 2xx must match the response schema the API documents; every error must have the
``{code, message}`` shape.

(schemathesis's own pytest plugin cannot load its schema from a fixture on this pytest, so the
strategies are driven here with hypothesis's ``@given``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from central.store.base import Store
from central.store.sqlite import SqliteStore
from tests.central.api_support import TestClient, World, build_world, make_app
from tests.central.test_api_auth import PUBLIC, RULES

EXAMPLES = 60  # per operation and mode


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = SqliteStore(tmp_path / "central.db")
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


def send(client: TestClient, case: Any, headers: dict[str, str]) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    content: dict[str, Any] = {}
    if "json" in kwargs:
        content["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        content["content"] = data if isinstance(data, bytes) else str(data).encode()
    try:
        return client.request(
            kwargs["method"], kwargs["url"], params=kwargs.get("params"),
            headers=kwargs["headers"], **content,
        )  # fmt: skip
    except (UnicodeEncodeError, httpx.InvalidURL, httpx.LocalProtocolError):
        reject()  # a request no HTTP client could send (a header outside Latin-1…)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("route", sorted(RULES), ids=lambda r: f"{r[0]} {r[1]}")
def test_no_input_makes_the_api_fail(
    route: tuple[str, str], mode: GenerationMode, store: Store, tmp_path: Path
) -> None:
    world: World = build_world(store)
    app = make_app(store, tmp_path)
    method, path = route
    spec = app.openapi()
    declared = spec["paths"][path][method.lower()]
    if mode is GenerationMode.NEGATIVE and not (
        declared.get("parameters") or declared.get("requestBody")
    ):
        return  # no input to break: the positive run covers it
    operation = schemathesis.openapi.from_dict(spec)[path][method]
    allowed = RULES[route]
    who = st.sampled_from([None] if allowed == PUBLIC else [None, *sorted(allowed)])
    seen: set[int] = set()

    with TestClient(app, raise_server_exceptions=False) as client:

        @given(case=operation.as_strategy(mode), role=who)
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def check(case: Any, role: str | None) -> None:
            response = send(client, case, {} if role is None else world.auth(role))
            seen.add(response.status_code)
            checks = [not_a_server_error]
            if response.status_code < 300 and response.headers.get("content-type", "").startswith(
                "application/json"
            ):
                checks.append(response_schema_conformance)
            case.validate_response(response, checks=checks)
            if response.status_code >= 400:
                error = response.json()
                # bad tax declarations also list every bad row (docs/feeds.md "Tax")
                rows = {"errors"} if error.get("code") == "invalid_declarations" else set()
                assert set(error) == {"code", "message"} | rows, response.text

        check()
    print(f"{method} {path} ({mode.value}): statuses {sorted(seen)}")
    assert all(status < 500 for status in seen)
