"""The pure ingest decision: every WIRE.md quarantine reason, and what is accepted."""

from __future__ import annotations

import pytest

from central.ingest.check import Accepted, DeviceView, Refused, check_record_message
from central.ingest.worker import published_by_central
from tests.wire import factories
from wire.records import ZERO_HASH, sign_record
from wire.topics import record_topic, status_topic

KEY = factories.device_key()
OTHER = factories.device_key("yl-mine-b-gate-1", seed_byte=9)
SITE = factories.SITE
DEVICES = {
    KEY.kid: DeviceView.of(
        device=KEY.kid, site=SITE, public_key=KEY.public.raw, revoked_above_seq=None
    ),
    OTHER.kid: DeviceView.of(
        device=OTHER.kid, site="yl-mine-b", public_key=OTHER.public.raw, revoked_above_seq=None
    ),
}
CHAIN = factories.chain(KEY, 3)


def check(
    topic: str, payload: bytes, devices: dict[str, DeviceView] = DEVICES
) -> Accepted | Refused:
    return check_record_message(topic, payload, devices=devices, received_at=5)


def refused(topic: str, payload: bytes, devices: dict[str, DeviceView] = DEVICES) -> Refused:
    decision = check(topic, payload, devices)
    assert isinstance(decision, Refused), decision
    assert decision.item.raw == payload  # kept verbatim
    assert decision.item.received_at == 5
    return decision


def test_a_valid_record_is_accepted_with_its_facts() -> None:
    record = CHAIN[2]
    decision = check(record_topic(SITE, KEY.kid), record.raw)
    assert isinstance(decision, Accepted)
    assert decision.record.record_id == record.id
    assert (decision.record.device, decision.record.seq, decision.record.site) == (KEY.kid, 3, SITE)
    assert decision.record.raw == record.raw


def test_weighings_carry_rollup_facts_and_alarm_events_an_alarm() -> None:
    weighing = sign_record(
        KEY, site=SITE, device=KEY.kid, seq=1, prev=ZERO_HASH, ts=1, body=factories.weighing()
    )
    decision = check(record_topic(SITE, KEY.kid), weighing.raw)
    assert isinstance(decision, Accepted)
    assert decision.record.weighing is not None
    assert (decision.record.weighing.net_kg, decision.record.weighing.decision) == (
        34_000,
        "release",
    )
    escape = sign_record(
        KEY, site=SITE, device=KEY.kid, seq=1, prev=ZERO_HASH, ts=1, body=factories.event()
    )
    decision = check(record_topic(SITE, KEY.kid), escape.raw)
    assert isinstance(decision, Accepted)
    assert decision.record.alarm is not None
    assert (decision.record.alarm.kind, decision.record.alarm.ref) == ("escape", escape.id)


@pytest.mark.parametrize(
    "topic",
    ["cg/v1/yl-mine-a", "cg/v2/yl-mine-a/yl-mine-a-gate-1/up/record", "other/topic"],
)
def test_foreign_topics(topic: str) -> None:
    decision = refused(topic, CHAIN[0].raw)
    assert decision.item.reason == "topic_mismatch"
    assert decision.reject is None


def test_a_status_topic_is_not_a_record_topic() -> None:
    assert refused(status_topic(SITE, KEY.kid), CHAIN[0].raw).item.reason == "topic_mismatch"


def test_unknown_device_gets_a_reject() -> None:
    stranger = factories.device_key("yl-mine-a-gate-9", seed_byte=3)
    record = factories.chain(stranger, 1)[0]
    decision = refused(record_topic(SITE, stranger.kid), record.raw)
    assert (decision.item.reason, decision.reject, decision.item.device) == (
        "unknown_device",
        "unknown_device",
        stranger.kid,
    )


def test_record_of_one_device_on_anothers_topic() -> None:
    decision = refused(record_topic("yl-mine-b", OTHER.kid), CHAIN[0].raw)
    assert decision.item.reason == "topic_mismatch"


def test_site_mismatch_with_the_enrollment() -> None:
    record = factories.chain(KEY, 1, site="yl-mine-b")[0]
    assert refused(record_topic("yl-mine-b", KEY.kid), record.raw).item.reason == "site_mismatch"


def test_site_mismatch_with_the_topic() -> None:
    assert refused(record_topic("yl-mine-b", KEY.kid), CHAIN[0].raw).item.reason == "topic_mismatch"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "undecodable"),
        (b"\x00garbage", "undecodable"),
        (CHAIN[0].raw[:-1] + bytes([CHAIN[0].raw[-1] ^ 1]), "bad_signature"),
        (b"\xd8\x12" + CHAIN[0].raw[1:], "non_canonical"),
    ],
)
def test_bad_bytes_get_the_wire_reason(payload: bytes, reason: str) -> None:
    assert refused(record_topic(SITE, KEY.kid), payload).item.reason == reason


def test_forged_record_signed_by_another_key_under_this_kid() -> None:
    impostor = factories.device_key(KEY.kid, seed_byte=42)
    forged = factories.chain(impostor, 1)[0]
    assert refused(record_topic(SITE, KEY.kid), forged.raw).item.reason == "bad_signature"


def test_revoked_device_above_the_revocation_seq() -> None:
    devices = dict(DEVICES)
    devices[KEY.kid] = DeviceView.of(
        device=KEY.kid, site=SITE, public_key=KEY.public.raw, revoked_above_seq=2
    )
    assert isinstance(check(record_topic(SITE, KEY.kid), CHAIN[1].raw, devices), Accepted)
    decision = refused(record_topic(SITE, KEY.kid), CHAIN[2].raw, devices)
    assert (decision.item.reason, decision.reject) == ("revoked", "revoked")


@pytest.mark.parametrize(
    ("topic", "central_publishes_it"),
    [
        ("cg/v1/yl-mine-a/yl-mine-a-gate-1/down/ack", True),
        ("cg/v1/yl-mine-a/yl-mine-a-gate-1/down/bundle", True),
        ("cg/v1/central/sth", True),
        ("cg/v1/yl-mine-a/yl-mine-a-gate-1/up/record", False),
        ("cg/v1/yl-mine-a/yl-mine-a-gate-1/up/status", False),
        ("cg/v1/yl-mine-a/yl-mine-a-gate-1/up/bundle", False),  # a device's odd topic: checked
        ("elsewhere/entirely", False),
    ],
)
def test_only_topics_central_publishes_on_are_dropped_unchecked(
    topic: str, central_publishes_it: bool
) -> None:
    # amqtt hands every client the retained messages of other clients' filters (acks,
    # bundles, tree heads); those are not submissions and must not be quarantined.
    assert published_by_central(topic) is central_publishes_it
