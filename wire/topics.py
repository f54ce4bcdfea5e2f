"""The MQTT topic layout of WIRE.md "MQTT".

Central checks every record against the topic it arrived on (quarantine reason
``topic_mismatch``), and the broker ACL grants each device only its own topics. Both rest on one
strict reading of a topic, so parsing accepts exactly the topics the builders produce and
names the first thing wrong with anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from wire.errors import SchemaError, TopicError
from wire.ids import check_device_id, check_id

Direction = Literal["up", "down"]
Kind = Literal["record", "status", "ack", "bundle"]

PREFIX: Final = "cg"
VERSION: Final = "v1"
RECORD_FILTER: Final = "cg/v1/+/+/up/record"
#: Several ingest workers share the record stream (Mosquitto >= 1.6, EMQX; not amqtt).
SHARED_RECORD_FILTER: Final = "$share/central/" + RECORD_FILTER
STATUS_FILTER: Final = "cg/v1/+/+/up/status"
STH_TOPIC: Final = "cg/v1/central/sth"

# The only (direction, kind) pairs that exist: edges publish up, central publishes down.
_PAIRS: Final[dict[tuple[str, str], tuple[Direction, Kind]]] = {
    ("up", "record"): ("up", "record"),
    ("up", "status"): ("up", "status"),
    ("down", "ack"): ("down", "ack"),
    ("down", "bundle"): ("down", "bundle"),
}
_DEVICE_SEGMENTS = 6
_SHOW_MAX = 80


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceTopic:
    """One device's topic; constructing it validates it, so an invalid one cannot exist."""

    site: str
    device: str
    direction: Direction
    kind: Kind

    def __post_init__(self) -> None:
        topic = self.topic
        if (self.direction, self.kind) not in _PAIRS:
            raise _pair_error(topic, self.direction, self.kind)
        try:
            check_id(self.site, field="site")
            check_device_id(self.device, field="device")
        except SchemaError as exc:
            raise TopicError(f"topic {_show(topic)}: {exc.message}", topic=topic) from exc

    @property
    def topic(self) -> str:
        return f"{PREFIX}/{VERSION}/{self.site}/{self.device}/{self.direction}/{self.kind}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SthTopic:
    """Central's signed tree head topic, the one topic every device reads."""

    @property
    def topic(self) -> str:
        return STH_TOPIC


def record_topic(site: str, device: str) -> str:
    """Where a device publishes its records; raises ``TopicError`` for an invalid id."""
    return DeviceTopic(site=site, device=device, direction="up", kind="record").topic


def status_topic(site: str, device: str) -> str:
    """Where a device publishes its retained liveness status and its Last Will."""
    return DeviceTopic(site=site, device=device, direction="up", kind="status").topic


def ack_topic(site: str, device: str) -> str:
    """Where central answers a device with acks."""
    return DeviceTopic(site=site, device=device, direction="down", kind="ack").topic


def bundle_topic(site: str, device: str) -> str:
    """Where central keeps a device's retained site bundle."""
    return DeviceTopic(site=site, device=device, direction="down", kind="bundle").topic


def parse_topic(topic: str) -> DeviceTopic | SthTopic:
    """Read a topic a message arrived on, or raise ``TopicError`` naming what is wrong.

    Filters (wildcards, ``$share/...``) are refused: a message always arrives on a concrete
    topic, and accepting a filter here would let a check meant for one device pass for many.
    """
    shown = _show(topic)
    if not topic:
        raise TopicError("topic is empty", topic=topic)
    if topic.startswith("$"):
        raise TopicError(
            f"topic {shown} starts with '$': a shared subscription or broker topic, "
            "not a coalgate topic",
            topic=topic,
        )
    if "+" in topic or "#" in topic:
        raise TopicError(f"topic {shown} contains a wildcard: it is a filter", topic=topic)
    parts = topic.split("/")
    if "" in parts:
        raise TopicError(f"topic {shown} has an empty segment", topic=topic)
    if parts[0] != PREFIX:
        raise TopicError(f"topic {shown} does not start with '{PREFIX}/'", topic=topic)
    if len(parts) > 1 and parts[1] != VERSION:
        raise TopicError(
            f"topic {shown} has version {parts[1]!r}; this contract is {VERSION}", topic=topic
        )
    if topic == STH_TOPIC:
        return SthTopic()
    if len(parts) != _DEVICE_SEGMENTS:
        raise TopicError(
            f"topic {shown} has {len(parts)} segment{'' if len(parts) == 1 else 's'}; "
            "device topics have 6 "
            f"({PREFIX}/{VERSION}/<site>/<device>/<up|down>/<kind>) and the only other "
            f"topic is {STH_TOPIC}",
            topic=topic,
        )
    _, _, site, device, direction, kind = parts
    pair = _PAIRS.get((direction, kind))
    if pair is None:
        raise _pair_error(topic, direction, kind)
    return DeviceTopic(site=site, device=device, direction=pair[0], kind=pair[1])


def _pair_error(topic: str, direction: str, kind: str) -> TopicError:
    return TopicError(
        f"topic {_show(topic)}: {_show(f'{direction}/{kind}')} does not exist; "
        "up carries record or status, down carries ack or bundle",
        topic=topic,
    )


def _show(topic: str) -> str:
    # A hostile or broken client can send a long topic; one terminal line is enough.
    if len(topic) > _SHOW_MAX:
        return repr(topic[:_SHOW_MAX] + "…")
    return repr(topic)
