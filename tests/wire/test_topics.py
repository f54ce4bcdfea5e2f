"""Topic layout: builders and parser agree exactly, and nothing else parses."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from wire.errors import RemoteError, TopicError
from wire.ids import ID_PATTERN
from wire.topics import (
    RECORD_FILTER,
    SHARED_RECORD_FILTER,
    STATUS_FILTER,
    STH_TOPIC,
    DeviceTopic,
    Direction,
    Kind,
    SthTopic,
    ack_topic,
    bundle_topic,
    parse_topic,
    record_topic,
    status_topic,
)

Builder = Callable[[str, str], str]
BUILDERS: list[tuple[Builder, Direction, Kind]] = [
    (record_topic, "up", "record"),
    (status_topic, "up", "status"),
    (ack_topic, "down", "ack"),
    (bundle_topic, "down", "bundle"),
]


def outcome(topic: str) -> DeviceTopic | SthTopic | TopicError:
    try:
        return parse_topic(topic)
    except TopicError as error:
        return error


def mqtt_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 §4.7 filter matching, enough to check our filters against our topics."""
    if topic_filter.startswith("$share/"):
        topic_filter = topic_filter.split("/", 2)[2]
    want, have = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(want):
        if level == "#":
            return True
        if index >= len(have) or level not in ("+", have[index]):
            return False
    return len(want) == len(have)


def test_builders_follow_the_wire_md_layout() -> None:
    assert record_topic("mine-7", "gate-a") == "cg/v1/mine-7/gate-a/up/record"
    assert status_topic("mine-7", "gate-a") == "cg/v1/mine-7/gate-a/up/status"
    assert ack_topic("mine-7", "gate-a") == "cg/v1/mine-7/gate-a/down/ack"
    assert bundle_topic("mine-7", "gate-a") == "cg/v1/mine-7/gate-a/down/bundle"


def test_constants() -> None:
    assert RECORD_FILTER == "cg/v1/+/+/up/record"
    assert SHARED_RECORD_FILTER == "$share/central/cg/v1/+/+/up/record"
    assert STATUS_FILTER == "cg/v1/+/+/up/status"
    assert STH_TOPIC == "cg/v1/central/sth"


def test_filters_match_exactly_their_own_kind() -> None:
    record, status = record_topic("s1", "d1"), status_topic("s1", "d1")
    assert mqtt_matches(RECORD_FILTER, record)
    assert mqtt_matches(SHARED_RECORD_FILTER, record)
    assert not mqtt_matches(RECORD_FILTER, status)
    assert mqtt_matches(STATUS_FILTER, status)
    assert not mqtt_matches(STATUS_FILTER, record)
    for topic in (ack_topic("s1", "d1"), bundle_topic("s1", "d1"), STH_TOPIC):
        assert not mqtt_matches(RECORD_FILTER, topic)
        assert not mqtt_matches(STATUS_FILTER, topic)


@pytest.mark.parametrize(("build", "direction", "kind"), BUILDERS)
def test_parse_reads_back_each_kind(build: Builder, direction: Direction, kind: Kind) -> None:
    parsed = parse_topic(build("mine-7", "gate-a"))
    assert parsed == DeviceTopic(site="mine-7", device="gate-a", direction=direction, kind=kind)
    assert isinstance(parsed, DeviceTopic)
    assert parsed.topic == build("mine-7", "gate-a")


def test_parse_reads_the_tree_head_topic() -> None:
    parsed = parse_topic(STH_TOPIC)
    assert parsed == SthTopic()
    assert parsed.topic == STH_TOPIC


def test_a_site_may_be_called_central() -> None:
    # Six segments cannot be confused with the four of cg/v1/central/sth.
    parsed = parse_topic("cg/v1/central/gate-a/up/record")
    assert parsed == DeviceTopic(site="central", device="gate-a", direction="up", kind="record")


def test_topics_are_immutable() -> None:
    parsed = parse_topic(record_topic("s1", "d1"))
    with pytest.raises(AttributeError):
        parsed.site = "s2"  # type: ignore[misc,union-attr]


