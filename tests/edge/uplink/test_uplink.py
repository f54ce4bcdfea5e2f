"""The uplink against a real private Mosquitto and a test central that verifies and acks.

Every test runs under MQTT 3.1.1 and 5. Waits are bounded polls of what the test central saw
or of the uplink's events; no test asserts on timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.journal.store import Journal
from edge.uplink.client import Uplink
from tests.conftest import Mosquitto
from tests.edge.journal.support import (
    DEVICE,
    SITE,
    T0,
    body_for,
    chain_report,
    device_key,
    verified,
)
from tests.edge.uplink.central_peer import CentralPeer, until
from tests.edge.uplink.running import event, running
from tests.wire.central_factories import CENTRAL, CENTRAL_KEYS, CENTRAL_KID, ROGUE_CENTRAL
from wire.bodies import EventBody, StatusBody
from wire.bundles import build_bundle
from wire.keys import SigningKey

pytestmark = pytest.mark.mosquitto


@pytest.fixture(params=["3.1.1", "5"])
def mqtt_version(request: pytest.FixtureRequest) -> str:
    version: str = request.param
    return version


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.db", key=device_key(), site=SITE, device=DEVICE) as j:
        yield j


@pytest.fixture
def central(mosquitto: Mosquitto) -> Iterator[CentralPeer]:
    peer = CentralPeer(port=mosquitto.port)
    try:
        yield peer
    finally:
        peer.close()


def make_uplink(journal: Journal, mosquitto: Mosquitto, version: str, **options: Any) -> Uplink:
    settings: dict[str, Any] = {
        "resend_after_s": 0.5,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "heartbeat_s": 3600.0,
        "software_version": "test-1.0",
        "disk_check_s": 0.05,
    }
    settings.update(options)
    return Uplink(
        journal=journal,
        url=mosquitto.url,
        central_keys=CENTRAL_KEYS,
        mqtt_version=version,
        **settings,
    )


def current_version(uplink: Uplink) -> int | None:
    return uplink.bundle.version if uplink.bundle is not None else None


def write(journal: Journal, count: int) -> None:
    start = journal.highest_seq
    for number in range(start + 1, start + count + 1):
        body = body_for(number)
        journal.append(record_type=body.TYPE, body=body, ts_ms=T0 + number)


def journal_events(journal: Journal, kind: str) -> list[EventBody]:
    return [
        record.body
        for record in verified(e.data for e in journal.entries())
        if isinstance(record.body, EventBody) and record.body.kind == kind
    ]


async def test_records_flow_in_order_and_are_retired_by_acks(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    write(journal, 150)  # queued offline
    uplink = make_uplink(journal, mosquitto, mqtt_version, window=40)
    async with running(uplink):
        await until(lambda: journal.acked_seq == 150, what="the offline backlog acked")
        write(journal, 150)  # written while connected: sent at once
        await until(lambda: journal.acked_seq == 300, what="the live records acked")
        assert uplink.connected
        assert not journal.pending()
    assert central.bad == []
    assert set(central.counts) == set(range(1, 301))
    assert central.beyond_window <= 40
    report = chain_report(central.records.values())
    assert report.ok
    assert report.contiguous == 300
    # liveness: retained online status while connected, offline after a clean stop
    await until(lambda: central.statuses[-1]["state"] == "offline", what="offline status")
    online = [s for s in central.statuses if s["state"] == "online"]
    assert online[0]["version"] == "test-1.0"
    assert isinstance(online[0]["since"], int)


async def test_broker_outage_mid_stream_loses_nothing(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    central.auto_ack = False
    write(journal, 200)
    uplink = make_uplink(journal, mosquitto, mqtt_version, window=50)
    async with running(uplink):
        await until(lambda: central.contiguous >= 50, what="the first window")
        central.ack(30)
        await until(lambda: journal.acked_seq == 30, what="ack 30")
        await until(lambda: central.contiguous >= 80, what="the window moved past the ack")
        mosquitto.stop(kill=True)  # in flight: 31..80, un-acked
        await event(uplink, "disconnected")
        write(journal, 100)  # the lane keeps writing while the broker is gone
        central.auto_ack = True
        mosquitto.start()
        await until(lambda: journal.acked_seq == 300, timeout_s=60, what="all 300 acked")
    print(
        f"arrivals {len(central.arrivals)} for 300 records; connections {uplink.stats.connections}"
    )
    assert set(central.counts) == set(range(1, 301))
    assert uplink.stats.connections >= 2
    assert chain_report(central.records.values()).ok


async def test_stalled_acks_are_answered_by_a_resend(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    central.auto_ack = False
    write(journal, 20)
    uplink = make_uplink(journal, mosquitto, mqtt_version)
    async with running(uplink):
        await until(lambda: central.contiguous == 20, what="all 20 once")
        # the whole window is resent, not only its start: wait for the last one too
        await until(
            lambda: all(central.seen(seq) >= 2 for seq in range(1, 21)),
            what="all 20 resent after the stall",
        )
        assert uplink.stats.published >= 40
        assert uplink.window.resends >= 1
        central.ack(20)
        await until(lambda: journal.acked_seq == 20, what="ack 20")
    assert all(central.seen(seq) >= 2 for seq in range(1, 21))


async def test_out_of_order_acks_keep_the_maximum(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    central.auto_ack = False
    write(journal, 20)
    uplink = make_uplink(journal, mosquitto, mqtt_version, resend_after_s=30)
    async with running(uplink):
        await until(lambda: central.contiguous == 20, what="all 20")
        central.ack(15)
        await until(lambda: journal.acked_seq == 15, what="ack 15")
        central.ack(10)  # a slower worker's older ack
        await until(lambda: uplink.stats.stale_acks == 1, what="the late ack")
        assert journal.acked_seq == 15
        assert [e.seq for e in journal.pending()] == list(range(16, 21))
        central.ack(20)
        await until(lambda: journal.acked_seq == 20, what="ack 20")


async def test_an_ack_beyond_the_highest_seq_is_ignored_and_reported(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    central.auto_ack = False
    write(journal, 5)
    uplink = make_uplink(journal, mosquitto, mqtt_version, resend_after_s=30)
    async with running(uplink):
        await until(lambda: central.contiguous == 5, what="all 5")
        central.ack(99)
        reported = await event(uplink, "ack_rejected")
        assert reported.detail["reason"] == "beyond_highest"
        assert reported.detail["seq"] == 99
        assert journal.acked_seq == 0
        assert uplink.stats.beyond_acks == 1
        # raised as a signed event record in the chain, which itself goes to central
        await until(lambda: central.contiguous == 6, what="the ack_rejected record")
        assert central.records[6].body.kind == "ack_rejected"  # type: ignore[union-attr]
        central.ack(6)
        await until(lambda: journal.acked_seq == 6, what="a good ack")


async def test_forged_acks_are_ignored(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    central.auto_ack = False
    write(journal, 5)
    uplink = make_uplink(journal, mosquitto, mqtt_version, resend_after_s=30)
    impostor = SigningKey.from_seed(b"\x42" * 32, kid=CENTRAL_KID)  # central's kid, wrong key
    async with running(uplink):
        await until(lambda: central.contiguous == 5, what="all 5")
        central.ack(5, key=impostor)
        first = await event(uplink, "ack_rejected")
        central.ack(5, key=ROGUE_CENTRAL)  # a central kid nobody published
        second = await event(uplink, "ack_rejected")
        assert (first.detail["reason"], second.detail["reason"]) == (
            "bad_signature",
            "unknown_central_key",
        )
        assert uplink.stats.forged_acks == 2
        assert journal.acked_seq == 0
        assert len(journal_events(journal, "ack_rejected")) == 1  # rate-limited
        central.ack(5, key=CENTRAL)
        await until(lambda: journal.acked_seq == 5, what="the real ack")


async def test_a_reject_stops_sending_until_re_enrolled(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    central.auto_ack = False
    write(journal, 10)
    uplink = make_uplink(journal, mosquitto, mqtt_version, resend_after_s=0.2)
    async with running(uplink):
        await until(lambda: central.contiguous == 10, what="all 10")
        central.ack(4, reject="revoked")
        got = await event(uplink, "rejected")
        assert got.detail["reject"] == "revoked"
        assert uplink.rejected == "revoked"
        assert journal.rejected() == "revoked"
        assert journal.acked_seq == 4
        alarms = journal_events(journal, "ack_rejected")
        assert [a.severity for a in alarms] == ["alarm"]
        published = uplink.stats.published
        write(journal, 3)
        # a reconnection resends everything un-acked — except after a reject
        mosquitto.stop()
        await event(uplink, "disconnected")
        mosquitto.start()
        await event(uplink, "connected", timeout_s=30)
        assert uplink.stats.published == published
    # a restart does not forget it
    again = make_uplink(journal, mosquitto, mqtt_version)
    assert again.rejected == "revoked"


async def test_bundles_are_verified_cached_and_never_go_back(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    def bundle(version: int, key: SigningKey = CENTRAL) -> bytes:
        return build_bundle(
            key, site=SITE, version=version, ts=T0 + version, tickets=[], revoked=[], vehicles={}
        ).raw

    central.publish_bundle(bundle(2))  # retained: waiting before the edge ever connects
    heard: list[int] = []
    uplink = make_uplink(
        journal, mosquitto, mqtt_version, on_bundle=lambda b: heard.append(b.version)
    )
    assert journal.bundle() is None
    assert uplink.bundle is None
    async with running(uplink):
        async with asyncio.timeout(10):
            received = await uplink.bundles.get()
        assert received.version == 2
        assert current_version(uplink) == 2
        cached = journal.bundle()
        assert cached is not None
        assert (cached.version, cached.data) == (2, bundle(2))
        stale = uplink.stats.stale_bundles
        central.publish_bundle(bundle(1), retain=False)  # an older one, replayed
        await until(lambda: uplink.stats.stale_bundles > stale, what="the old bundle refused")
        central.publish_bundle(bundle(3, key=ROGUE_CENTRAL), retain=False)
        refused = await event(uplink, "bundle_refused")
        assert refused.detail["reason"] == "unknown_central_key"
        assert current_version(uplink) == 2
    assert heard == [2]
    # offline for days: the cache serves a new process before any connection
    restarted = make_uplink(journal, mosquitto, mqtt_version)
    assert restarted.bundle is not None
    assert restarted.bundle.version == 2


async def test_heartbeats_are_signed_status_records(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    uplink = make_uplink(
        journal,
        mosquitto,
        mqtt_version,
        heartbeat_s=0.1,
        lane_states=lambda: {"lane-1": "settling", "lane-2": "idle"},
    )
    async with running(uplink):
        await until(lambda: journal.acked_seq >= 2, what="two heartbeats acked")
    body = central.records[2].body
    assert isinstance(body, StatusBody)
    assert dict(body.lanes) == {"lane-1": "settling", "lane-2": "idle"}
    assert body.version == "test-1.0"
    assert body.bundle_version is None


async def test_the_window_bounds_what_is_in_flight(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    central.auto_ack = False
    write(journal, 60)
    uplink = make_uplink(journal, mosquitto, mqtt_version, window=10, resend_after_s=0.2)
    async with running(uplink):
        await until(lambda: central.seen(1) >= 2, what="a resend of the first window")
        assert max(central.arrivals) == 10  # it had its chance to overshoot, and did not
        central.ack(7)
        await until(lambda: central.seen(17) >= 1, what="the window moved to 8..17")
        # from here the central acks each record as it arrives
        central.auto_ack = True
        central.ack(17)
        write(journal, 100)
        await until(lambda: journal.acked_seq == 160, what="ack 160")
    assert central.beyond_window <= 10
    assert set(central.counts) == set(range(1, 161))


async def test_backlog_high_is_raised_once_as_an_event_record(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_version: str
) -> None:
    path = tmp_path / "small.db"
    with Journal.open(path, key=device_key(), site=SITE, device=DEVICE) as probe:
        budget = probe.usage().used_bytes + 48 * 1024
    with Journal.open(
        path, key=device_key(), site=SITE, device=DEVICE, budget_bytes=budget, alarm_fraction=0.5
    ) as journal:
        uplink = make_uplink(journal, mosquitto, mqtt_version)
        async with running(uplink):
            while not journal.usage().alarm:
                write(journal, 10)
            raised = await event(uplink, "backlog_high")
            assert raised.detail["budget_bytes"] == budget
            await until(lambda: bool(journal_events(journal, "backlog_high")), what="record")
        assert len(journal_events(journal, "backlog_high")) == 1


async def test_retention_deletes_only_acked_records(
    journal: Journal, mosquitto: Mosquitto, central: CentralPeer, mqtt_version: str
) -> None:
    central.auto_ack = False
    write(journal, 30)
    uplink = make_uplink(journal, mosquitto, mqtt_version, keep_acked=5, resend_after_s=30)
    async with running(uplink):
        await until(lambda: central.contiguous == 30, what="all 30")
        central.ack(20)
        await until(
            lambda: next(journal.entries()).seq == 16, what="retention down to the 5 latest acked"
        )
        assert [e.seq for e in journal.entries()] == list(range(16, 31))
        assert [e.seq for e in journal.pending()] == list(range(21, 31))
