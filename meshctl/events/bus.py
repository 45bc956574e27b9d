"""The event bus contract shared by the Kafka and in-memory implementations.

Also the pure pieces both use: topic naming, event filters, tail start
positions and the handler retry policy.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from opentelemetry.trace import SpanKind

from meshctl.core.context import CorrelationContext, use_context
from meshctl.errors import InvalidRequestError
from meshctl.transport.tracing import PROCESS_TRACING, end_span, start_span

from .envelope import EVENT_TYPES, Event, validate_event_type

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]
Start = Literal["beginning", "end"] | int | datetime
EventSelector = Iterable[str] | str | None


@dataclass(frozen=True, slots=True)
class TopicNaming:
    """Where each event type lives: ``<prefix>.<event_type>`` unless ``single_topic`` is set."""

    prefix: str = "its"
    single_topic: str | None = None

    def topic_for(self, event_type: str) -> str:
        return self.single_topic or f"{self.prefix}.{event_type}"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    def event_type_of(self, topic: str) -> str | None:
        """The event type a per-type topic holds (None for the DLQ or foreign topics)."""
        if self.single_topic or topic == self.dlq or not topic.startswith(self.prefix + "."):
            return None
        return topic[len(self.prefix) + 1 :]

    def topics_for(self, selector: EventFilter, existing: Iterable[str] = ()) -> list[str]:
        """Topics that can hold events the filter wants (known types plus ``existing``)."""
        if self.single_topic:
            return [self.single_topic]
        if selector.types is not None:
            return sorted({self.topic_for(t) for t in selector.types})
        candidates = {self.topic_for(t) for t in EVENT_TYPES}
        candidates.update(t for t in existing if self.event_type_of(t))
        return sorted(t for t in candidates if selector.wants_type(self.event_type_of(t) or ""))


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a tail or subscription wants: exact types, a glob pattern, or all."""

    types: frozenset[str] | None = None
    pattern: str | None = None
    correlation_id: str | None = None

    @classmethod
    def of(cls, selector: EventSelector, correlation_id: str | None = None) -> EventFilter:
        """Parse ``selector``: None (all), a glob such as ``"alert.*"``, or event types."""
        if selector is None:
            return cls(correlation_id=correlation_id)
        if isinstance(selector, str):
            if not any(ch in selector for ch in "*?["):
                return cls(frozenset([validate_event_type(selector)]), None, correlation_id)
            return cls(None, selector, correlation_id)
        types = frozenset(validate_event_type(t) for t in selector)
        if not types:
            raise InvalidRequestError("give at least one event type, a pattern, or None for all")
        return cls(types, None, correlation_id)

    def wants_type(self, event_type: str) -> bool:
        if self.types is not None:
            return event_type in self.types
        return self.pattern is None or fnmatch.fnmatchcase(event_type, self.pattern)

    def wants(self, correlation_id: str | None, event_type: str | None) -> bool:
        """Match on header values alone (no need to decode the record's value)."""
        if self.correlation_id is not None and correlation_id != self.correlation_id:
            return False
        return event_type is None or self.wants_type(event_type)


def check_start(start: Start) -> Start:
    """Validate a tail start: "beginning", "end", a negative count, or a datetime."""
    if start in ("beginning", "end") or isinstance(start, datetime):
        return start
    if isinstance(start, int) and not isinstance(start, bool) and start < 0:
        return start
    raise InvalidRequestError(
        f"invalid tail start {start!r}: use 'beginning', 'end', -N (last N events) or a datetime"
    )


@dataclass(slots=True)
class SubscriptionStats:
    """What a subscription has done so far."""

    processed: int = 0
    failed_attempts: int = 0
    dead_lettered: int = 0
    malformed: int = 0
    duplicates: int = 0
    """Redelivered events skipped, unseen by the handler (Kafka subscriptions)."""
    errors: list[str] = field(default_factory=list)


async def deliver(handler: Handler, event: Event, attempts: int, stats: SubscriptionStats) -> str:
    """Run ``handler`` up to ``attempts`` times; return "" on success, else the last error.

    The subscriptions run it under the publisher's context; when the process
    traces, each attempt is a CONSUMER span, child of the event's producer
    span, and the handler's own calls and events are that span's children.
    """
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            await _handle(handler, event, attempt)
        except Exception as exc:  # a handler's failure must not stop the consumer
            error = f"{type(exc).__name__}: {exc}"
            stats.failed_attempts += 1
            log.warning(
                "handler failed on %s %s (attempt %d/%d): %s",
                event.event_type,
                event.event_id,
                attempt,
                attempts,
                error,
            )
            continue
        stats.processed += 1
        return ""
    stats.errors.append(error)
    return error


async def _handle(handler: Handler, event: Event, attempt: int) -> None:
    tracer = PROCESS_TRACING.tracer
    if tracer is None:
        await handler(event)
        return
    attributes: dict[str, str | int | bool] = {
        "messaging.message.id": event.event_id,
        "messaging.destination.name": event.topic or "",
        "mesh.delivery_attempt": attempt,
    }
    kind = SpanKind.CONSUMER
    span, ctx = start_span(tracer, f"{event.event_type} process", kind, event.context(), attributes)
    try:
        with use_context(ctx):
            await handler(event)
    except BaseException as exc:
        end_span(span, exc)
        raise
    end_span(span)


class Subscription(Protocol):
    """A running consumer; ``stop()`` ends it and waits for its task."""

    stats: SubscriptionStats

    async def stop(self) -> None: ...


class EventBus(Protocol):
    """Publish, subscribe and tail events; start/stop or use ``async with``."""

    async def publish(
        self,
        event_type: str,
        data: dict[str, Any],
        context: CorrelationContext | None = None,
        *,
        source: str | None = None,
    ) -> Event: ...

    async def subscribe(
        self,
        event_types: EventSelector,
        handler: Handler,
        *,
        group_id: str,
        max_attempts: int = 3,
    ) -> Subscription: ...

    def tail(
        self,
        correlation_id: str | None = None,
        event_types: EventSelector = None,
        *,
        start: Start = "beginning",
        follow: bool = True,
        keyed_only: bool = False,
    ) -> AsyncIterator[Event]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
