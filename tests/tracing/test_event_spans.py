"""Publishing through the mesh is a PRODUCER span; handling the event a CONSUMER span."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from meshctl.core.context import CorrelationContext, current_context
from meshctl.events import Event
from meshctl.events.memory import MemoryEventBus
from meshctl.mesh import ServiceMeshClient
from meshctl.registry import ServiceRegistry
from tests.tracing.conftest import by_name, hex_id

pytestmark = pytest.mark.redis


async def test_an_event_is_a_producer_span_and_its_handling_a_consumer_span(
    redis_client, key_prefix: str, spans: InMemorySpanExporter
):
    bus = MemoryEventBus()
    seen: list[tuple[Event, CorrelationContext | None]] = []
    handled = asyncio.Event()

    async def handler(event: Event) -> None:
        seen.append((event, current_context()))
        handled.set()

    registry = ServiceRegistry(redis_client, key_prefix)
    async with ServiceMeshClient(registry, name="publisher", event_bus=bus, control=False) as mesh:
        sub = await bus.subscribe("frame.processed", handler, group_id="g")
        caller = CorrelationContext.new("corr-ev")
        event = await mesh.publish_event("frame.processed", {"n": 1}, caller)
        await handled.wait()
        await sub.stop()

    finished = spans.get_finished_spans()
    [producer] = by_name(finished, "frame.processed publish")
    [consumer] = by_name(finished, "frame.processed process")
    assert (producer.kind, consumer.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert producer.parent is not None and hex_id(producer.parent.span_id) == caller.span_id
    # The event carries the producer span's id; the consumer continues from it.
    carried = event.context()
    assert carried.trace_id == caller.trace_id
    assert carried.span_id == hex_id(producer.context.span_id)
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert producer.attributes is not None and consumer.attributes is not None
    assert producer.attributes["messaging.message.id"] == event.event_id
    assert producer.attributes["mesh.service"] == "publisher"
    assert consumer.attributes["mesh.correlation_id"] == "corr-ev"
    # The handler ran inside the consumer span: its own calls are the span's children.
    [(_, handler_ctx)] = seen
    assert handler_ctx is not None and handler_ctx.span_id == hex_id(consumer.context.span_id)


async def test_a_failing_handler_fails_each_attempts_consumer_span(
    spans: InMemorySpanExporter,
):
    bus = MemoryEventBus()
    attempts = 0
    done = asyncio.Event()

    async def handler(event: Event) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            done.set()
        raise RuntimeError("boom")

    sub = await bus.subscribe("alert.sent", handler, group_id="g", max_attempts=2)
    await bus.publish("alert.sent", {}, CorrelationContext.new())
    await done.wait()
    await sub.stop()

    consumers = by_name(spans.get_finished_spans(), "alert.sent process")
    assert [s.attributes["mesh.delivery_attempt"] for s in consumers if s.attributes] == [1, 2]
    assert all(s.status.status_code is StatusCode.ERROR for s in consumers)
    assert consumers[0].attributes is not None
    assert consumers[0].attributes["error.type"] == "RuntimeError"
