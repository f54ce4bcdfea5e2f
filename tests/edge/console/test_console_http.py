"""The console over HTTP: sessions, CSRF, each operator action fed to a real lane, receipts that
verify offline, the shift's weighings, the live stream. The backend is ``MemoryBackend`` over a
real ``Lane``; records are really signed."""

from __future__ import annotations

import dataclasses
import json
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.console import present
from edge.console.accounts import Accounts, check_password
from edge.console.backend import OperatorInput, Outcome
from edge.console.memory import MemoryBackend
from edge.errors import AccountError, LocalError
from edge.gate.inputs import IoFaultIn, ScaleFaultIn
from edge.gate.lane import Lane
from tests.edge.console import support as s
from tests.edge.gate import builders as gb
from tests.wire import central_factories as cf
from wire.bodies import EventBody, WeighingBody
from wire.receipts import verify_receipt
from wire.tickets import ticket_qr

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

LANE = "/console/api/lanes/lane-1"
ACTIONS = {
    "plate": {"plate": "陕K12345"},
    "ticket": {"ticket": "00" * 16},
    "override": {"reason": "tare checked by hand"},
    "zero": None,
    "ack": {"kind": "escape"},
    "io-checked": {"reason": "relay replaced"},
}


@pytest.fixture
def world(tmp_path: Path) -> s.World:
    return s.world(tmp_path)


@pytest.fixture
def client(world: s.World) -> Iterator[TestClient]:
    with TestClient(s.app(world, stream_s=0.3)) as test_client:
        yield test_client


