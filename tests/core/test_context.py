import uuid
from typing import Any

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshctl.core.context import (
    SAMPLED,
    CorrelationContext,
    current_context,
    ensure_context,
    parse_traceparent,
    use_context,
)

TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


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
        "00-" + "a" * 32 + "-" + "b" * 16 + "-01.",
        "00-" + "a" * 32 + "-" + "b" * 16 + "-01\n",  # only spaces and tabs are OWS
        "00-" + "a" * 32 + "-" + "b" * 16 + "-1",  # flags too short
        "00-" + "a" * 32 + "-" + "b" * 16 + "-001",  # flags too long
        "0-" + "a" * 32 + "-" + "b" * 16 + "-01",  # version too short
        "000-" + "a" * 32 + "-" + "b" * 16 + "-01",  # version too long
        "cc-" + "a" * 32 + "-" + "b" * 16 + "-01.extra",  # a later version adds "-" and more
        "cc-" + "a" * 32 + "-" + "b" * 16,  # ... but keeps the four fields
        "00-" + "a" * 32 + "-" + "b" * 16 + "-01," + "00-" + "c" * 32 + "-" + "b" * 16 + "-01",
        "",
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
    assert parse_traceparent("cc-" + "a" * 32 + "-" + "b" * 16 + "-01") == ("a" * 32, "b" * 16, 1)


@pytest.mark.parametrize("ows", [" ", "\t", " \t "])
def test_traceparent_may_have_optional_whitespace_around_it(ows):
    assert parse_traceparent(f"{ows}{TRACEPARENT}{ows}") == ("a" * 32, "b" * 16, 1)


@pytest.mark.parametrize(("flags", "kept"), [("00", 0), ("01", 1), ("ff", 1), ("02", 0), ("09", 1)])
def test_only_the_sampled_flag_is_passed_on(flags, kept):
    parsed = parse_traceparent(TRACEPARENT[:-2] + flags)
    assert parsed is not None and parsed[2] == kept
    ctx = CorrelationContext.from_headers({"traceparent": TRACEPARENT[:-2] + flags})
    assert ctx.traceparent.endswith(f"-0{kept}") and ctx.sampled is bool(kept & SAMPLED)


def test_tracestate_is_validated_and_passed_on_to_children():
    ctx = CorrelationContext.from_headers(
        {"traceparent": TRACEPARENT, "tracestate": " rojo=00f067aa0ba902b7 ,, congo=t61rcWkgMzE"}
    )
    assert ctx.tracestate == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    assert ctx.child().child().to_headers()["tracestate"] == ctx.tracestate


@pytest.mark.parametrize("tracestate", ["FOO=1", "foo=1,foo=2", "foo=", "", " , "])
def test_invalid_or_empty_tracestate_is_dropped_and_the_trace_kept(tracestate):
    ctx = CorrelationContext.from_headers({"traceparent": TRACEPARENT, "tracestate": tracestate})
    assert (ctx.trace_id, ctx.tracestate) == ("a" * 32, None)
    assert "tracestate" not in ctx.child().to_headers()


@pytest.mark.parametrize("traceparent", [None, "00-" + "0" * 32 + "-" + "b" * 16 + "-01"])
def test_tracestate_without_a_valid_traceparent_is_dropped(traceparent):
    headers = {"tracestate": "foo=1"} | ({"traceparent": traceparent} if traceparent else {})
    ctx = CorrelationContext.from_headers(headers)
    assert ctx.tracestate is None and ctx.trace_id != "0" * 32


TWO_LINES = "foo=1,bar=2"


@pytest.mark.parametrize(
    "headers",
    [
        # ASGI: (name, value) byte pairs, one per line
        [
            (b"traceparent", TRACEPARENT.encode()),
            (b"tracestate", b"foo=1"),
            (b"tracestate", b"bar=2"),
        ],
        # gRPC metadata: (key, value) pairs, one per line
        grpc.aio.Metadata(
            ("traceparent", TRACEPARENT), ("tracestate", "foo=1"), ("tracestate", "bar=2")
        ),
        # ... whose items() give each key's values as a list
        dict(
            grpc.aio.Metadata(
                ("traceparent", TRACEPARENT), ("tracestate", "foo=1"), ("tracestate", "bar=2")
            ).items()
        ),
        # Kafka: (key, value) pairs, a value may be None
        [
            ("traceparent", TRACEPARENT.encode()),
            ("tracestate", None),
            ("tracestate", b"foo=1,bar=2"),
        ],
        # a mapping of lines (Kafka headers gathered by name)
        {"traceparent": TRACEPARENT, "tracestate": (b"foo=1", b" , bar=2")},
        # httpx and Starlette headers: repeated lines already joined
        {"TraceParent": TRACEPARENT, "TraceState": "foo=1, bar=2"},
    ],
)
def test_repeated_header_lines_make_one_value_whatever_the_transport(headers):
    ctx = CorrelationContext.from_headers(headers)
    assert (ctx.trace_id, ctx.tracestate) == ("a" * 32, TWO_LINES)


def test_two_traceparent_lines_restart_the_trace():
    other = "00-" + "c" * 32 + "-" + "b" * 16 + "-01"
    ctx = CorrelationContext.from_headers(
        [("traceparent", TRACEPARENT), ("traceparent", other), ("tracestate", "foo=1")]
    )
    assert ctx.trace_id not in ("a" * 32, "c" * 32) and ctx.tracestate is None


def test_the_constructor_refuses_an_invalid_tracestate_and_normalises_a_valid_one():
    ctx = CorrelationContext.new()
    with pytest.raises(ValueError, match="tracestate"):
        CorrelationContext(**{**_fields(ctx), "tracestate": "foo=1,foo=2"})
    valid = CorrelationContext(**{**_fields(ctx), "tracestate": "foo=1 , bar=2"})
    assert valid.tracestate == TWO_LINES


header_value = st.text() | st.binary() | st.lists(st.text() | st.binary(), max_size=3)
name = st.sampled_from(["traceparent", "TraceState", "tracestate", "x-correlation-id", "other"])


@given(
    st.lists(st.tuples(name | st.binary(), st.none() | st.text() | st.binary()), max_size=8)
    | st.dictionaries(name | st.text(), header_value, max_size=6)
    | st.dictionaries(name, st.just(TRACEPARENT) | st.text(alphabet="abz09@=,- \t", max_size=40))
)
def test_any_headers_give_a_valid_context(headers):
    ctx = CorrelationContext.from_headers(headers)
    assert parse_traceparent(ctx.traceparent) == (ctx.trace_id, ctx.span_id, ctx.trace_flags)
    if ctx.tracestate is not None:
        assert CorrelationContext(**_fields(ctx)).tracestate == ctx.tracestate
    assert CorrelationContext.from_headers(ctx.to_headers()).tracestate == ctx.tracestate


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
