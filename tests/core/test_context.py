import uuid
from typing import Any

import pytest

from meshctl.core.context import (
    CorrelationContext,
    current_context,
    ensure_context,
    parse_traceparent,
    use_context,
)


def test_new_context_has_w3c_ids():
    ctx = CorrelationContext.new()
    assert len(ctx.trace_id) == 32 and len(ctx.span_id) == 16
    assert ctx.traceparent == f"00-{ctx.trace_id}-{ctx.span_id}-01"
    uuid.UUID(ctx.correlation_id)


def test_uuid_values_from_the_spec_are_accepted():
    trace, span = uuid.uuid4(), uuid.uuid4()
    ctx = CorrelationContext(
        correlation_id=str(uuid.uuid4()), trace_id=str(trace), span_id=str(span)
    )
    assert ctx.trace_id == trace.hex
    assert ctx.span_id == span.hex[:16]


@pytest.mark.parametrize("bad", ["", "xyz", "0" * 32, "12-34"])
def test_invalid_ids_are_refused(bad):
    with pytest.raises(ValueError):
        CorrelationContext(correlation_id="c", trace_id=bad, span_id="1" * 16)


def test_child_keeps_trace_and_records_parent():
    parent = CorrelationContext.new(user_id="u1", session_id="s1")
    child = parent.child()
    assert child.trace_id == parent.trace_id
    assert child.correlation_id == parent.correlation_id
    assert child.span_id != parent.span_id
    assert child.parent_span_id == parent.span_id
    assert (child.user_id, child.session_id) == ("u1", "s1")


def test_headers_round_trip():
    ctx = CorrelationContext.new(user_id="alice", session_id="s-9")
    ctx = CorrelationContext(**{**_fields(ctx), "tracestate": "vendor=1"})
    back = CorrelationContext.from_headers(ctx.to_headers())
    assert _fields(back) == _fields(ctx) | {"parent_span_id": None}


def test_headers_are_case_insensitive_and_accept_bytes():
    ctx = CorrelationContext.new()
    headers = {k.upper(): v.encode() for k, v in ctx.to_headers().items()}
    back = CorrelationContext.from_headers(headers)
    assert (back.trace_id, back.span_id) == (ctx.trace_id, ctx.span_id)


@pytest.mark.parametrize(
    "traceparent",
    [
        "01-" + "a" * 32 + "-" + "b" * 16,  # too few parts
        "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",  # forbidden version
        "00-" + "0" * 32 + "-" + "b" * 16 + "-01",  # zero trace id
        "00-" + "a" * 32 + "-" + "0" * 16 + "-01",  # zero span id
        "00-" + "A" * 32 + "-" + "b" * 16 + "-01",  # upper case
        "00-" + "a" * 31 + "-" + "b" * 16 + "-01",  # bad length
        "00-" + "a" * 32 + "-" + "b" * 16 + "-01-extra",  # v00 has no extra fields
    ],
)
def test_invalid_traceparent_starts_a_fresh_trace(traceparent):
    assert parse_traceparent(traceparent) is None
    ctx = CorrelationContext.from_headers({"traceparent": traceparent, "x-correlation-id": "c-1"})
    assert ctx.correlation_id == "c-1"
    assert ctx.trace_id != "a" * 32


def test_future_version_with_extra_fields_is_accepted():
    assert parse_traceparent("01-" + "a" * 32 + "-" + "b" * 16 + "-00-more") == (
        "a" * 32,
        "b" * 16,
        0,
    )


def test_missing_headers_make_a_fresh_context():
    ctx = CorrelationContext.from_headers({})
    uuid.UUID(ctx.correlation_id)


def test_contextvar_scoping():
    assert current_context() is None
    outer = CorrelationContext.new()
    with use_context(outer):
        assert current_context() is outer
        assert ensure_context() is outer
        inner = outer.child()
        with use_context(inner):
            assert current_context() is inner
        assert current_context() is outer
    assert current_context() is None
    assert ensure_context() is not None


def _fields(ctx: CorrelationContext) -> dict[str, Any]:
    return {f: getattr(ctx, f) for f in ctx.__dataclass_fields__}
