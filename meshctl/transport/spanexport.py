"""Where finished spans go: the processors of the process's provider (needs the SDK).

``Fanout`` hands spans to the processors started through ``PROCESS_TRACING``;
``RecordProcessor`` turns each into the compact ``SpanRecord`` the span store
keeps; ``otlp_processor`` exports over OTLP/HTTP when the ``otlp`` extra is
installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from meshctl.core.spans import SpanRecord
from meshctl.transport.tracing import ATTEMPTS, BREAKER, CORRELATION, INSTANCE, SERVICE

logger = logging.getLogger(__name__)

KEPT_ATTRIBUTES = frozenset(
    {
        "rpc.system",
        "rpc.service",
        "rpc.method",
        "rpc.grpc.status_code",
        "server.address",
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "messaging.system",
        "messaging.destination.name",
        "messaging.message.id",
        "error.type",
        INSTANCE,
        ATTEMPTS,
        BREAKER,
        "mesh.retries",
    }
)
"""The attributes a record keeps of a span (besides its service and correlation id)."""


class Fanout(SpanProcessor):
    """The processors currently started (a list the owner changes), as one processor."""

    def __init__(self, processors: list[SpanProcessor]) -> None:
        self.processors = processors

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self.processors:
            processor.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self.processors)


class RecordProcessor(SpanProcessor):
    """Hands each finished span's record to ``sink`` (which must not block)."""

    def __init__(self, sink: Callable[[SpanRecord], None]) -> None:
        self.sink = sink

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self.sink(span_record(span))


def span_record(span: ReadableSpan) -> SpanRecord:
    """The compact record of a finished span."""
    # Made for every span kept: the SDK's attribute mapping is copied to a dict once,
    # as each read of it is a Python call.
    attrs = {**(span.attributes or {})}
    context = span.context
    start = span.start_time or 0
    end = span.end_time or start
    service = attrs.get(SERVICE) or span.resource.attributes.get("service.name") or ""
    failed = span.status.status_code is StatusCode.ERROR
    kept = {}
    for name in KEPT_ATTRIBUTES:
        value = attrs.get(name)
        if isinstance(value, str | int | float):  # bool is an int
            kept[name] = value
    events = [
        {"name": e.name, "offset_ns": e.timestamp - start, **_scalars(e.attributes)}
        for e in span.events
    ]
    correlation_id = attrs.get(CORRELATION)
    return SpanRecord(
        trace_id=format(context.trace_id, "032x") if context else "",
        span_id=format(context.span_id, "016x") if context else "",
        parent_id=format(span.parent.span_id, "016x") if span.parent else None,
        name=span.name,
        kind=span.kind.name.lower(),
        service=str(service),
        start_ns=start,
        duration_ns=max(0, end - start),
        status="error" if failed else "ok",
        error=(span.status.description or "error") if failed else None,
        correlation_id=str(correlation_id) if correlation_id is not None else None,
        attributes=kept,
        events=events,
    )


def _scalars(attributes: Mapping[str, object] | None) -> dict[str, str | int | float]:
    copied = {**(attributes or {})}
    return {k: v for k, v in copied.items() if isinstance(v, str | int | float)}


def otlp_processor() -> SpanProcessor | None:
    """A batch processor exporting over OTLP/HTTP, or None without the ``otlp`` extra."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        logger.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
            "pip install 'meshctl[otlp]'"
        )
        return None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(OTLPSpanExporter())