@pytest.mark.parametrize(
    ("topic", "named"),
    [
        ("", "empty"),
        ("xx/v1/s1/d1/up/record", "'cg/'"),
        ("CG/v1/s1/d1/up/record", "'cg/'"),
        ("coalgate/v1/s1/d1/up/record", "'cg/'"),
        ("cg/v2/s1/d1/up/record", "'v2'"),
        ("cg/V1/s1/d1/up/record", "'V1'"),
        ("cg", "1 segment;"),
        ("cg/v1", "2 segments"),
        ("cg/v1/s1/d1/up", "5 segments"),
        ("cg/v1/s1/d1/up/record/extra", "7 segments"),
        ("cg/v1/central/sth/x", "5 segments"),
        ("cg/v1/central/tree", "4 segments"),
        ("cg/v1/s1/d1/down/record", "'down/record'"),
        ("cg/v1/s1/d1/down/status", "'down/status'"),
        ("cg/v1/s1/d1/up/ack", "'up/ack'"),
        ("cg/v1/s1/d1/up/bundle", "'up/bundle'"),
        ("cg/v1/s1/d1/up/records", "'up/records'"),
        ("cg/v1/s1/d1/sideways/record", "'sideways/record'"),
        ("cg/v1/Site1/d1/up/record", "site 'Site1'"),
        ("cg/v1/s1/-d1/up/record", "device '-d1'"),
        ("cg/v1/s1/d_1/up/record", "device 'd_1'"),
        ("cg/v1/s1/" + "d" * 64 + "/up/record", "device"),
        ("cg/v1/s1/central-20250101/up/record", "reserved prefix 'central-'"),
        ("cg/v1//d1/up/record", "empty segment"),
        ("cg/v1/s1/d1/up/record/", "empty segment"),
        ("/cg/v1/s1/d1/up/record", "empty segment"),
        ("cg/v1/+/+/up/record", "wildcard"),
        ("cg/v1/s1/d1/down/#", "wildcard"),
        ("#", "wildcard"),
        ("cg/v1/s1/d1/up/rec+ord", "wildcard"),
        ("$share/central/cg/v1/+/+/up/record", "shared subscription"),
        ("$share/central/cg/v1/s1/d1/up/record", "shared subscription"),
        ("$SYS/broker/uptime", "'$'"),
    ],
)
def test_topics_outside_the_layout_are_rejected(topic: str, named: str) -> None:
    with pytest.raises(TopicError) as caught:
        parse_topic(topic)
    error = caught.value
    assert error.topic == topic
    assert error.reason == "topic_mismatch"
    assert named in error.message
    assert isinstance(error, RemoteError)


@pytest.mark.parametrize(("build", "direction", "kind"), BUILDERS)
@pytest.mark.parametrize(
    ("site", "device"),
    [("Mine", "d1"), ("s1", "D1"), ("", "d1"), ("s1", ""), ("s/1", "d1"), ("s1", "central-x")],
)
def test_builders_refuse_invalid_ids(
    build: Builder, direction: str, kind: str, site: str, device: str
) -> None:
    with pytest.raises(TopicError) as caught:
        build(site, device)
    assert caught.value.topic == f"cg/v1/{site}/{device}/{direction}/{kind}"


def test_constructing_an_impossible_pair_is_refused() -> None:
    with pytest.raises(TopicError, match="'down/record'"):
        DeviceTopic(site="s1", device="d1", direction="down", kind="record")


# --- properties -----------------------------------------------------------------------------

ids = st.from_regex(ID_PATTERN, fullmatch=True)
device_ids = ids.filter(lambda text: not text.startswith("central-"))


@given(site=ids, device=device_ids, builder=st.sampled_from(BUILDERS))
def test_build_then_parse_round_trips(
    site: str, device: str, builder: tuple[Builder, Direction, Kind]
) -> None:
    build, direction, kind = builder
    topic = build(site, device)
    parsed = parse_topic(topic)
    assert parsed == DeviceTopic(site=site, device=device, direction=direction, kind=kind)
    assert parsed.topic == topic


@given(st.text())
@example("cg/v1/central/sth")
@example("cg/v1/\x00/d1/up/record")
@example("cg/v1/s1/d1/up/record\n")
def test_any_text_parses_or_raises_topic_error(topic: str) -> None:
    result = outcome(topic)
    if isinstance(result, TopicError):
        assert result.topic == topic
        assert result.message
    else:
        assert result.topic == topic


segments = st.one_of(
    st.sampled_from(["cg", "v1", "v2", "central", "sth", "up", "down", "record", "status"]),
    st.sampled_from(["ack", "bundle", "+", "#", "", "$share", "central-x", "S1"]),
    ids,
    st.text(max_size=5),
)


@given(st.lists(segments, max_size=8).map("/".join))
def test_topic_shaped_text_parses_or_raises_topic_error(topic: str) -> None:
    # Random text rarely gets past the prefix; joined segments reach every later check.
    result = outcome(topic)
    if isinstance(result, TopicError):
        assert result.topic == topic
    else:
        assert result.topic == topic
        assert parse_topic(result.topic) == result
