"""The operator console in a real headless Chromium against the console served by a real
uvicorn, over a real ``Lane`` in a ``MemoryBackend`` that the test drives like a truck would.

Screenshots go to ``test-artifacts/console/`` (the key ones are copied by hand into
``docs/console-img/``). Waits are Playwright's own (for an element, a URL, a text) with a bound,
never a sleep.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.gate.inputs import IoFaultIn
from tests.edge.console import support as s
from tests.wire import central_factories as cf
from wire.receipts import verify_receipt

with contextlib.suppress(ImportError):  # then the browser fixture skips (fails in CI)
    from playwright.sync_api import Browser, Page, expect

    expect.set_options(timeout=15_000)  # a loaded CI machine may take more than the default 5 s

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "console"
JSQR = ROOT / "central" / "dashboard" / "static" / "vendor" / "jsQR.js"
WAIT_MS = 15_000
DESK = {"width": 1440, "height": 1000}


@pytest.fixture
def world(tmp_path: Path) -> s.World:
    return s.world(tmp_path)


@pytest.fixture
def server(world: s.World) -> Iterator[s.ConsoleServer]:
    with s.ConsoleServer(s.app(world)) as running:
        yield running


class Pages:
    """Pages opened by a test, closed before the server stops (an open live stream would
    otherwise hold its graceful shutdown)."""

    def __init__(self, browser: Browser, server: s.ConsoleServer) -> None:
        self.browser, self.server = browser, server
        self._opened: list[Page] = []
        self.errors: list[str] = []

    def new(self, **context: Any) -> Page:
        page = self.browser.new_context(viewport=DESK, locale="en-US", **context).new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        self._opened.append(page)
        return page

    def logged_in(self, **context: Any) -> Page:
        page = self.new(**context)
        page.goto(f"{self.server.url}/console/")
        page.wait_for_url("**/console/login")
        page.fill("[data-testid=operator]", s.OPERATOR)
        page.fill("[data-testid=password]", s.PASSWORD)
        page.click("[data-testid=login]")
        page.wait_for_selector("body[data-ready]")
        expect(page.locator("[data-testid=live-status]")).to_have_attribute("data-on", "true")
        return page

    def close(self) -> None:
        for page in self._opened:
            page.context.close()


@pytest.fixture
def pages(browser: Browser, server: s.ConsoleServer) -> Iterator[Pages]:
    opened = Pages(browser, server)
    try:
        yield opened
        assert not opened.errors, opened.errors
    finally:
        opened.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def lane(page: Page, testid: str) -> Any:
    return page.locator(f"[data-lane=lane-1] [data-testid={testid}]")


def test_log_in_with_a_strict_http_only_cookie_and_log_out(
    pages: Pages, server: s.ConsoleServer
) -> None:
    page = pages.new()
    page.goto(f"{server.url}/console/")
    page.wait_for_url("**/console/login")
    page.fill("[data-testid=operator]", s.OPERATOR)
    page.fill("[data-testid=password]", "wrong password")
    page.click("[data-testid=login]")
    expect(page.locator("[data-testid=error]")).to_have_text("unknown operator or wrong password")
    shot(page, "login")
    page.fill("[data-testid=password]", s.PASSWORD)
    page.click("[data-testid=login]")
    page.wait_for_selector("body[data-ready]")
    expect(page.locator("[data-testid=who]")).to_have_text(f"{s.OPERATOR_NAME} ({s.OPERATOR})")
    (cookie,) = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
        "cg_console",
        True,
        "Strict",
    )
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
    page.click("[data-testid=logout]")
    page.wait_for_url("**/console/login")
    assert page.request.get(f"{server.url}/console/api/state").status == 401


def test_live_weight_state_and_decision_change_without_reload(pages: Pages, world: s.World) -> None:
    page = pages.logged_in()
    page.evaluate("() => { window.notReloaded = true; }")
    expect(lane(page, "state")).to_have_attribute("data-state", "idle")
    gate = world.gate
    gate.hold_weight(0)
    expect(lane(page, "weight")).to_have_text("0")
    expect(lane(page, "stable")).to_have_text("stable")
    gate.plate()
    expect(lane(page, "plate")).to_contain_text("陕K12345")
    expect(lane(page, "plate")).to_contain_text("95% · camera")
    gate.set_beams(entry=True)
    gate.set_beams(entry=False, rear=True)
    gate.hold_weight(12_340, ms=300, stable=False)  # driving on: the rear beam is still cut
    expect(lane(page, "weight")).to_have_text("12,340")
    expect(lane(page, "stable")).to_have_text("in motion")
    expect(lane(page, "state")).to_have_attribute("data-state", "positioning")
    gate.set_beams(rear=False)
    gate.hold_weight(49_000, ms=1500)
    expect(lane(page, "state")).to_have_attribute("data-state", "releasing")
    expect(lane(page, "weight")).to_have_text("49,000")
    expect(lane(page, "lamp-green")).to_have_attribute("data-on", "true")
    expect(lane(page, "lamp-red")).to_have_attribute("data-on", "false")
    expect(lane(page, "barrier")).to_have_attribute("data-up", "true")
    row = page.locator("[data-lane=lane-1] [data-testid=decisions] tr[data-decision=release]")
    expect(row).to_contain_text("Weighing done, drive on")
    expect(row).to_contain_text("33,980 kg")
    expect(page.locator("[data-testid=weighings] tr[data-seq]")).to_have_count(1)
    expect(page.locator("[data-testid=shift-total]")).to_contain_text("33,980 kg")
    world.backend.set_link(connected=True, acked_seq=2, last_ack_ms=world.clock())
    expect(page.locator("[data-testid=link-connected]")).to_have_text("connected")
    expect(page.locator("[data-testid=link-backlog]")).to_have_text("0")
    expect(page.locator("[data-testid=uplink]")).to_have_attribute("data-connected", "true")
    assert page.evaluate("() => window.notReloaded") is True
    shot(page, "console")


def test_override_with_a_reason_and_the_refusal_of_an_overload(
    pages: Pages, world: s.World
) -> None:
    page = pages.logged_in()
    world.gate.drive_on(49_000, zero_first=False)
    expect(lane(page, "state")).to_have_attribute("data-state", "held")
    expect(lane(page, "held")).to_contain_text("Scale was not at zero")
    expect(lane(page, "barrier")).to_have_attribute("data-up", "false")
    shot(page, "held")
    lane(page, "override-reason").fill("deck zero checked by hand")
    lane(page, "override-submit").click()
    expect(lane(page, "answer")).to_have_attribute("data-refused", "false")
    expect(lane(page, "answer")).to_contain_text("Released by the operator")
    expect(lane(page, "state")).to_have_attribute("data-state", "releasing")
    row = page.locator("[data-lane=lane-1] [data-testid=decisions] tr[data-decision=release]")
    expect(row).to_contain_text(s.OPERATOR)
    expect(row.locator("[data-testid=reasons]")).to_have_text(
        "Released by the operator; Scale was not at zero"
    )
    world.gate.drive_off()
    world.gate.drive_on(52_000)  # over the six-axle limit
    expect(lane(page, "held")).to_contain_text("Overloaded: not released")
    lane(page, "override-reason").fill("driver insists")
    lane(page, "override-submit").click()
    expect(lane(page, "answer")).to_have_attribute("data-refused", "true")
    expect(lane(page, "answer")).to_contain_text("Refused: This hold cannot be overridden")
    expect(lane(page, "answer")).to_contain_text("Overloaded: not released")
    expect(lane(page, "state")).to_have_attribute("data-state", "held")
    expect(lane(page, "barrier")).to_have_attribute("data-up", "false")
    shot(page, "override-refused")


def test_io_checked_clears_the_command_fault_and_the_released_truck_gets_its_barrier(
    pages: Pages, world: s.World
) -> None:
    page = pages.logged_in()
    lane(page, "io-checked-reason").fill("relay replaced")
    lane(page, "io-checked-submit").click()  # no IO fault: 409, nothing recorded
    expect(lane(page, "answer")).to_have_attribute("data-refused", "error")
    expect(lane(page, "answer")).to_contain_text("no IO command fault to clear")
    world.gate.drive_on(49_000)
    expect(lane(page, "state")).to_have_attribute("data-state", "releasing")
    world.gate.feed(IoFaultIn(active=True, reason="raise_barrier: no limit switch"))
    expect(lane(page, "held")).to_contain_text("Gate IO fault")
    lane(page, "io-checked-reason").fill("barrier relay replaced")
    lane(page, "io-checked-submit").click()
    expect(lane(page, "answer")).to_have_attribute("data-refused", "false")
    expect(lane(page, "answer")).to_contain_text("IO fault cleared by an operator")
    expect(lane(page, "held")).not_to_contain_text("Gate IO fault")
    expect(lane(page, "io-checked-reason")).to_have_value("")
    expect(page.locator("[data-lane=lane-1] [data-testid=alarms]")).to_contain_text(
        "Barrier raised again for a released truck"
    )
    shot(page, "io-checked")


def test_manual_plate_entry_when_the_camera_is_unsure(pages: Pages, world: s.World) -> None:
    page = pages.logged_in()
    world.gate.drive_on(49_000, conf=40)
    expect(lane(page, "held")).to_contain_text("Plate not recognised")
    lane(page, "plate-input").fill("陕K12345")
    lane(page, "plate-submit").click()
    expect(lane(page, "plate")).to_contain_text("typed by operator")
    expect(lane(page, "state")).to_have_attribute("data-state", "settling")
    world.gate.hold_weight(49_000)
    expect(lane(page, "state")).to_have_attribute("data-state", "releasing")
    row = page.locator("[data-lane=lane-1] [data-testid=decisions] tr[data-decision=release]")
    expect(row).to_contain_text("typed by operator")
    expect(row).to_contain_text(s.OPERATOR)
    shot(page, "manual-plate")


def test_the_receipt_qr_is_shown_decodes_and_verifies_offline(pages: Pages, world: s.World) -> None:
    page = pages.logged_in(bypass_csp=True)  # to load jsQR into the page for decoding
    world.gate.drive_on(49_000)
    lane(page, "receipt-button").first.click()
    sheet = page.locator("[data-testid=receipt]")
    expect(sheet).to_be_visible()
    expect(sheet.locator("[data-testid=receipt-net]")).to_have_text("33,980 kg")
    shown = page.locator("[data-testid=receipt-text]")
    text = shown.get_attribute("data-text")
    assert text is not None
    assert text.startswith("CR1:")
    assert shown.inner_text() == text  # as rendered: Base45's spaces are kept
    page.add_script_tag(path=str(JSQR))
    decoded = page.evaluate(
        """() => {
            const canvas = document.querySelector("[data-testid=receipt-qr]");
            const image = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
            const code = jsQR(image.data, image.width, image.height);
            return code ? code.data : null;
        }"""
    )
    assert decoded == text
    receipt = verify_receipt(decoded, cf.CENTRAL_KEYS)
    assert (receipt.weighing.net_kg, receipt.weighing.plate) == (33_980, s.PLATE)
    assert receipt.ticket.cti == world.ticket.cti
    shot(page, "receipt")
    page.emulate_media(media="print")
    expect(page.locator("[data-testid=lanes]")).to_be_hidden()
    expect(page.locator("[data-testid=print]")).to_be_hidden()
    expect(page.locator("[data-testid=receipt-qr]")).to_be_visible()
    shot(page, "receipt-print")


def test_the_language_switch_and_an_alarm_acknowledged(pages: Pages, world: s.World) -> None:
    page = pages.logged_in()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    world.gate.drive_on(52_000)
    world.gate.set_beams(rear=True)  # the driver backs off the deck without a release
    world.gate.hold_weight(0, ms=300)
    world.gate.set_beams(rear=False)
    alarm = page.locator("[data-lane=lane-1] [data-testid=alarms] li[data-kind=escape]")
    expect(alarm).to_contain_text("Truck left without release")
    page.click("[data-testid=lang]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(alarm).to_contain_text("车辆未放行即离开")
    expect(lane(page, "state")).to_have_text("空闲")
    row = page.locator("[data-lane=lane-1] [data-testid=decisions] tr[data-decision=hold]")
    expect(row.locator("[data-testid=reasons]")).to_have_text(
        "车辆超限，禁止放行；净重超过煤票上限"  # noqa: RUF001
    )
    expect(lane(page, "override-submit")).to_have_text("人工放行")
    expect(lane(page, "ticket-select").locator("option").first).to_have_text("— 请选择 —")
    shot(page, "console-zh")
    page.reload()
    page.wait_for_selector("body[data-ready]")
    expect(lane(page, "state")).to_have_text("空闲")  # the choice is kept
    alarm.locator("[data-testid=ack]").click()
    expect(alarm).to_have_count(0)
    expect(lane(page, "alarms")).to_contain_text("没有未确认的报警")
    page.click("[data-testid=lang]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(lane(page, "state")).to_have_text("idle")


def test_choose_the_ticket_from_the_bundle_and_zero_the_empty_scale(
    pages: Pages, world: s.World
) -> None:
    page = pages.logged_in()
    world.gate.hold_weight(0)
    lane(page, "zero").click()
    expect(lane(page, "answer")).to_have_text("Scale zeroed")
    assert world.backend.zeroed("lane-1") == 1
    world.gate.drive_on(49_000, conf=40)  # the camera is unsure: no plate, no ticket
    expect(lane(page, "held")).to_contain_text("Plate not recognised")
    lane(page, "plate-input").fill("陕K12345")
    lane(page, "plate-submit").click()
    expect(lane(page, "plate")).to_contain_text("typed by operator")
    option = lane(page, "ticket-select").locator(f"option[value='{world.ticket.cti.hex()}']")
    expect(option).to_contain_text(world.ticket.no)  # offered for the typed plate
    lane(page, "ticket-select").select_option(world.ticket.cti.hex())
    lane(page, "ticket-submit").click()
    expect(lane(page, "ticket")).to_have_attribute("title", world.ticket.cti.hex())
    world.gate.hold_weight(49_000)
    expect(lane(page, "state")).to_have_attribute("data-state", "releasing")
    shot(page, "ticket-chosen")
