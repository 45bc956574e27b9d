"""The CloudEvents wire format: what is written, and the three forms read back alike. No broker."""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as kafka_binding
from cloudevents.core.formats.json import JSONFormat
from hypothesis import given
from hypothesis import strategies as st

from meshctl.core.context import CorrelationContext
from meshctl.errors import InvalidRequestError
from meshctl.events.cloudevents import (
    ce_type,
    decode_record,
    encode_record,
    event_type_of,
    routing,
    source_of,
    source_uri,
)
from meshctl.events.envelope import (
    EVENT_TYPES,
    RAW_EVENT_TYPE,
    Event,
    build_event,
    encode_headers,
    encode_value,
)
from meshctl.events.ids import new_event_id

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
DATA = {"camera_id": "c3", "speed_kmh": 87.5}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def published(**context: Any) -> Event:
    ctx = CorrelationContext.from_headers(
        {"x-correlation-id": "req-1", "traceparent": TRACEPARENT, **context}
    )
    return build_event("violation.detected", DATA, ctx, "analytics")


def comparable(event: Event) -> tuple[Any, ...]:
    return (
        event.event_id,
        event.event_type,
        event.source,
        event.occurred_at,
        event.correlation_id,
        event.trace_id,
        event.data,
    )


def test_binary_mode_headers_and_value() -> None:
    event = published(tracestate="vendor=1", **{"x-user-id": "u7"})
    value, headers, timestamp_ms = encode_record(event)
    wire = dict(headers)
    assert len(wire) == len(headers)  # no name twice
    assert json.loads(value) == DATA
    assert wire["ce_specversion"] == b"1.0"
    assert wire["ce_id"] == event.event_id.encode()
    assert wire["ce_type"] == b"its.violation.detected"
    assert wire["ce_source"] == b"/meshctl/analytics"
    assert wire["content-type"] == b"application/json"
    assert datetime.fromisoformat(wire["ce_time"].decode()) == event.occurred_at
    assert wire["ce_time"].endswith(b"Z")
    assert timestamp_ms == int(event.occurred_at.timestamp() * 1000)
    assert wire["ce_correlationid"] == b"req-1"
    # The Distributed Tracing extension, and the W3C headers beside it: the span that
    # published the event (the producer span, when the publisher traces) is its parent.
    assert wire["ce_traceparent"] == wire["traceparent"]
    assert wire["traceparent"].decode().split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert wire["traceparent"].decode().split("-")[2] == "b7ad6b7169203331"
    assert wire["ce_tracestate"] == wire["tracestate"] == b"vendor=1"
    assert wire["x-user-id"] == b"u7"
    assert "correlation_id" not in wire and "event_type" not in wire


def test_the_sdk_accepts_what_meshctl_writes() -> None:
    event = published()
    value, headers, _ = encode_record(event)
    ce = kafka_binding.from_binary(
        kafka_binding.KafkaMessage(dict(headers), b"req-1", value), JSONFormat()
    )
    assert (ce.get_id(), ce.get_type(), ce.get_data()) == (
        event.event_id,
        "its.violation.detected",
        DATA,
    )


def test_data_that_is_not_plain_json_is_refused() -> None:
    for data in ({"when": object()}, {"speed": float("nan")}):
        event = build_event("frame.processed", data, CorrelationContext.new(), "s")
        with pytest.raises(InvalidRequestError, match="not JSON-serialisable"):
            encode_record(event)


