"""OpenTelemetry tracing of one process: its provider, its tracer, and spans on mesh ids.

A process has one ``PROCESS_TRACING``. Each service host and each command
that wants spans calls ``start()`` with the processors that should receive
them (the mesh's span store, a test's in-memory exporter) and releases it when
done. The first start makes the ``TracerProvider`` from the standard
variables: ``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME`` (default: the name
given to the first start), ``OTEL_TRACES_SAMPLER`` and ``_ARG``, and, when
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is
set and the ``otlp`` extra installed, a ``BatchSpanProcessor`` exporting over
OTLP/HTTP. The last release shuts the provider down (flushing the export).

``PROCESS_TRACING.tracer`` is None while nothing would receive a span: then
the mesh makes no span objects at all, and tracing costs one attribute read
per call.

Spans are started on the mesh's own correlation context (``start_span``):
the span's parent is the context's span, and the context handed on (in
``traceparent``) carries the new span's ids, so a service's server span is
the child of its caller's client span and every id in a header is the id of
a span.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode, TraceFlags, TraceState

from meshctl.core.context import SAMPLED, CorrelationContext

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Span, Tracer

    from meshctl.core.spans import SpanRecord

SERVICE = "mesh.service"
"""The mesh service a span belongs to (one process may host several)."""
CORRELATION = "mesh.correlation_id"
INSTANCE = "mesh.endpoint.instance_id"
ATTEMPTS = "mesh.attempts"
BREAKER = "mesh.breaker.state"

SCOPE = "meshctl"


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """What the standard variables ask of this process."""

    disabled: bool
    service_name: str | None
    otlp: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TracingConfig:
        return cls(
            disabled=env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true",
            service_name=env.get("OTEL_SERVICE_NAME") or None,
            otlp=bool(
                env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            ),
        )


class ProcessTracing:
    """The process's provider and tracer; see the module docstring."""

    def __init__(self) -> None:
        self.tracer: Tracer | None = None
        self._provider: TracerProvider | None = None
        self._processors: list[SpanProcessor] = []
        self._exporting = False
        self._leases = 0

    def start(
        self,
        service_name: str,
        processor: SpanProcessor | None = None,
    ) -> Callable[[], None]:
        """Trace this process's work; ``processor`` gets its spans until the returned
        function is called. Spans are also exported over OTLP when the variables say so."""
        config = TracingConfig.from_env(os.environ)
        if config.disabled:
            return lambda: None
        if self._provider is None and (processor is not None or config.otlp):
            self._provider = self._make_provider(config.service_name or service_name, config)
        self._leases += 1
        if processor is not None:
            self._processors.append(processor)
        self._refresh()
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            if processor is not None:
                self._processors.remove(processor)
            self._leases -= 1
            if self._leases == 0 and self._provider is not None:
                provider, self._provider, self._exporting = self._provider, None, False
                provider.shutdown()
            self._refresh()

        return release

    def _refresh(self) -> None:
        receiving = self._exporting or bool(self._processors)
        if self._provider is None or not receiving:
            self.tracer = None
        elif self.tracer is None:
            self.tracer = self._provider.get_tracer(SCOPE)

    def _make_provider(self, service_name: str, config: TracingConfig) -> TracerProvider:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider

        from meshctl.transport.spanexport import Fanout, otlp_processor

        attributes = {} if config.service_name else {SERVICE_NAME: service_name}
        provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
        provider.add_span_processor(Fanout(self._processors))
        if config.otlp:
            exporter = otlp_processor()
            if exporter is not None:
                provider.add_span_processor(exporter)
                self._exporting = True
        return provider

    def force_flush(self) -> None:
        """Hand every finished span to the processors and exporter now."""
        if self._provider is not None:
            self._provider.force_flush()


PROCESS_TRACING = ProcessTracing()


class SpanSink(Protocol):
    """Where span records are kept (the mesh's span store): started, fed, closed."""

    def add(self, record: SpanRecord) -> None: ...
    async def start(self) -> object: ...
    async def aclose(self) -> None: ...


@asynccontextmanager
async def traced(name: str, sink: SpanSink | None = None) -> AsyncIterator[None]:
    """The process traces as ``name`` while the body runs; ``sink`` keeps its spans.

    Without a sink spans are only exported (when the variables ask for it).
    The sink is closed after the provider's last span has reached it.
    """
    if sink is None:
        release = PROCESS_TRACING.start(name)
    else:
        from meshctl.transport.spanexport import RecordProcessor

        await sink.start()
        release = PROCESS_TRACING.start(name, RecordProcessor(sink.add))
    try:
        yield
    finally:
        await asyncio.to_thread(release)  # the last one flushes the OTLP export: blocking
        if sink is not None:
            await sink.aclose()


def _span_context(ctx: CorrelationContext) -> trace.SpanContext:
    state = TraceState.from_header([ctx.tracestate]) if ctx.tracestate else None
    return trace.SpanContext(
        int(ctx.trace_id, 16),
        int(ctx.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(ctx.trace_flags),
        trace_state=state,
    )


def start_span(
    tracer: Tracer,
    name: str,
    kind: SpanKind,
    parent: CorrelationContext | None,
    attributes: dict[str, str | int | bool],
    *,
    continues: bool = True,
) -> tuple[Span, CorrelationContext]:
    """A span whose parent is ``parent``'s span, and the context to hand on from it.

    Without a parent (or with ``continues`` false: its trace ids are not the
    caller's) the span starts a new trace; the parent's correlation id, user
    and session are kept.
    """
    otel_parent = (
        trace.set_span_in_context(trace.NonRecordingSpan(_span_context(parent)))
        if parent is not None and continues
        else Context()
    )
    correlation_id = parent.correlation_id if parent is not None else str(uuid.uuid4())
    attributes[CORRELATION] = correlation_id
    span = tracer.start_span(name, otel_parent, kind, attributes)
    ids = span.get_span_context()
    trace_id, span_id = format(ids.trace_id, "032x"), format(ids.span_id, "016x")
    flags = int(ids.trace_flags) & SAMPLED
    if parent is None:
        return span, CorrelationContext(correlation_id, trace_id, span_id, trace_flags=flags)
    if not continues:  # a new trace: the caller's tracestate belonged to the old one
        ctx = replace(parent, trace_id=trace_id, span_id=span_id, trace_flags=flags,
                      parent_span_id=None, tracestate=None)  # fmt: skip
        return span, ctx
    return span, parent.child(span_id, flags)


def end_span(span: Span, error: BaseException | str | None = None) -> None:
    """End ``span``, failed when ``error`` is given: an exception (a cancellation is no
    failure) or the failure's kind, such as a status the handler set without raising."""
    if isinstance(error, str):
        span.set_attribute("error.type", error)
        span.set_status(Status(StatusCode.ERROR, error))
    elif error is not None and not isinstance(error, asyncio.CancelledError):
        kind = str(getattr(error, "status", None) or type(error).__name__)
        span.set_attribute("error.type", kind)
        span.set_status(Status(StatusCode.ERROR, str(error) or kind))
    span.end()
