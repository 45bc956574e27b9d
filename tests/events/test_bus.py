"""Behaviour every EventBus has, run on the in-memory and the Kafka implementation."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from meshctl.core.context import CorrelationContext, current_context, use_context
from meshctl.errors import InvalidRequestError
from meshctl.events import Event

from .conftest import AnyBus, dead_letters

TYPES = ("frame.processed", "violation.detected", "alert.sent")
log = logging.getLogger(__name__)


async def collect(bus: AnyBus, correlation_id: str | None = None, **kwargs: object) -> list[Event]:
    """A non-following tail, gathered."""
    return [e async for e in bus.tail(correlation_id, follow=False, **kwargs)]  # type: ignore[arg-type]


async def publish_interleaved(bus: AnyBus, ids: list[str], rounds: int) -> None:
    for n in range(rounds):
        for cid in ids:
            event_type = TYPES[n % len(TYPES)]
            await bus.publish(event_type, {"n": n}, CorrelationContext.new(cid))


async def test_tail_by_correlation_id_finds_exactly_that_requests_events_in_order(
    bus: AnyBus,
) -> None:
    await publish_interleaved(bus, ["req-a", "req-b", "req-c"], rounds=6)
    started = time.perf_counter()
    events = await collect(bus, "req-b")
    log.info("tail by correlation id answered in %.3f s", time.perf_counter() - started)
    assert [e.data["n"] for e in events] == list(range(6))
    assert {e.correlation_id for e in events} == {"req-b"}
    assert [e.event_type for e in events] == [TYPES[n % 3] for n in range(6)]


async def test_publish_returns_the_envelope(bus: AnyBus) -> None:
    ctx = CorrelationContext.new("req-x")
    event = await bus.publish("alert.sent", {"channel": "sms"}, ctx, source="alert")
    assert (event.event_type, event.source, event.correlation_id) == (
        "alert.sent",
        "alert",
        "req-x",
    )
    assert event.trace_id == ctx.trace_id
    assert event.topic == f"{bus.naming.prefix}.alert.sent"
    [seen] = await collect(bus, "req-x")
    assert seen.event_id == event.event_id and seen.data == {"channel": "sms"}


async def test_invalid_input_is_rejected(bus: AnyBus) -> None:
    with pytest.raises(InvalidRequestError):
        await bus.publish("Not A Type", {})
    with pytest.raises(InvalidRequestError, match="JSON"):
        await bus.publish("frame.processed", {"when": object()})
    with pytest.raises(InvalidRequestError):
        await collect(bus, start="sideways")


async def test_tail_filters_by_type_and_pattern(bus: AnyBus) -> None:
    await publish_interleaved(bus, ["r"], rounds=6)
    assert len(await collect(bus, "r", event_types=["alert.sent"])) == 2
    assert len(await collect(bus, "r", event_types="violation.*")) == 2
    assert len(await collect(bus)) == 6


async def test_tail_start_modes(bus: AnyBus) -> None:
    await publish_interleaved(bus, ["r"], rounds=4)
    assert [e.data["n"] for e in await collect(bus, "r", start=-2)] == [2, 3]
    assert await collect(bus, "r", start="end") == []
    future = datetime.now(UTC) + timedelta(hours=1)
    assert await collect(bus, "r", start=future) == []
    past = datetime.now(UTC) - timedelta(hours=1)
    assert len(await collect(bus, "r", start=past)) == 4


async def test_follow_yields_events_published_later(bus: AnyBus) -> None:
    await bus.publish("frame.processed", {"n": 0}, CorrelationContext.new("f"))
    tail = bus.tail("f", start="end")
    first = asyncio.ensure_future(anext(tail))
    await asyncio.sleep(0.5)  # let the tail assign its partitions before publishing
    await bus.publish("frame.processed", {"n": 1}, CorrelationContext.new("f"))
    event = await asyncio.wait_for(first, 20)
    assert event.data == {"n": 1}
    await tail.aclose()  # type: ignore[attr-defined]


async def test_subscriber_sees_the_publishers_context(bus: AnyBus, topic_prefix: str) -> None:
    seen: asyncio.Queue[tuple[Event, CorrelationContext | None]] = asyncio.Queue()

    async def handler(event: Event) -> None:
        await seen.put((event, current_context()))

    ctx = CorrelationContext.new("sub-1")
    await bus.subscribe(["violation.detected"], handler, group_id=f"{topic_prefix}-g")
    with use_context(ctx):
        await bus.publish("violation.detected", {"camera_id": "c9"})
    await bus.publish("alert.sent", {}, ctx)  # not subscribed
    event, restored = await asyncio.wait_for(seen.get(), 30)
    assert event.data == {"camera_id": "c9"}
    assert restored is not None and restored.correlation_id == "sub-1"
    assert restored.trace_id == ctx.trace_id


async def test_failing_handler_is_retried_then_dead_lettered(
    bus: AnyBus, topic_prefix: str
) -> None:
    attempts: list[int] = []
    good: asyncio.Queue[Event] = asyncio.Queue()

    async def handler(event: Event) -> None:
        if event.data["poison"]:
            attempts.append(1)
            raise RuntimeError("cannot handle this one")
        await good.put(event)

    sub = await bus.subscribe("alert.*", handler, group_id=f"{topic_prefix}-g", max_attempts=3)
    # Same type, same key: one partition, so the good event is handled only after the
    # poison's retries and its dead-letter publish are over. (Events of two topics come
    # in no set order: the good one could arrive while the poison was still in flight.)
    await bus.publish("alert.failed", {"poison": True}, CorrelationContext.new("p"))
    await bus.publish("alert.failed", {"poison": False}, CorrelationContext.new("p"))
    ok = await asyncio.wait_for(good.get(), 30)
    assert ok.data == {"poison": False}  # the consumer lived on
    assert len(attempts) == 3
    assert (sub.stats.failed_attempts, sub.stats.dead_lettered) == (3, 1)
    [dead] = await dead_letters(bus, 1)
    assert dead.event_type == "alert.failed"
    assert dead.headers["error"] == "RuntimeError: cannot handle this one"
    assert dead.correlation_id == "p"


async def test_a_tail_on_a_topic_nobody_has_used_yet_sees_the_first_event(bus: AnyBus) -> None:
    tail = bus.tail("fresh", ["anomaly.detected"], start=datetime.now(UTC) - timedelta(seconds=1))
    first = asyncio.ensure_future(anext(tail))
    await asyncio.sleep(0)  # the tail and the publish race to create the topic
    await bus.publish("anomaly.detected", {"n": 1}, CorrelationContext.new("fresh"))
    event = await asyncio.wait_for(first, 20)
    assert event.data == {"n": 1}
    await tail.aclose()  # type: ignore[attr-defined]
