"""Envelope, filters and partitioner: pure logic, no broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from meshctl.core.context import CorrelationContext, use_context
from meshctl.errors import InvalidRequestError
from meshctl.events.bus import EventFilter, TopicNaming, check_start
from meshctl.events.envelope import (
    EVENT_TYPES,
    RAW_EVENT_TYPE,
    build_event,
    decode_event,
    encode_headers,
    encode_value,
    validate_event_type,
)
from meshctl.events.partitioner import murmur2, partition_for

# Kafka's own UtilsTest.testMurmur2 vectors (Java client).
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), JAVA_VECTORS.items())
def test_murmur2_matches_the_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


@given(st.binary(max_size=64), st.integers(1, 64))
def test_partition_matches_aiokafka_default_partitioner(key: bytes, partitions: int) -> None:
    expected = (aiokafka_murmur2(key) & 0x7FFFFFFF) % partitions
    assert partition_for(key, partitions) == expected


@pytest.mark.parametrize("name", [*EVENT_TYPES, "camera.offline", "a.b.c"])
def test_valid_event_types(name: str) -> None:
    assert validate_event_type(name) == name


@pytest.mark.parametrize("name", ["", "Alert.Sent", "alert", "alert.", ".sent", "alert sent", 3])
def test_invalid_event_types_are_rejected_clearly(name: object) -> None:
    with pytest.raises(InvalidRequestError, match="invalid event type"):
        validate_event_type(name)  # type: ignore[arg-type]


def test_envelope_follows_the_contract() -> None:
    ctx = CorrelationContext.new("req-1", user_id="u7")
    event = build_event("violation.detected", {"camera_id": "c1"}, ctx, "analytics")
    body = json.loads(encode_value(event))
    assert set(body) == {
        "event_id",
        "event_type",
        "source",
        "occurred_at",
        "correlation_id",
        "trace_id",
        "data",
    }
    assert body["correlation_id"] == "req-1"
    assert body["trace_id"] == ctx.trace_id
    assert body["data"] == {"camera_id": "c1"}
    headers = dict(encode_headers(event))
    assert headers["correlation_id"] == b"req-1"
    assert headers["event_type"] == b"violation.detected"
    assert headers["traceparent"].decode().split("-")[1] == ctx.trace_id
    assert headers["x-user-id"] == b"u7"


def test_publish_uses_the_current_context_and_its_span() -> None:
    ctx = CorrelationContext.new("outer")
    with use_context(ctx):
        event = build_event("frame.processed", {}, None, "s")
    restored = event.context()
    assert restored.correlation_id == "outer"
    assert restored.trace_id == ctx.trace_id
    assert restored.span_id == ctx.span_id  # a span that exists: the publisher's


def test_bad_data_is_an_invalid_request() -> None:
    ctx = CorrelationContext.new()
    with pytest.raises(InvalidRequestError, match="JSON"):
        encode_value(build_event("frame.processed", {"when": object()}, ctx, "s"))
    with pytest.raises(InvalidRequestError, match="mapping"):
        build_event("frame.processed", [1, 2], ctx, "s")  # type: ignore[arg-type]


def test_decode_round_trips() -> None:
    event = build_event("alert.sent", {"n": 1}, CorrelationContext.new("c"), "alert")
    decoded = decode_event(encode_value(event), event.headers, topic="t", offset=4)
    assert decoded.to_json() == event.to_json()
    assert (decoded.topic, decoded.offset, decoded.malformed) == ("t", 4, False)


@pytest.mark.parametrize("value", [b"\xff\xfe", b"not json", b"[1,2]", b'{"event_id": "x"}', None])
def test_garbage_decodes_to_a_marked_raw_event(value: bytes | None) -> None:
    event = decode_event(value, {"correlation_id": "c"}, timestamp_ms=1000)
    assert event.malformed and event.error
    assert event.event_type == RAW_EVENT_TYPE
    assert event.raw == value
    assert event.correlation_id == "c"
    assert event.occurred_at == datetime.fromtimestamp(1, UTC)


def test_filter_by_pattern_types_and_correlation() -> None:
    alerts = EventFilter.of("alert.*", "c1")
    assert alerts.wants("c1", "alert.sent")
    assert not alerts.wants("c2", "alert.sent")
    assert not alerts.wants("c1", "frame.processed")
    exact = EventFilter.of(["frame.processed"])
    assert exact.wants(None, "frame.processed") and not exact.wants(None, "alert.sent")
    assert EventFilter.of("alert.sent").types == frozenset({"alert.sent"})
    with pytest.raises(InvalidRequestError):
        EventFilter.of([])


def test_topic_naming() -> None:
    naming = TopicNaming("its")
    assert naming.topic_for("violation.detected") == "its.violation.detected"
    assert naming.dlq == "its.dlq"
    assert naming.event_type_of("its.alert.sent") == "alert.sent"
    assert naming.event_type_of("its.dlq") is None
    topics = naming.topics_for(EventFilter.of("alert.*"), existing=["its.alert.paged", "x.y"])
    assert "its.alert.paged" in topics and "its.frame.processed" not in topics
    assert TopicNaming("its", "events").topics_for(EventFilter.of(None)) == ["events"]


@pytest.mark.parametrize("start", ["middle", 0, 5, True, 1.5])
def test_bad_tail_start_is_rejected(start: object) -> None:
    with pytest.raises(InvalidRequestError, match="invalid tail start"):
        check_start(start)  # type: ignore[arg-type]


@given(
    key=st.binary(min_size=1, max_size=64),
    count=st.integers(min_value=1, max_value=64),
)
def test_the_cached_partitioner_agrees_with_aiokafkas(key: bytes, count: int) -> None:
    from aiokafka.partitioner import DefaultPartitioner

    from meshctl.events.partitioner import cached_partitioner

    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert cached_partitioner(key, partitions, partitions) == expected
    assert cached_partitioner(key, partitions, partitions) == expected  # from the cache
    assert cached_partitioner(None, partitions, [count - 1]) == count - 1
