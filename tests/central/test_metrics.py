"""``GET /metrics`` on both stores: after ingesting a known data set, every value is the one
written out here (Prometheus text format 0.0.4, no token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.api.app import create_app
from central.api.tokens import create_token
from central.config import Settings
from central.feeds.model import FeedItem
from central.metrics import CONTENT_TYPE
from central.store import open_store
from central.store.base import Store
from central.store.model import DeviceStatus
from central.ticketing import service
from central.transparency import log
from tests.central import builders as b
from tests.central.api_support import KEYRING, TestClient
from tests.central.builders import HOUR, T0, Region

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
ISSUER = "yulin-energy-bureau"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'central.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_dsn")
    )
    opened = open_store(url)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


def scrape(store: Store, tmp_path: Path) -> tuple[str, dict[str, float]]:
    settings = Settings.from_env({"COALGATE_DATA_DIR": str(tmp_path / "data")})
    app = create_app(store=store, keyring=KEYRING, settings=settings, clock=lambda: T0)
    with TestClient(app) as http:
        answer = http.get("/metrics")  # no token
    assert answer.status_code == 200
    assert answer.headers["content-type"] == CONTENT_TYPE
    samples: dict[str, float] = {}
    for line in answer.text.splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return answer.text, samples


def test_a_new_install_reports_zeros_and_no_staleness(store: Store, tmp_path: Path) -> None:
    text, samples = scrape(store, tmp_path)
    assert samples == {
        "coalgate_records_stored_total": 0,
        'coalgate_devices{state="offline"}': 0,
        'coalgate_devices{state="online"}': 0,
        "coalgate_webhook_backlog": 0,
    }
    assert "# TYPE coalgate_records_stored_total counter\n" in text
    assert "# TYPE coalgate_alarms_total counter\n" in text


def test_metrics_after_a_known_day(store: Store, tmp_path: Path) -> None:
    region = Region().register(store)
    tickets = [
        service.issue(
            store, KEYRING, b.ticket_request(plate=plate), issuer=ISSUER, now_ms=T0, actor="test"
        ).ticket
        for plate in ("陕K12345", "陕K23456", "陕K34567")
    ]
    service.revoke(store, tickets[2].cti, actor="test", now_ms=T0)
    seller = region.seller
    loading = seller.sign(1, b.loading(tickets[0].cti, 34_000), ts=T0 + HOUR)
    escape = seller.sign(2, b.escape_event(), ts=T0 + HOUR + 1000)
    status = region.dest.sign(1, ts=T0 + HOUR + 2000)
    junk = [
        b.quarantine_item(b"\xa0junk", "undecodable"),
        b.quarantine_item(b"\xa1junk", "undecodable"),
    ]
    store.ingest(
        [b.incoming(loading), b.incoming(escape), b.incoming(status, received_at=T0 + HOUR + 7500)],
        [*junk, junk[0], b.quarantine_item(b"\xa2forged", "bad_signature")],
        now_ms=T0 + HOUR + 8000,
    )
    store.ingest([b.incoming(escape)], [], now_ms=T0 + HOUR + 9000)  # a resend stores nothing
    for device, state in [(seller.device, "online"), (region.dest.device, "online"),
                          (region.other.device, "offline")]:  # fmt: skip
        store.set_device_status(
            DeviceStatus(device=device, state=state, since=T0, version="1", updated_at=T0)  # type: ignore[arg-type]
        )
    # Two feed items queue two deliveries for a platform's webhook (feeds' outbox).
    _, platform = create_token(store, role="platform", actor="test", now_ms=T0)
    store.add_webhook(
        token=platform.id, enterprise=None, feed="credit", url="https://platform.example/hook",
        secret="s" * 32, actor="test", at=T0,
    )  # fmt: skip
    store.append_feed_items(
        [FeedItem(feed="credit", key=f"test:{n}", kind="escape", subject=b.ENTERPRISE, at=T0,
                  body={}, enterprise=b.ENTERPRISE) for n in range(2)],
        now_ms=T0,
    )  # fmt: skip
    head = log.current_head(store, KEYRING.signing, now_ms=T0 + HOUR + 10_000)
    _, samples = scrape(store, tmp_path)
    assert samples == {
        "coalgate_records_stored_total": 3,
        "coalgate_last_stored_timestamp_seconds": (T0 + HOUR + 8000) / 1000,
        "coalgate_ingest_lag_seconds": 6.0,  # the newest leaf: stored at +8 s, signed at +2 s
        'coalgate_quarantined_messages_total{reason="bad_signature"}': 1,
        'coalgate_quarantined_messages_total{reason="undecodable"}': 3,
        'coalgate_quarantine_entries{reason="bad_signature"}': 1,
        'coalgate_quarantine_entries{reason="undecodable"}': 2,
        'coalgate_alarms_total{kind="escape"}': 1,
        'coalgate_alarms_total{kind="quarantine"}': 2,  # once per device and reason
        'coalgate_devices{state="offline"}': 1,
        'coalgate_devices{state="online"}': 2,
        'coalgate_tickets{state="issued"}': 1,
        'coalgate_tickets{state="loaded"}': 1,
        'coalgate_tickets{state="revoked"}': 1,
        "coalgate_webhook_backlog": 2,
        "coalgate_tree_head_size": 3,
        "coalgate_tree_head_timestamp_seconds": head.ts / 1000,
    }
