"""The process's tracing: the standard variables, who receives spans, spans on mesh ids."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from meshctl.core.context import CorrelationContext
from meshctl.services.base import ServiceSettings
from meshctl.transport.tracing import PROCESS_TRACING, TracingConfig, start_span


def test_the_config_follows_the_standard_variables():
    assert TracingConfig.from_env({}) == TracingConfig(False, None, False)
    env = {"OTEL_SDK_DISABLED": " TRUE ", "OTEL_SERVICE_NAME": "svc"}
    assert TracingConfig.from_env(env) == TracingConfig(True, "svc", False)
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        assert TracingConfig.from_env({name: "http://collector:4318"}).otlp
    assert not TracingConfig.from_env({"OTEL_SDK_DISABLED": "false"}).disabled


def test_there_is_a_tracer_only_while_something_receives_spans():
    assert PROCESS_TRACING.tracer is None
    idle = PROCESS_TRACING.start("idle")  # no processor, no OTLP: nothing is made
    assert PROCESS_TRACING.tracer is None
    release = PROCESS_TRACING.start("svc", SimpleSpanProcessor(InMemorySpanExporter()))
    assert PROCESS_TRACING.tracer is not None
    release()
    release()  # a second release is harmless
    assert PROCESS_TRACING.tracer is None
    idle()


def test_a_span_hands_on_its_own_ids_in_the_context():
    exporter = InMemorySpanExporter()
    release = PROCESS_TRACING.start("svc", SimpleSpanProcessor(exporter))
    try:
        assert PROCESS_TRACING.tracer is not None
        parent = CorrelationContext.new("corr", user_id="u1")
        span, ctx = start_span(PROCESS_TRACING.tracer, "op", SpanKind.CLIENT, parent, {})
        span.end()
        restarted, fresh = start_span(
            PROCESS_TRACING.tracer, "op", SpanKind.SERVER, parent, {}, continues=False
        )
        restarted.end()
    finally:
        release()
    [first, second] = exporter.get_finished_spans()
    assert ctx.trace_id == parent.trace_id and ctx.parent_span_id == parent.span_id
    assert ctx.span_id == format(first.context.span_id, "016x")
    assert (ctx.correlation_id, ctx.user_id, ctx.trace_flags) == ("corr", "u1", 1)
    # A caller without a traceparent: a new trace, the correlation id kept.
    assert fresh.trace_id != parent.trace_id and fresh.parent_span_id is None
    assert fresh.correlation_id == "corr" and second.parent is None


def test_a_span_sampled_out_still_gets_ids_of_its_own(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = InMemorySpanExporter()
    release = PROCESS_TRACING.start("svc", SimpleSpanProcessor(exporter))
    try:
        assert PROCESS_TRACING.tracer is not None
        parent = CorrelationContext.new()
        span, ctx = start_span(PROCESS_TRACING.tracer, "op", SpanKind.CLIENT, parent, {})
        span.end()
    finally:
        release()
    assert not span.is_recording() and exporter.get_finished_spans() == ()
    assert ctx.span_id != parent.span_id and ctx.trace_flags == 0  # traceparent says: not sampled


def test_services_keep_spans_unless_told_not_to(monkeypatch: pytest.MonkeyPatch):
    assert (
        ServiceSettings.model_validate({}).trace_store
        and ServiceSettings.model_validate({}).trace_ttl_seconds == 900
    )
    monkeypatch.setenv("MESH_TRACE_STORE", "0")
    monkeypatch.setenv("MESH_TRACE_TTL_SECONDS", "60")
    settings = ServiceSettings.model_validate({})
    assert not settings.trace_store and settings.trace_ttl_seconds == 60
