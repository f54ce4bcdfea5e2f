"""The pure half of ingest: one MQTT message in, a decision out. No I/O, no clock.

For a record published on ``cg/v1/{site}/{device}/up/record`` the checks run in WIRE.md's
order: the topic is ours; the device is enrolled; the bytes are a canonical COSE_Sign1 whose
kid is the topic's device; the signature verifies under the enrolled key; the schema holds;
site and device agree with the topic and the enrollment; the device is not revoked for this
seq. Anything that fails becomes a quarantine item with WIRE.md's reason, never a silent drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from central.store.model import Alarm, IncomingRecord, QuarantineItem, WeighingFacts
from wire.acks import REJECT_REVOKED, REJECT_UNKNOWN_DEVICE
from wire.bodies import EventBody, WeighingBody
from wire.errors import TopicError, UnknownKeyError, WireError
from wire.keys import KeySet, PublicKey
from wire.records import Record, verify_record
from wire.topics import DeviceTopic, parse_topic


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceView:
    """What ingest needs to know about an enrolled device."""

    id: str
    site: str
    keys: KeySet
    revoked_above_seq: int | None

    @classmethod
    def of(
        cls, *, device: str, site: str, public_key: bytes, revoked_above_seq: int | None
    ) -> DeviceView:
        key = PublicKey.from_raw(public_key, kid=device)
        return cls(id=device, site=site, keys=KeySet([key]), revoked_above_seq=revoked_above_seq)


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    record: IncomingRecord
    topic: DeviceTopic


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    item: QuarantineItem
    topic: DeviceTopic | None
    reject: str | None
    """A reason for a ``reject`` ack (``revoked``, ``unknown_device``), or None for no ack."""


Decision = Accepted | Refused


def check_record_message(
    topic_text: str,
    payload: bytes,
    *,
    devices: Mapping[str, DeviceView],
    received_at: int,
) -> Decision:
    """Decide what to do with one message from the record topic filter."""

    def refuse(
        reason: str, detail: str, topic: DeviceTopic | None = None, reject: str | None = None
    ) -> Refused:
        item = QuarantineItem(
            raw=payload,
            reason=reason,
            detail=detail,
            topic=topic_text,
            device=topic.device if topic is not None else None,
            received_at=received_at,
        )
        return Refused(item=item, topic=topic, reject=reject)

    try:
        topic = parse_topic(topic_text)
    except TopicError as exc:
        return refuse("topic_mismatch", exc.message)
    if not isinstance(topic, DeviceTopic) or (topic.direction, topic.kind) != ("up", "record"):
        return refuse("topic_mismatch", "not a record topic")
    device = devices.get(topic.device)
    if device is None:
        detail = f"device {topic.device!r} is not enrolled"
        return refuse("unknown_device", detail, topic, REJECT_UNKNOWN_DEVICE)
    try:
        record = verify_record(payload, device.keys)
    except UnknownKeyError as exc:
        # The device is enrolled and its key set holds only its own kid: the kid is another's.
        return refuse(
            "topic_mismatch", f"kid {exc.kid!r} published on {topic.device!r}'s topic", topic
        )
    except WireError as exc:
        return refuse(exc.reason, exc.message, topic)
    if record.site != device.site:
        detail = f"record for site {record.site!r}; the device is enrolled at {device.site!r}"
        return refuse("site_mismatch", detail, topic)
    if record.site != topic.site:
        detail = f"record for site {record.site!r} published under {topic.site!r}"
        return refuse("topic_mismatch", detail, topic)
    if device.revoked_above_seq is not None and record.seq > device.revoked_above_seq:
        detail = f"seq {record.seq} after revocation at seq {device.revoked_above_seq}"
        return refuse("revoked", detail, topic, REJECT_REVOKED)
    return Accepted(record=incoming(record, received_at=received_at), topic=topic)


def incoming(record: Record, *, received_at: int) -> IncomingRecord:
    """The store's view of a verified record."""
    body = record.body
    weighing = None
    alarm = None
    if isinstance(body, WeighingBody):
        weighing = WeighingFacts(
            direction=body.direction,
            decision=body.decision,
            net_kg=body.net_kg,
            ticket=body.ticket,
            plate=body.plate,
        )
    elif isinstance(body, EventBody) and body.severity == "alarm":
        alarm = Alarm(
            kind=body.kind,
            severity="alarm",
            raised_at=received_at,
            device=record.device,
            site=record.site,
            detail={
                "lane": body.lane,
                "edge_ts": record.ts,
                "seq": record.seq,
                "event": {str(key): value for key, value in body.detail.items()},
            },
            ref=record.id,
        )
    return IncomingRecord(
        raw=record.raw,
        record_id=record.id,
        device=record.device,
        site=record.site,
        seq=record.seq,
        ts=record.ts,
        type=record.type,
        received_at=received_at,
        weighing=weighing,
        alarm=alarm,
    )
