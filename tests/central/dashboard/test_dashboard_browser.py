"""The dashboard and the checkpoint page in a real headless Chromium against a real central
(uvicorn on a free port, SQLite in tmp), logged in with real tokens.

Screenshots go to ``test-artifacts/dashboard/`` (the key ones are copied by hand into
``docs/dashboard-img/``). Waits are Playwright's own (for an element, a URL, a text) with a
bound, never a sleep.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.config import MqttUrl
from central.ingest.worker import IngestWorker
from central.store import open_store
from central.store.base import Store
from central.store.model import SightingQuery
from central.transparency import log
from tests.central import builders as b
from tests.central.api_support import KEYRING
from tests.central.builders import HOUR, T0
from tests.central.dashboard.support import (
    CHECKPOINT,
    OTHER_SITE,
    CentralServer,
    World,
    build_world,
    shifted_clock,
)
from tests.central.edge_peer import EdgePeer
from tests.conftest import CHROMIUM, Mosquitto, service_missing

with contextlib.suppress(ImportError):  # then the browser fixture skips (fails in CI)
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"
QR_GENERATOR = Path(__file__).with_name("qrcode-generator.js")
WAIT_MS = 15_000
PHONE = {"width": 390, "height": 844}


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
def server(store: Store, world: World, tmp_path: Path) -> Iterator[CentralServer]:
    with CentralServer(store, tmp_path) as running:
        yield running


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(browser: Browser, server: CentralServer, token: str, **context: Any) -> Page:
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/dashboard/")
    page.wait_for_url("**/dashboard/login**")
    page.fill("[data-testid=token]", token)
    page.click("[data-testid=login]")
    page.wait_for_selector("body[data-ready]")
    assert not errors, errors
    return page


class Pages:
    """Logged-in pages, closed before central stops (a live stream open in a tab would
    otherwise hold the server's graceful shutdown)."""

    def __init__(self, browser: Browser, server: CentralServer) -> None:
        self.browser, self.server = browser, server
        self._opened: list[Page] = []

    def open(self, token: str, **context: Any) -> Page:
        page = log_in(self.browser, self.server, token, **context)
        self._opened.append(page)
        return page

    def close(self) -> None:
        for page in self._opened:
            page.context.close()


@pytest.fixture
def pages(browser: Browser, server: CentralServer) -> Iterator[Pages]:
    opened = Pages(browser, server)
    try:
        yield opened
    finally:
        opened.close()


def test_log_in_with_a_token_then_a_strict_http_only_cookie_and_log_out(
    pages: Pages, server: CentralServer, world: World
) -> None:
    page = pages.browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{server.url}/dashboard/")
    page.wait_for_url("**/dashboard/login**")
    page.fill("[data-testid=token]", "cg_not-a-token")
    page.click("[data-testid=login]")
    expect(page.locator("#error")).to_contain_text("unknown or revoked")
    page.fill("[data-testid=token]", world.tokens["regulator"])
    page.click("[data-testid=login]")
    expect(page.locator("[data-testid=live-status]")).to_have_text("live")
    (cookie,) = page.context.cookies()
    attributes = (cookie["name"], cookie["httpOnly"], cookie["sameSite"])
    assert attributes == ("cg_session", True, "Strict")
    assert world.tokens["regulator"] not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/dashboard/login")
    answer = page.request.get(f"{server.url}/dashboard/api/sites")
    assert answer.status == 401
    page.context.close()


@pytest.mark.mosquitto
def test_a_weighing_published_over_mqtt_appears_live_without_reload(
    browser: Browser, mosquitto: Mosquitto, store: Store, world: World, tmp_path: Path
) -> None:
    clock = shifted_clock()
    worker = IngestWorker(
        store=store, keyring=KEYRING, mqtt_url=MqttUrl.parse(mosquitto.url),
        batch_wait_s=0.01, clock=clock, publish_bundles=False,
    )  # fmt: skip
    worker.start()
    seller = world.region.seller
    edge = EdgePeer(
        port=mosquitto.port, site=seller.site, device=seller.device,
        central_keys=KEYRING.published,
    )  # fmt: skip
    try:
        with CentralServer(store, tmp_path, clock=clock) as server:
            page = log_in(browser, server, world.tokens["regulator"])
            expect(page.locator("[data-testid=live-status]")).to_have_text("live")
            loaded = f"[data-testid=live-weighings] tr[data-record='{world.loading.id.hex()}']"
            expect(page.locator(loaded)).to_have_count(1)  # the backfill of the latest
            page.evaluate("() => { window.notReloaded = true; }")
            body = b.weighing(ticket=None, plate="陕K77777", net_kg=31_500, gross_kg=46_520)
            record = seller.sign(5, body, ts=clock())
            edge.send([seller.signed[seq] for seq in range(1, 6)])
            row = page.locator(f"[data-testid=live-weighings] tr[data-record='{record.id.hex()}']")
            expect(row).to_contain_text("陕K77777")
            expect(row).to_contain_text("31,500 kg")
            assert page.evaluate("() => window.notReloaded") is True
            shot(page, "live")
            page.context.close()  # before central stops: the live stream ends with the tab
    finally:
        edge.close()
        worker.stop()


def test_acknowledge_an_alarm_with_a_note(
    pages: Pages, server: CentralServer, world: World, store: Store
) -> None:
    page = pages.open(world.tokens["regulator"])
    page.goto(f"{server.url}/dashboard/#/alarms")
    (alarm,) = store.alarms()
    row = page.locator(f"tr[data-alarm='{alarm.id}']")
    row.locator("[data-testid=ack-input]").fill("司机已联系 车辆返回过磅")
    row.locator("[data-testid=ack-button]").click()
    expect(row.locator("[data-testid=ack-note]")).to_have_text("司机已联系 车辆返回过磅")
    assert alarm.id is not None
    ack = store.alarm_acks([alarm.id])[alarm.id]
    assert ack.note == "司机已联系 车辆返回过磅"
    assert ack.actor.startswith("api:regulator#")
    shot(page, "alarms")


def test_ticket_detail_shows_history_both_weighings_and_the_weight_curve(
    pages: Pages, server: CentralServer, world: World
) -> None:
    page = pages.open(world.tokens["regulator"])
    page.goto(f"{server.url}/dashboard/#/tickets")
    page.fill("[data-testid=ticket-search]", "陕K·12345")
    page.get_by_role("button", name="Search").click()
    page.locator(f"tr[data-ticket='{world.ticket.id}'] a").first.click()
    expect(page.locator("[data-testid=history] li")).to_have_count(4)
    curves = page.locator("svg[data-points='40'] polyline.curve")
    expect(curves).to_have_count(2)
    expect(page.get_by_text("within tolerance")).to_be_visible()
    shot(page, "ticket")
    page.goto(f"{server.url}/dashboard/#/truck/陕K12345")
    expect(page.locator(f"[data-trip='{world.ticket.id}'] li")).to_have_count(3)
    page.goto(f"{server.url}/dashboard/#/record/{world.loading.id.hex()}")
    expect(page.locator("[data-testid=signature]")).to_contain_text("verifies")
    expect(page.locator("[data-testid=chain]")).to_contain_text("linked")
    expect(page.locator("[data-testid=transparency]")).to_contain_text("not in the log yet")
    log.current_head(world.store, KEYRING.signing, now_ms=T0 + 2 * HOUR)  # central signs a head
    page.reload()
    expect(page.locator("[data-testid=transparency]")).to_contain_text("included")
    shot(page, "record")
    page.goto(f"{server.url}/dashboard/#/figures")
    scores = page.locator("[data-testid=credit-scores] tr[data-score]")
    expect(scores).to_have_count(3)
    expect(page.locator("[data-testid=credit-scores] tr[data-score=sx-coal-a]")).to_contain_text(
        "escape"
    )
    page.goto(f"{server.url}/dashboard/#/tonnage")
    expect(page.locator("line.quota")).to_have_count(3)
    shot(page, "tonnage")
    page.goto(f"{server.url}/dashboard/#/sites")
    expect(page.locator("[data-testid=sites] tr[data-site]")).to_have_count(4)
    shot(page, "sites")


def verify_on_phone(page: Page, text: str) -> None:
    page.fill("[data-testid=qr-text]", text)
    page.click("[data-testid=verify]")


def test_checkpoint_verifies_a_ticket_and_a_receipt_and_records_a_sighting(
    pages: Pages, server: CentralServer, world: World, store: Store
) -> None:
    page = pages.open(world.tokens["checkpoint"], viewport=PHONE, is_mobile=True)
    page.wait_for_url("**/checkpoint/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(page.locator("[data-testid=keys]")).to_contain_text("central-20261129")
    verify_on_phone(page, world.qr())
    expect(page.locator("[data-testid=verdict]")).to_have_attribute("data-valid", "true")
    expect(page.locator("[data-testid=check-signature]")).to_contain_text("passed")
    expect(page.locator("[data-testid=plate]")).to_have_text("陕K12345")
    expect(page.locator("[data-testid=online-state]")).to_contain_text("closed")
    expect(page.locator("[data-testid=online-net]")).to_contain_text("34,000 kg")
    page.click("[data-testid=record-sighting]")
    expect(page.locator("[data-testid=sighting-recorded]")).to_be_visible()
    (sighting,) = store.find_sightings(SightingQuery(checkpoint=CHECKPOINT))
    assert (sighting.cti, sighting.valid, sighting.kind) == (world.ticket.cti, True, "ticket")

    verify_on_phone(page, world.receipt())
    expect(page.locator("[data-testid=verdict]")).to_contain_text("receipt")
    expect(page.locator("[data-testid=verdict]")).to_have_attribute("data-valid", "true")
    expect(page.locator("[data-testid=check-device]")).to_contain_text("passed")
    expect(page.locator("[data-testid=receipt-net]")).to_have_text("34,000 kg")
    expect(page.locator("[data-testid=online-seen]")).to_contain_text("1")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "checkpoint-phone")

    receipt = world.receipt()
    tampered = receipt[:200] + ("A" if receipt[200] != "A" else "B") + receipt[201:]
    verify_on_phone(page, tampered)
    expect(page.locator("[data-testid=verdict]")).to_have_attribute("data-valid", "false")


def qr_png(browser: Browser, text: str, path: Path) -> Path:
    """Draw ``text`` as a QR code PNG (the vendored MIT qrcode-generator, on a blank page)."""
    page = browser.new_page()
    try:
        page.add_script_tag(path=str(QR_GENERATOR))
        data_url = page.evaluate(
            """(text) => {
                const qr = qrcode(0, "L");
                qr.addData(text, "Alphanumeric");
                qr.make();
                const cell = 4, margin = 16, n = qr.getModuleCount();
                const canvas = document.createElement("canvas");
                canvas.width = canvas.height = n * cell + 2 * margin;
                const g = canvas.getContext("2d");
                g.fillStyle = "#fff";
                g.fillRect(0, 0, canvas.width, canvas.height);
                g.fillStyle = "#000";
                for (let r = 0; r < n; r++)
                    for (let c = 0; c < n; c++)
                        if (qr.isDark(r, c))
                            g.fillRect(margin + c * cell, margin + r * cell, cell, cell);
                return canvas.toDataURL("image/png");
            }""",
            text,
        )
    finally:
        page.close()
    path.write_bytes(base64.b64decode(data_url.split(",", 1)[1]))
    return path


def test_checkpoint_decodes_an_uploaded_qr_image(
    browser: Browser, pages: Pages, world: World, tmp_path: Path
) -> None:
    ticket_png = qr_png(browser, world.qr(), tmp_path / "ticket.png")
    receipt_png = qr_png(browser, world.receipt(), tmp_path / "receipt.png")
    assert ticket_png.read_bytes().startswith(b"\x89PNG")
    page = pages.open(world.tokens["checkpoint"], viewport=PHONE, is_mobile=True)
    page.set_input_files("[data-testid=qr-image]", str(ticket_png))
    expect(page.locator("[data-testid=verdict]")).to_have_attribute("data-valid", "true")
    assert page.input_value("[data-testid=qr-text]") == world.qr()
    page.set_input_files("[data-testid=qr-image]", str(receipt_png))
    expect(page.locator("[data-testid=receipt-net]")).to_have_text("34,000 kg")
    assert page.input_value("[data-testid=qr-text]") == world.receipt()


def test_an_enterprise_sees_only_its_own_sites_and_tickets(
    pages: Pages, server: CentralServer, world: World
) -> None:
    page = pages.open(world.tokens["enterprise"])
    page.goto(f"{server.url}/dashboard/#/sites")
    expect(page.locator("[data-testid=sites] tr[data-site]")).to_have_count(2)
    expect(page.locator(f"tr[data-site='{OTHER_SITE}']")).to_have_count(0)
    expect(page.locator("nav a[data-view=alarms]")).to_have_count(0)
    page.goto(f"{server.url}/dashboard/#/ticket/{world.other_ticket.id}")
    expect(page.locator("[data-testid=error]")).to_be_visible()
    page.goto(f"{server.url}/dashboard/#/tickets")
    expect(page.locator(f"tr[data-ticket='{world.ticket.id}']")).to_have_count(1)
    expect(page.locator(f"tr[data-ticket='{world.other_ticket.id}']")).to_have_count(0)
    # the same refusals at the HTTP level, with the page's own session cookie
    request = page.request
    other = world.other_ticket.id
    assert request.get(f"{server.url}/dashboard/api/tickets/{other}").status == 403
    assert request.get(f"{server.url}/api/v1/tickets/{other}").status == 403
    assert request.get(f"{server.url}/api/v1/devices?site={OTHER_SITE}").status == 403
    assert request.get(f"{server.url}/dashboard/api/alarms").status == 403
    sites = request.get(f"{server.url}/dashboard/api/sites").json()["sites"]
    assert OTHER_SITE not in {s["id"] for s in sites}
    trips = request.get(f"{server.url}/dashboard/api/trucks/陕K54321").json()["trips"]
    assert trips == []


def test_the_language_switch_renders_chinese_and_back(
    pages: Pages, server: CentralServer, world: World
) -> None:
    page = pages.open(world.tokens["regulator"])
    page.goto(f"{server.url}/dashboard/#/ticket/{world.ticket.id}")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("nav a[data-view=live]")).to_have_text("Live")
    page.click("[data-testid=lang]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("nav a[data-view=live]")).to_have_text("实时")
    expect(page.get_by_text("状态历程")).to_be_visible()
    expect(page.locator("[data-testid=ticket-summary]")).to_contain_text("陕K12345")
    expect(page.locator("[data-testid=ticket-summary]")).to_contain_text("大柳塔A矿")
    shot(page, "ticket-zh")
    page.reload()
    expect(page.locator("nav a[data-view=live]")).to_have_text("实时")  # the choice is kept
    page.click("[data-testid=lang]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("nav a[data-view=live]")).to_have_text("Live")


def qr_modules(browser: Browser, text: str) -> list[list[bool]]:
    """The dark modules of ``text`` as a QR code (the vendored qrcode-generator)."""
    page = browser.new_page()
    try:
        page.add_script_tag(path=str(QR_GENERATOR))
        modules: list[list[bool]] = page.evaluate(
            """(text) => {
                const qr = qrcode(0, "L");
                qr.addData(text, "Alphanumeric");
                qr.make();
                const n = qr.getModuleCount();
                return Array.from({ length: n }, (_, r) =>
                    Array.from({ length: n }, (_, c) => qr.isDark(r, c)));
            }""",
            text,
        )
    finally:
        page.close()
    return modules


def y4m(modules: list[list[bool]], path: Path, *, width: int = 640, height: int = 480) -> Path:
    """One grey-scale video frame (YUV 4:2:0) with the QR centred on white: what Chromium's
    fake camera plays in a loop."""
    cell = min(width, height) * 9 // 10 // len(modules)
    size = cell * len(modules)
    left, top = (width - size) // 2, (height - size) // 2
    luma = bytearray(b"\xeb" * (width * height))
    for r, row in enumerate(modules):
        for c, dark in enumerate(row):
            if dark:
                for y in range(top + r * cell, top + (r + 1) * cell):
                    start = y * width + left + c * cell
                    luma[start : start + cell] = b"\x10" * cell
    chroma = b"\x80" * (width // 2 * height // 2)
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + b"FRAME\n" + bytes(luma) + chroma + chroma)
    return path


def test_checkpoint_scans_a_qr_with_the_camera(
    server: CentralServer, world: World, tmp_path: Path
) -> None:
    """Chromium's fake camera plays a video of the receipt's QR; the page scans it."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        service_missing("the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        service_missing(f"chromium is not installed at {CHROMIUM}")
    with sync_playwright() as playwright:
        plain = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            video = y4m(qr_modules(plain, world.receipt()), tmp_path / "qr.y4m")
        finally:
            plain.close()
        fake_camera = [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ]
        camera = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", *fake_camera]
        )
        try:
            page = log_in(camera, server, world.tokens["checkpoint"], viewport=PHONE,
                          permissions=["camera"])  # fmt: skip
            page.click("#camera")
            expect(page.locator("[data-testid=receipt-net]")).to_have_text("34,000 kg")
            assert page.input_value("[data-testid=qr-text]") == world.receipt()
            expect(page.locator("#video")).to_be_hidden()  # the camera is released
            page.context.close()
        finally:
            camera.close()