def log_in(client: TestClient) -> dict[str, str]:
    """Log in as the test operator; the headers a change needs (the CSRF secret)."""
    answer = client.post(
        "/console/api/session", json={"operator": s.OPERATOR, "password": s.PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"X-CSRF-Token": answer.json()["csrf"]}


def act(client: TestClient, headers: dict[str, str], action: str, body: Any = None) -> Any:
    answer = client.post(f"{LANE}/{action}", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def records(world: s.World, kind: type[Any]) -> list[Any]:
    return [r.body for r in world.backend.records() if isinstance(r.body, kind)]


def test_log_in_and_out_with_a_strict_http_only_cookie(client: TestClient) -> None:
    wrong = client.post("/console/api/session", json={"operator": s.OPERATOR, "password": "nope"})
    unknown = client.post("/console/api/session", json={"operator": "zhao", "password": "x" * 9})
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert wrong.json() == unknown.json()  # the answer does not tell which was wrong
    assert "set-cookie" not in wrong.headers
    answer = client.post(
        "/console/api/session", json={"operator": s.OPERATOR, "password": s.PASSWORD}
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    assert s.PASSWORD.lower() not in cookie
    who = client.get("/console/api/session").json()
    assert (who["operator"], who["name"]) == (s.OPERATOR, s.OPERATOR_NAME)
    assert client.delete("/console/api/session").status_code == 403  # logout needs CSRF too
    assert client.get("/console/api/state").status_code == 200
    logout = client.delete("/console/api/session", headers={"X-CSRF-Token": who["csrf"]})
    assert logout.status_code == 200
    assert client.get("/console/api/state").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/console/api/session",
        "/console/api/state",
        "/console/api/live",
        "/console/api/reasons",
        "/console/api/weighings",
        "/console/api/tickets?lane=lane-1",
        "/console/api/receipt/1",
    ],
)
def test_every_view_needs_a_session(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 401
    assert answer.json()["detail"]["code"] == "login"


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_needs_a_session_and_the_csrf_secret(
    client: TestClient, world: s.World, action: str
) -> None:
    world.gate.drive_on(49_000, conf=50)  # held: a truck an action could change
    written = len(world.backend.records())
    assert client.post(f"{LANE}/{action}", json=ACTIONS[action]).status_code == 401
    log_in(client)
    assert client.post(f"{LANE}/{action}", json=ACTIONS[action]).status_code == 403
    wrong = {"X-CSRF-Token": "not-the-secret"}
    assert client.post(f"{LANE}/{action}", json=ACTIONS[action], headers=wrong).status_code == 403
    assert len(world.backend.records()) == written  # nothing reached the lane
    assert world.backend.lane("lane-1").state == "held"


def test_the_pages_and_static_files_are_served_with_a_strict_policy(client: TestClient) -> None:
    page = client.get("/console/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/console/login").status_code == 200
    module = client.get("/console/static/vendor/qrcode.mjs")
    assert module.headers["content-type"].startswith("text/javascript")
    assert client.get("/console/static/vendor/LICENSE-qrcode-generator.txt").status_code == 200
    assert client.get("/console/static/../routes.py").status_code == 404
    assert client.get("/console/static/nothing.js").status_code == 404


def test_the_accounts_file_is_0600_and_holds_only_salted_scrypt_hashes(
    world: s.World, tmp_path: Path
) -> None:
    path = tmp_path / "data" / "operators.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    world.accounts.add("li.na", s.PASSWORD, name="李娜", now_ms=0)  # the same password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert s.PASSWORD not in text
    stored = json.loads(text)["operators"]
    hashes = [stored[o]["hash"] for o in (s.OPERATOR, "li.na")]
    assert all(h.startswith("scrypt$16384$8$1$") for h in hashes)
    assert hashes[0] != hashes[1]  # salted
    assert check_password(s.PASSWORD, hashes[0])
    assert not check_password("wrong", hashes[0])
    world.accounts.set_password("li.na", "another password")
    assert world.accounts.verify("li.na", s.PASSWORD) is None
    assert world.accounts.verify("li.na", "another password") is not None
    with pytest.raises(AccountError) as exists:
        world.accounts.add(s.OPERATOR, s.PASSWORD, name="", now_ms=0)
    assert exists.value.code == "exists"
    with pytest.raises(AccountError) as short:
        world.accounts.add("zhou", "short", name="", now_ms=0)
    assert short.value.code == "invalid"
    with pytest.raises(AccountError) as bad_id:
        world.accounts.add("../etc", s.PASSWORD, name="", now_ms=0)
    assert bad_id.value.code == "invalid"


def test_a_damaged_accounts_file_refuses_logins_with_one_clear_error(
    client: TestClient, tmp_path: Path
) -> None:
    (tmp_path / "data" / "operators.json").write_text("{not json", encoding="utf-8")
    answer = client.post(
        "/console/api/session", json={"operator": s.OPERATOR, "password": s.PASSWORD}
    )
    assert answer.status_code == 503
    with pytest.raises(AccountError) as damaged:
        Accounts(tmp_path / "data" / "operators.json").list()
    assert damaged.value.code == "file"


def test_a_disabled_operator_can_neither_log_in_nor_act(client: TestClient, world: s.World) -> None:
    headers = log_in(client)
    world.accounts.set_disabled(s.OPERATOR, True)
    answer = client.post(f"{LANE}/zero", headers=headers)
    assert answer.status_code == 401
    assert client.get("/console/api/state").status_code == 401  # the session ended
    again = client.post(
        "/console/api/session", json={"operator": s.OPERATOR, "password": s.PASSWORD}
    )
    assert again.status_code == 401


def test_an_override_needs_a_reason(client: TestClient, world: s.World) -> None:
    headers = log_in(client)
    world.gate.drive_on(49_000, zero_first=False)  # held for zero_not_ok: overridable
    for reason in ("", "   ", "ok"):
        answer = client.post(f"{LANE}/override", json={"reason": reason}, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["detail"]["code"] == "reason"
    assert client.post(f"{LANE}/override", json={}, headers=headers).status_code == 422
    assert not records(world, EventBody)


def test_an_override_of_an_overload_is_refused_and_shown_as_such(
    client: TestClient, world: s.World
) -> None:
    headers = log_in(client)
    world.gate.drive_on(52_000)  # above the 49 t limit of a six-axle combination
    state = client.get("/console/api/state").json()["lanes"][0]
    assert state["state"] == "held"
    assert "overload_gross" in state["held_because"]
    outcome = act(client, headers, "override", {"reason": "driver insists"})
    assert outcome["refused"] is True
    assert outcome["state"] == "held"
    assert outcome["said"][0]["en"] == "This hold cannot be overridden"
    (event,) = records(world, EventBody)
    assert (event.kind, event.detail["accepted"]) == ("override", False)
    assert (event.detail["operator"], event.detail["reason"]) == (s.OPERATOR, "driver insists")
    assert not world.backend.lane("lane-1").barrier_up


def test_an_accepted_override_releases_with_the_operator_in_the_signed_records(
    client: TestClient, world: s.World
) -> None:
    headers = log_in(client)
    world.gate.drive_on(49_000, zero_first=False)  # the deck never read zero before it
    state = client.get("/console/api/state").json()["lanes"][0]
    assert (state["state"], state["held_because"]) == ("held", ["zero_not_ok"])
    assert state["barrier"] == {"up": False, "seen_up": None}
    outcome = act(client, headers, "override", {"reason": "deck zero checked by hand"})
    assert (outcome["refused"], outcome["state"]) == (False, "releasing")
    weighing = records(world, WeighingBody)[-1]
    assert (weighing.decision, weighing.reasons) == ("release", ("manual_override", "zero_not_ok"))
    assert weighing.operator == s.OPERATOR
    (override,) = [e for e in records(world, EventBody) if e.kind == "override"]
    assert override.detail["accepted"] is True
    assert override.detail["operator"] == s.OPERATOR
    assert override.detail["reason"] == "deck zero checked by hand"
    state = client.get("/console/api/state").json()["lanes"][0]
    assert state["barrier"] == {"up": True, "seen_up": True}
    assert state["lights"] == {"red": False, "green": True}


def test_clearing_the_io_fault_needs_a_reason_and_a_fault(
    client: TestClient, world: s.World
) -> None:
    headers = log_in(client)
    world.gate.drive_on(49_000)
    for reason in ("", "   ", "ok"):
        answer = client.post(f"{LANE}/io-checked", json={"reason": reason}, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["detail"]["code"] == "reason"
    assert client.post(f"{LANE}/io-checked", json={}, headers=headers).status_code == 422
    written = len(world.backend.records())
    answer = client.post(f"{LANE}/io-checked", json={"reason": "relay replaced"}, headers=headers)
    assert answer.status_code == 409
    assert answer.json()["detail"] == {
        "code": "refused",
        "message": "lane lane-1: no IO command fault to clear",
    }
    assert len(world.backend.records()) == written


def test_an_operator_clears_the_io_fault_and_the_released_truck_gets_its_barrier(
    client: TestClient, world: s.World
) -> None:
    """A release whose barrier did not rise: the operator's check ends the fault, signed with
    the operator's id, and the barrier is raised again for the same release."""
    headers = log_in(client)
    world.gate.drive_on(49_000)
    (release,) = records(world, WeighingBody)
    assert release.decision == "release"
    world.gate.feed(IoFaultIn(active=True, reason="raise_barrier: the limit switch did not close"))
    state = client.get("/console/api/state").json()["lanes"][0]
    assert state["state"] == "releasing"
    assert "io_fault" in state["held_because"]
    outcome = act(client, headers, "io-checked", {"reason": " relay   replaced "})
    assert (outcome["refused"], outcome["state"]) == (False, "releasing")
    assert outcome["said"][0]["en"] == "IO fault cleared by an operator"
    events = records(world, EventBody)
    stranded, cleared, retry = events[-3:]
    (release_record,) = [r for r in world.backend.records() if isinstance(r.body, WeighingBody)]
    assert (stranded.kind, stranded.detail["barrier"]) == ("io_fault", "not_raised")
    assert stranded.ref == release_record.id
    assert (cleared.kind, cleared.severity) == ("io_fault", "info")
    assert dict(cleared.detail) == {
        "active": False,
        "cleared_by": s.OPERATOR,
        "reason": "relay replaced",
    }
    assert (retry.kind, retry.ref, retry.detail["accepted"]) == (
        "release_retry",
        release_record.id,
        True,
    )
    assert len(records(world, WeighingBody)) == 1  # no new decision
    state = client.get("/console/api/state").json()["lanes"][0]
    assert state["faults"] == {}
    assert state["barrier"]["up"] is True
    again = client.post(f"{LANE}/io-checked", json={"reason": "relay replaced"}, headers=headers)
    assert again.status_code == 409


def test_a_typed_plate_is_recorded_as_manual_with_the_operator(
    client: TestClient, world: s.World
) -> None:
    headers = log_in(client)
    world.gate.drive_on(49_000, conf=40)  # the camera is unsure
    state = client.get("/console/api/state").json()["lanes"][0]
    assert state["held_because"] == ["plate_low_confidence"]
    act(client, headers, "plate", {"plate": "陕k12345"})
    world.gate.hold_weight(49_000)  # a fresh stability window, then the lane decides again
    state = client.get("/console/api/state").json()["lanes"][0]
    assert state["state"] == "releasing"
    assert state["plate"]["source"] == "manual"
    weighing = records(world, WeighingBody)[-1]
    assert (weighing.decision, weighing.plate, weighing.plate_source) == (
        "release",
        s.PLATE,
        "manual",
    )
    assert weighing.operator == s.OPERATOR


def test_a_ticket_chosen_by_id_or_by_its_qr(client: TestClient, world: s.World) -> None:
    headers = log_in(client)
    choices = client.get("/console/api/tickets", params={"lane": "lane-1", "plate": s.PLATE})
    assert [c["ticket"] for c in choices.json()["tickets"]] == [world.ticket.cti.hex()]
    none = client.get("/console/api/tickets", params={"lane": "lane-1", "plate": "陕K00000"})
    assert none.json()["tickets"] == []
    bad = client.post(f"{LANE}/ticket", json={"qr": "CT1:NOT A TICKET"}, headers=headers)
    assert bad.status_code == 400
    both = client.post(f"{LANE}/ticket", json={"qr": "x", "ticket": "00" * 16}, headers=headers)
    assert both.status_code == 400
    world.gate.drive_on(49_000, conf=40)
    act(client, headers, "plate", {"plate": s.PLATE})
    act(client, headers, "ticket", {"qr": ticket_qr(world.ticket)})
    state = client.get("/console/api/state").json()["lanes"][0]
    assert state["ticket"] == world.ticket.cti.hex()
    world.gate.hold_weight(49_000)
    weighing = records(world, WeighingBody)[-1]
    assert (weighing.decision, weighing.ticket) == ("release", world.ticket.cti)


def test_zero_the_empty_scale_and_the_refusal_with_a_load(
    client: TestClient, world: s.World
) -> None:
    headers = log_in(client)
    world.gate.hold_weight(20)
    done = act(client, headers, "zero")
    assert (done["refused"], done["said"][0]["en"]) == (False, "Scale zeroed")
    assert world.backend.zeroed("lane-1") == 1
    world.gate.set_beams(entry=True)
    world.gate.hold_weight(20)
    refused = act(client, headers, "zero")
    assert refused["refused"] is True
    assert world.backend.zeroed("lane-1") == 1


def test_acknowledge_an_alarm(client: TestClient, world: s.World) -> None:
    headers = log_in(client)
    world.gate.drive_on(52_000)  # held for overload …
    world.gate.set_beams(rear=True)  # … and the driver backs off the deck
    world.gate.hold_weight(0, ms=300)
    world.gate.set_beams(rear=False)
    (alarm,) = client.get("/console/api/state").json()["lanes"][0]["alarms"]
    assert (alarm["kind"], alarm["severity"]) == ("escape", "alarm")
    act(client, headers, "ack", {"kind": alarm["kind"], "ref": alarm["ref"]})
    assert client.get("/console/api/state").json()["lanes"][0]["alarms"] == []
    ack = [e for e in records(world, EventBody) if e.kind == "alarm_ack"][-1]
    assert ack.detail == {"operator": s.OPERATOR, "kind": "escape"}
    assert ack.ref is not None
    assert ack.ref.hex() == alarm["ref"]


def test_the_receipt_of_a_release_verifies_offline(client: TestClient, world: s.World) -> None:
    log_in(client)
    world.gate.drive_on(49_000)
    (decision,) = client.get("/console/api/state").json()["lanes"][0]["decisions"]
    assert decision["receipt"] is True
    answer = client.get(f"/console/api/receipt/{decision['seq']}")
    assert answer.status_code == 200
    receipt = verify_receipt(answer.json()["text"], cf.CENTRAL_KEYS)
    assert (receipt.weighing.net_kg, receipt.ticket.cti) == (33_980, world.ticket.cti)
    assert receipt.record.seq == decision["seq"]
    evidence = client.get(f"/console/api/receipt/{decision['seq'] - 1}")
    assert (evidence.status_code, evidence.json()["detail"]["code"]) == (409, "not_receipt")
    assert client.get("/console/api/receipt/99").status_code == 404


def test_a_hold_has_no_receipt_and_the_shift_lists_both(client: TestClient, world: s.World) -> None:
    log_in(client)
    world.gate.drive_on(52_000)
    world.gate.drive_off()
    world.gate.drive_on(49_000)
    shift = client.get("/console/api/weighings").json()
    assert [w["decision"] for w in shift["weighings"]] == ["release", "hold"]
    assert shift["since_ms"] <= shift["weighings"][-1]["at_ms"]
    hold = shift["weighings"][1]
    assert "overload_gross" in hold["reasons"]
    assert hold["receipt"] is False
    assert client.get(f"/console/api/receipt/{hold['seq']}").status_code == 409


def test_no_receipt_without_a_device_certificate(tmp_path: Path) -> None:
    w = s.world(tmp_path)
    w.backend._certificate = None  # an edge that was never enrolled
    with TestClient(s.app(w)) as client:
        log_in(client)
        w.gate.drive_on(49_000)
        seq = client.get("/console/api/weighings").json()["weighings"][0]["seq"]
        answer = client.get(f"/console/api/receipt/{seq}")
    assert (answer.status_code, answer.json()["detail"]["code"]) == (409, "no_certificate")


def test_without_a_bundle_the_console_says_why(tmp_path: Path) -> None:
    w = s.world(tmp_path, bundle=False)
    with TestClient(s.app(w)) as client:
        log_in(client)
        w.gate.drive_on(49_000)
        lane = client.get("/console/api/state").json()["lanes"][0]
        reasons = client.get("/console/api/reasons").json()["reasons"]
    assert lane["state"] == "held"
    assert lane["held_because"][-1] == "no_bundle"
    assert "no_ticket" in lane["held_because"]
    assert reasons["no_bundle"]["en"].startswith("No site bundle")
    assert reasons["overload_gross"]["zh"] == "车辆超限，禁止放行"  # noqa: RUF001


def test_the_live_stream_sends_the_state(client: TestClient, world: s.World) -> None:
    log_in(client)
    world.gate.hold_weight(12_340)
    with client.stream("GET", "/console/api/live") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = list(stream.iter_lines())
    events = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data")]
    assert events  # the stream ended by itself after stream_s
    assert events[0]["lanes"][0]["weight_kg"] == 12_340
    assert events[0]["link"]["highest_seq"] == len(world.backend.records())


CST_HOUR = 3_600_000


@given(st.integers(min_value=0, max_value=4_000_000_000_000))
def test_a_shift_starts_at_08_00_or_20_00_china_time_within_twelve_hours(now: int) -> None:
    start = present.shift_start(now)
    assert start <= now < start + 12 * CST_HOUR
    assert (start + 8 * CST_HOUR) % (24 * CST_HOUR) in (8 * CST_HOUR, 20 * CST_HOUR)


def test_five_failed_logins_lock_the_id_for_five_minutes(
    client: TestClient, world: s.World
) -> None:
    for _ in range(5):
        wrong = {"operator": s.OPERATOR, "password": "guess guess"}
        assert client.post("/console/api/session", json=wrong).status_code == 401
    right = {"operator": s.OPERATOR, "password": s.PASSWORD}
    locked = client.post("/console/api/session", json=right)
    assert (locked.status_code, locked.json()["detail"]["code"]) == (429, "throttled")
    world.clock.advance(5 * 60_000)
    assert client.post("/console/api/session", json=right).status_code == 200


def test_a_scale_fault_is_why_the_barrier_stays_down(client: TestClient, world: s.World) -> None:
    log_in(client)
    world.gate.hold_weight(0)
    world.gate.feed(ScaleFaultIn(active=True, reason="silent: no frame for 2 s"), after_ms=10)
    lane = client.get("/console/api/state").json()["lanes"][0]
    assert (lane["state"], lane["held_because"]) == ("fault", ["scale_fault"])
    assert lane["faults"] == {"scale": "silent: no frame for 2 s"}
    assert lane["barrier"]["up"] is False
    assert lane["said"][0]["en"] == "Fault: please wait"
    world.gate.feed(ScaleFaultIn(active=False, reason="resumed"), after_ms=10)
    world.gate.hold_weight(0)
    lane = client.get("/console/api/state").json()["lanes"][0]
    assert (lane["state"], lane["held_because"], lane["faults"]) == ("idle", [], {})


def test_an_unknown_lane_is_404_and_reaches_nothing(client: TestClient, world: s.World) -> None:
    headers = log_in(client)
    answer = client.post("/console/api/lanes/lane-9/zero", headers=headers)
    assert (answer.status_code, answer.json()["detail"]["code"]) == (404, "lane")
    assert client.get("/console/api/tickets", params={"lane": "lane-9"}).status_code == 404
    assert world.backend.records() == ()


def test_an_acknowledgement_without_a_record_id_takes_the_oldest_of_its_kind(
    client: TestClient, world: s.World
) -> None:
    headers = log_in(client)
    for _ in range(2):  # two trucks back off the deck unreleased
        world.gate.drive_on(52_000)
        world.gate.set_beams(rear=True)
        world.gate.hold_weight(0, ms=300)
        world.gate.set_beams(rear=False)
    newest, oldest = client.get("/console/api/state").json()["lanes"][0]["alarms"]
    assert newest["seq"] > oldest["seq"]
    act(client, headers, "ack", {"kind": "escape"})
    (left,) = client.get("/console/api/state").json()["lanes"][0]["alarms"]
    assert left["ref"] == newest["ref"]


class BusyBackend(MemoryBackend):
    """A backend whose lane does not take inputs in time, as AgentConsole reports it."""

    async def submit(self, lane: str, item: OperatorInput) -> Outcome:
        raise LocalError(f"lane {lane} took no input within 10 s")


def test_a_lane_that_does_not_take_the_input_is_a_clear_503(world: s.World) -> None:
    lane = Lane(gb.config(), site=gb.SITE, keys=gb.KEYS, bundle=world.bundle, now_ms=world.clock())
    busy = BusyBackend(lanes=[lane], key=cf.DEVICE_KEY, certificate=None, clock=world.clock)
    built = s.app(dataclasses.replace(world, backend=busy), stream_s=0.3)
    with TestClient(built) as client:
        headers = log_in(client)
        answer = client.post(f"{LANE}/zero", json={}, headers=headers)
        assert answer.status_code == 503
        assert answer.json()["detail"]["code"] == "busy"
        assert "took no input within 10 s" in answer.json()["detail"]["message"]