@given(st.datetimes(timezones=st.just(UTC)), st.sampled_from([UTC, timezone(timedelta(hours=2))]))
def test_ce_time_and_the_record_timestamp_are_the_moment(moment: datetime, zone: tzinfo) -> None:
    event = replace(published(), occurred_at=moment.astimezone(zone))
    _, headers, timestamp_ms = encode_record(event)
    text = dict(headers)["ce_time"].decode()
    assert RFC3339.fullmatch(text), text
    assert datetime.fromisoformat(text) == moment
    assert timestamp_ms == (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@pytest.mark.parametrize("event_type", [*EVENT_TYPES, "camera.offline", "its.nested.type"])
def test_type_mapping_round_trips(event_type: str) -> None:
    assert ce_type(event_type) == f"its.{event_type}"
    assert event_type_of(ce_type(event_type)) == event_type


def test_a_foreign_type_is_kept_as_it_is() -> None:
    assert event_type_of("com.example.object.deleted.v2") == "com.example.object.deleted.v2"


@given(st.text(min_size=1, max_size=40))
def test_source_mapping_round_trips_any_name(name: str) -> None:
    uri = source_uri(name)
    assert uri.startswith("/meshctl/") and " " not in uri and uri.isascii()
    assert source_of(uri) == name


def test_binary_structured_and_old_envelope_decode_to_the_same_event() -> None:
    event = published()
    value, headers, _ = encode_record(event)
    binary = decode_record(value, headers, topic="t", partition=1, offset=4)

    structured_body = {
        "specversion": "1.0",
        "id": event.event_id,
        "type": "its.violation.detected",
        "source": "/meshctl/analytics",
        "time": event.occurred_at.isoformat(),
        "datacontenttype": "application/json",
        "correlationid": "req-1",
        "traceparent": dict(headers)["traceparent"].decode(),
        "data": DATA,
    }
    structured = decode_record(
        json.dumps(structured_body).encode(),
        [("content-type", b"application/cloudevents+json; charset=utf-8")],
    )
    old = decode_record(encode_value(event), encode_headers(event))

    assert not binary.malformed and not structured.malformed and not old.malformed
    assert comparable(binary) == comparable(structured) == comparable(old)
    assert binary.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert (binary.topic, binary.partition, binary.offset) == ("t", 1, 4)
    assert binary.context().trace_id == event.trace_id
    assert binary.context().correlation_id == "req-1"


def test_structured_mode_with_base64_data() -> None:
    body = {
        "specversion": "1.0",
        "id": "x-1",
        "type": "com.example.thing.happened",
        "source": "https://example.com/things",
        "data_base64": base64.b64encode(json.dumps({"n": 1}).encode()).decode(),
    }
    event = decode_record(
        json.dumps(body).encode(),
        [("content-type", b"application/cloudevents+json")],
        timestamp_ms=1_700_000_000_000,
    )
    assert not event.malformed
    assert (event.event_type, event.source, event.data) == (
        "com.example.thing.happened",
        "https://example.com/things",
        {"n": 1},
    )
    assert event.occurred_at == datetime.fromtimestamp(1_700_000_000, UTC)  # no time: the record's


def binary_headers(**changes: bytes | None) -> list[tuple[str, bytes]]:
    base: dict[str, bytes | None] = {
        "ce_specversion": b"1.0",
        "ce_id": b"e-1",
        "ce_type": b"its.alert.sent",
        "ce_source": b"/meshctl/x",
        "ce_correlationid": b"c-9",
        "content-type": b"application/json",
    }
    base.update(changes)
    return [(k, v) for k, v in base.items() if v is not None]


GARBAGE: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = [
    ("value not JSON", b"\x00not json", binary_headers()),
    ("data not an object", b"[1, 2]", binary_headers()),
    ("not JSON content", b"hello", binary_headers(**{"content-type": b"text/plain"})),
    ("no id", b"{}", binary_headers(ce_id=None)),
    ("empty type", b"{}", binary_headers(ce_type=b"")),
    ("other specversion", b"{}", binary_headers(ce_specversion=b"0.3")),
    ("bad time", b"{}", binary_headers(ce_time=b"yesterday")),
    ("bad utf-8", b"\xff\xfe", binary_headers()),
    ("structured not an object", b'"a"', [("content-type", b"application/cloudevents+json")]),
    (
        "structured bad base64",
        b'{"specversion":"1.0","id":"i","type":"t","source":"s","data_base64":"@@"}',
        [("content-type", b"application/cloudevents+json")],
    ),
    ("old envelope half", b'{"half": "an envelope"}', []),
    ("no value", None, []),
]


@pytest.mark.parametrize(("why", "value", "headers"), GARBAGE, ids=[g[0] for g in GARBAGE])
def test_garbage_becomes_a_malformed_event(
    why: str, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    event = decode_record(value, headers, topic="t", offset=3, timestamp_ms=1000)
    assert event.malformed and event.error
    assert event.event_type == RAW_EVENT_TYPE
    assert (event.raw, event.offset) == (value, 3)
    if ("ce_correlationid", b"c-9") in headers:
        assert event.correlation_id == "c-9"  # still found by a tail of its correlation id


def test_routing_reads_cloudevents_then_old_headers() -> None:
    _, headers, _ = encode_record(published())
    assert routing(headers) == ("req-1", "violation.detected")
    assert routing([("correlation_id", b"old"), ("event_type", b"alert.sent")]) == (
        "old",
        "alert.sent",
    )
    assert routing([("content-type", b"application/cloudevents+json")]) == (None, None)
    assert routing(None) == (None, None)


def test_event_ids_are_unique_and_new_in_a_forked_child() -> None:
    ids = {new_event_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(i.isascii() and i for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, new_event_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child.split("-")[0] != new_event_id().split("-")[0]
