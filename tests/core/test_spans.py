"""The span record's JSON form and the waterfall's tree, order, offsets and bars."""

from __future__ import annotations

import pytest

from meshctl.core.spans import SpanRecord, published, waterfall

MS = 1_000_000


def span(span_id: str, parent: str | None, start_ms: float, ms: float, **extra) -> SpanRecord:
    return SpanRecord(
        trace_id="a" * 32,
        span_id=span_id,
        parent_id=parent,
        name=extra.pop("name", span_id),
        kind=extra.pop("kind", "server"),
        service=extra.pop("service", "svc"),
        start_ns=int(1_700_000_000_000 * MS + start_ms * MS),
        duration_ns=int(ms * MS),
        **extra,
    )


def test_a_record_round_trips_through_json():
    record = span(
        "1" * 16,
        "2" * 16,
        0,
        5,
        status="error",
        error="UNAVAILABLE",
        correlation_id="c",
        attributes={"rpc.method": "Get", "mesh.attempts": 2},
        events=[{"name": "attempt", "offset_ns": 10, "retry": False}],
    )
    assert SpanRecord.from_json(record.to_json()) == record
    bare = span("1" * 16, None, 0, 5)
    assert set(bare.to_json()) == {
        "trace_id", "span_id", "parent_id", "name", "kind", "service", "start_ns",
        "duration_ns", "status",
    }  # fmt: skip
    assert SpanRecord.from_json(bare.to_json()) == bare


@pytest.mark.parametrize(
    "data",
    [{}, {"trace_id": "t"}, {**span("1", None, 0, 1).to_json(), "duration_ns": -1}, []],
)
def test_what_is_not_a_record_is_a_value_error(data):
    with pytest.raises(ValueError, match="not a span record"):
        SpanRecord.from_json(data)


def test_the_waterfall_is_the_tree_depth_first_with_siblings_by_start():
    records = [
        span("c2", "s1", 6, 2),
        span("root", None, 0, 10),
        span("s1", "root", 1, 8),
        span("c1", "s1", 2, 3),
        span("c1a", "c1", 3, 1),
    ]
    fall = waterfall(records)
    assert [(r.record.span_id, r.depth) for r in fall.rows] == [
        ("root", 0), ("s1", 1), ("c1", 2), ("c1a", 3), ("c2", 2),
    ]  # fmt: skip
    assert [r.offset_ms for r in fall.rows] == [0, 1, 2, 3, 6]
    assert fall.rows[1].duration_ms == 8 and fall.total_ms == 10


def test_spans_without_their_parent_and_in_a_loop_still_show_once_each():
    records = [
        span("orphan", "gone", 5, 1),
        span("root", None, 0, 2),
        span("x", "y", 7, 1),
        span("y", "x", 8, 1),
        span("root", None, 0, 2),  # delivered twice
    ]
    rows = [(r.record.span_id, r.depth) for r in waterfall(records).rows]
    assert rows == [("root", 0), ("orphan", 0), ("x", 0), ("y", 1)]
    assert waterfall([]).rows == [] and waterfall([]).total_ms == 0


def test_bars_are_placed_by_start_and_sized_by_duration():
    fall = waterfall([span("root", None, 0, 100), span("a", "root", 50, 25), span("b", "a", 99, 0)])
    root, a, b = fall.rows
    assert fall.bar(root, 20) == (0, 20)
    assert fall.bar(a, 20) == (10, 5)
    assert fall.bar(b, 20) == (19, 1)  # at least one column, never past the end
    assert fall.bar(a, 0) == (0, 0)
    instant = waterfall([span("only", None, 0, 0)])
    assert instant.bar(instant.rows[0], 20) == (0, 1)


def test_published_are_the_producer_spans_in_order():
    later = span("p2", None, 5, 1, kind="producer")
    sooner = span("p1", None, 1, 1, kind="producer")
    assert published([later, span("s", None, 0, 1), sooner]) == [sooner, later]


def test_the_endpoint_is_the_instance_else_the_address():
    assert span("a", None, 0, 1, attributes={"server.address": "h:1"}).endpoint == "h:1"
    both = {"server.address": "h:1", "mesh.endpoint.instance_id": "i-1"}
    assert span("a", None, 0, 1, attributes=both).endpoint == "i-1"
    assert span("a", None, 0, 1).endpoint == ""
