"""The operator console served by ``coalgate edge run`` at ``/console``, end to end.

The gate house of ``test_edge_run`` (a simulated lane, a private Mosquitto, the real central)
with an operator account made beforehand by ``coalgate edge operator add --password-stdin``;
the test is the operator, over HTTP (httpx): it logs in, watches the lane on the console's live
stream, acknowledges an alarm, and overrides a hold — accepted for a truck held only because the
deck was not at zero (the barrier rises on the IO module, the override event reaches central),
refused for an overloaded truck (the barrier never rises).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Mosquitto
from tests.edge.runtime.support import (
    OPERATOR,
    PASSWORD,
    PLATE,
    Console,
    Gate,
    gate_house,
    until,
)
from tests.edge.runtime.test_edge_run import ready_with_bundle
from wire.bodies import EventBody, WeighingBody
from wire.keys import KeySet
from wire.records import Record, verify_record

with contextlib.suppress(ImportError):  # then the browser fixture skips (fails in CI)
    from playwright.sync_api import Browser, Page, expect

    expect.set_options(timeout=15_000)

pytestmark = pytest.mark.mosquitto

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "edge-console"
WAIT_MS = 15_000
ZERO_OFF_KG = 200  # the empty deck reads this after a step: more than 2 divisions off zero


@pytest.fixture
def gate(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Gate]:
    """The gate house, its device certificate where enrollment puts it, an operator account."""
    with gate_house(tmp_path, mosquitto, operator=True, certificate=True) as world:
        yield world


@pytest.fixture
def console(gate: Gate) -> Iterator[Console]:
    client = Console(gate.edge.base)
    try:
        yield client
    finally:
        client.close()


def decision_about(console: Console, plate: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for item in console.lane()["decisions"]:
            if item["plate"] == plate:
                return dict(item)
        return None

    return until(find, what=f"the console's decision about {plate}")


def waiting_at_the_barrier(gate: Gate, plate: str) -> None:
    gate.sim.release(plate)  # the driver wants to go: only a raised barrier would let him
    until(
        lambda: gate.sim.state()["waiting_to_leave"] == [plate],
        what=f"{plate} waiting at the barrier",
    )
    assert not gate.sim.state()["io"]["barrier"]["up"]


def records_at_central(gate: Gate) -> list[Record]:
    keys = KeySet([gate.central.edge.key.public])
    return [verify_record(stored.raw, keys) for stored in gate.central.records()]


def override_events(gate: Gate) -> list[EventBody]:
    return [
        r.body
        for r in records_at_central(gate)
        if isinstance(r.body, EventBody) and r.body.kind == "override"
    ]


def test_the_console_needs_a_login_and_the_csrf_header(gate: Gate, console: Console) -> None:
    anonymous = httpx.get(gate.edge.base + "/console/api/state", timeout=10)
    assert anonymous.status_code == 401
    assert console.who["operator"] == OPERATOR
    assert console.who["site"] == gate.central.edge.site
    assert console.who["device"] == gate.central.edge.device
    page = console.http.get("/console/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    no_csrf = console.http.post("/console/api/lanes/lane1/override", json={"reason": "testing"})
    assert no_csrf.status_code == 403
    assert no_csrf.json()["detail"]["code"] == "csrf"
    unknown = console.post("/console/api/lanes/lane9/zero")
    assert unknown.status_code == 404
    # the heartbeat (a record every 2 s) acked by central: the console's uplink state
    link = until(
        lambda: (s := console.state()["link"])["connected"] and s["last_ack_ms"] and s,
        what="an acked record on the console's uplink state",
    )
    assert link["acked_seq"] >= 1
    assert link["backlog"] == link["highest_seq"] - link["acked_seq"]
    assert link["rejected"] is None


def test_an_override_releases_a_truck_held_because_the_deck_was_not_at_zero(
    gate: Gate, console: Console
) -> None:
    ready_with_bundle(gate)
    version = until(lambda: console.state()["link"]["bundle_version"], what="the bundle")
    assert version >= 1

    # Something on the empty deck: it reads 200 kg, the lane raises a drift alarm (with the
    # id of its record), and the operator acknowledges it by that id.
    gate.sim.fault("transmitter", "step", kg=ZERO_OFF_KG)
    alarm = until(
        lambda: next((a for a in console.lane()["alarms"] if a["kind"] == "tamper_zero_drift"),
                     None),
        what="the zero drift alarm on the console",
    )  # fmt: skip
    assert len(alarm["ref"]) == 64
    acked = console.post(
        "/console/api/lanes/lane1/ack", {"kind": alarm["kind"], "ref": alarm["ref"]}
    )
    assert acked.status_code == 200, acked.text
    assert not [a for a in console.lane()["alarms"] if a["ref"] == alarm["ref"]]

    # The truck drives on: the live stream shows the weight rise and the lane leave idle.
    gate.truck(PLATE, load_kg=33_000)  # gross 48 000 kg + the 200 kg on the deck
    seen = console.live_until(lambda lane: lane["state"] == "held")
    assert (seen[0]["weight_kg"] or 0) < 48_000  # live: it changed while the stream was open
    assert max(lane["weight_kg"] or 0 for lane in seen) >= 48_000
    assert {lane["state"] for lane in seen} - {"idle", "held"}  # it went through its states

    decision = decision_about(console, PLATE)
    assert (decision["decision"], decision["reasons"]) == ("hold", ["zero_not_ok"]), decision
    assert decision["gross_kg"] == 48_000 + ZERO_OFF_KG
    assert "zero_not_ok" in console.lane()["held_because"]
    waiting_at_the_barrier(gate, PLATE)

    too_short = console.post("/console/api/lanes/lane1/override", {"reason": "ok"})
    assert too_short.status_code == 400
    answer = console.post(
        "/console/api/lanes/lane1/override", {"reason": "debris on the deck, checked by hand"}
    )
    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    assert outcome["refused"] is False, outcome
    assert outcome["state"] != "held"

    # The barrier rose on the IO module and the truck left through it.
    until(lambda: not gate.sim.state()["trucks"], what="the overridden truck leaving")
    assert 'coalgate_edge_barrier_raised_total{lane="lane1"} 1' in gate.edge.metrics()
    released = decision_about_release(console)
    assert released["reasons"][0] == "manual_override"
    assert released["operator"] == OPERATOR

    # Central has the override event, signed by the device, naming the operator and reason.
    (event,) = until(lambda: override_events(gate), what="the override event at central")
    assert event.detail["accepted"] is True
    assert (event.detail["operator"], event.detail["reason"]) == (
        OPERATOR,
        "debris on the deck, checked by hand",
    )
    weighings = [r.body for r in records_at_central(gate) if isinstance(r.body, WeighingBody)]
    assert any(w.operator == OPERATOR and w.decision == "release" for w in weighings)

    # The shift's weighings and the driver's receipt, from the journal and the certificate.
    shift = console.http.get("/console/api/weighings").json()["weighings"]
    assert [w["decision"] for w in shift[:2]] == ["release", "hold"]
    receipt = console.http.get(f"/console/api/receipt/{released['seq']}")
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["weighing"]["seq"] == released["seq"]


def decision_about_release(console: Console) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for item in console.lane()["decisions"]:
            if item["decision"] == "release":
                return dict(item)
        return None

    return until(find, what="the release on the console")


def test_an_override_for_an_overloaded_truck_is_refused(gate: Gate, console: Console) -> None:
    ready_with_bundle(gate)
    gate.truck(PLATE, load_kg=40_000)  # gross 55 000 kg > 49 000 kg for 6 axles
    decision = decision_about(console, PLATE)
    assert decision["decision"] == "hold"
    assert "overload_gross" in decision["reasons"]
    assert "overload_gross" in console.lane()["held_because"]
    waiting_at_the_barrier(gate, PLATE)

    answer = console.post(
        "/console/api/lanes/lane1/override", {"reason": "the driver says the scale is wrong"}
    )
    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    assert outcome["refused"] is True, outcome
    assert outcome["state"] == "held"

    # The refusal is recorded and reaches central; the barrier never rose.
    (event,) = until(lambda: override_events(gate), what="the refused override at central")
    assert event.detail["accepted"] is False
    state = gate.sim.state()
    assert state["waiting_to_leave"] == [PLATE]
    assert not state["io"]["barrier"]["up"]
    assert "coalgate_edge_barrier_raised_total{" not in gate.edge.metrics()
    lane = console.lane()
    assert lane["state"] == "held"
    assert lane["barrier"] == {"up": False, "seen_up": False}
    assert not [d for d in lane["decisions"] if d["decision"] == "release"]


@pytest.mark.browser
def test_the_console_in_a_browser_shows_the_live_weight_of_the_real_lane(
    gate: Gate, browser: Browser
) -> None:
    """Headless Chromium against ``edge run``: log in, watch the truck's weight arrive."""
    ready_with_bundle(gate)
    page = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US").new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{gate.edge.base}/console/")
        page.wait_for_url("**/console/login")
        page.fill("[data-testid=operator]", OPERATOR)
        page.fill("[data-testid=password]", PASSWORD)
        page.click("[data-testid=login]")
        page.wait_for_selector("body[data-ready]")
        expect(page.locator("[data-testid=who]")).to_have_text(f"王丽 ({OPERATOR})")
        expect(page.locator("[data-testid=live-status]")).to_have_attribute("data-on", "true")
        page.evaluate("() => { window.notReloaded = true; }")
        expect(in_lane(page, "state")).to_have_attribute("data-state", "idle")
        expect(in_lane(page, "weight")).to_have_text("0")
        shot(page, "edge-console-idle")

        gate.truck(PLATE, load_kg=33_000)  # gross 48 000 kg: released
        expect(in_lane(page, "plate")).to_contain_text(PLATE)
        expect(in_lane(page, "weight")).to_have_text("48,000")
        row = page.locator("[data-lane=lane1] [data-testid=decisions] tr[data-decision=release]")
        expect(row).to_contain_text("32,980 kg")  # the net: 48 000 - the stored 15 020
        expect(page.locator("[data-testid=link-connected]")).to_have_text("connected")
        shot(page, "edge-console-released")
        until(lambda: not gate.sim.state()["trucks"], what="the released truck leaving")
        expect(in_lane(page, "weight")).to_have_text("0")
        assert page.evaluate("() => window.notReloaded") is True
        shot(page, "edge-console-after")
    finally:
        page.context.close()
    assert not errors, errors


def in_lane(page: Page, testid: str) -> Any:
    return page.locator(f"[data-lane=lane1] [data-testid={testid}]")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
