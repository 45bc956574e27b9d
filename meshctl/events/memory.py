"""MemoryEventBus: the event bus in one process, same semantics, no broker.

For library users' tests and fast unit tests. Topics are lists in memory
with one partition each; consumer groups share a cursor; the DLQ is a topic
like the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from meshctl.core.context import CorrelationContext, use_context
from meshctl.core.lifecycle import AsyncLifecycle

from .bus import (
    EventFilter,
    EventSelector,
    Handler,
    Start,
    SubscriptionStats,
    TopicNaming,
    check_start,
    deliver,
)
from .cloudevents import encode_data
from .envelope import ERROR_HEADER, Event, build_event

log = logging.getLogger(__name__)


class MemorySubscription:
    """A consumer task reading the in-memory log for one group."""

    def __init__(self, task: asyncio.Task[None], stats: SubscriptionStats) -> None:
        self._task = task
        self.stats = stats

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class MemoryEventBus(AsyncLifecycle):
    """An in-process EventBus with Kafka's ordering, group and DLQ semantics."""

    def __init__(
        self, *, topic_prefix: str = "its", single_topic: str | None = None, source: str = "meshctl"
    ) -> None:
        self.naming = TopicNaming(topic_prefix, single_topic)
        self.source = source
        self._log: list[Event] = []
        self._offsets: dict[str, int] = {}
        self._groups: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._subscriptions: list[MemorySubscription] = []

    async def start(self) -> None:
        """Nothing to connect to; present for the EventBus contract."""

    async def stop(self) -> None:
        for sub in self._subscriptions:
            await sub.stop()
        self._subscriptions.clear()

    def events(self, topic: str | None = None) -> list[Event]:
        """Everything published so far (on ``topic`` if given), in order."""
        return [e for e in self._log if topic is None or e.topic == topic]

    async def publish(
        self,
        event_type: str,
        data: dict[str, Any],
        context: CorrelationContext | None = None,
        *,
        source: str | None = None,
    ) -> Event:
        """Append the event to its topic and wake tails and subscribers."""
        event = build_event(event_type, data, context, source or self.source)
        encode_data(event.data)  # the same JSON check as on the wire
        return self._append(self.naming.topic_for(event_type), event)

    def _append(self, topic: str, event: Event) -> Event:
        offset = self._offsets.get(topic, 0)
        self._offsets[topic] = offset + 1
        stored = replace(
            event, topic=topic, partition=0, offset=offset, timestamp_ms=time.time_ns() // 1_000_000
        )
        self._log.append(stored)
        self._changed.set()
        self._changed = asyncio.Event()
        return stored

    async def _wait_beyond(self, position: int) -> None:
        while len(self._log) <= position:
            await self._changed.wait()

    async def subscribe(
        self,
        event_types: EventSelector,
        handler: Handler,
        *,
        group_id: str,
        max_attempts: int = 3,
    ) -> MemorySubscription:
        """Run ``handler`` on each wanted event; a new group starts at the earliest event."""
        wanted = EventFilter.of(event_types)
        stats = SubscriptionStats()
        self._groups.setdefault(group_id, 0)

        async def consume() -> None:
            while True:
                await self._wait_beyond(self._groups[group_id])
                position = self._groups[group_id]
                self._groups[group_id] = position + 1
                event = self._log[position]
                if event.topic == self.naming.dlq or not wanted.wants(None, event.event_type):
                    continue
                with use_context(event.context()):
                    error = await deliver(handler, event, max_attempts, stats)
                if error:
                    self._dead_letter(event, error, stats)

        sub = MemorySubscription(asyncio.create_task(consume()), stats)
        self._subscriptions.append(sub)
        return sub

    def _dead_letter(self, event: Event, error: str, stats: SubscriptionStats) -> None:
        self._append(
            self.naming.dlq, replace(event, headers={**event.headers, ERROR_HEADER: error})
        )
        stats.dead_lettered += 1

    async def tail(
        self,
        correlation_id: str | None = None,
        event_types: EventSelector = None,
        *,
        start: Start = "beginning",
        follow: bool = True,
        keyed_only: bool = False,
    ) -> AsyncIterator[Event]:
        """Yield matching events from ``start``, then new ones while ``follow``.

        ``keyed_only`` changes nothing: one log has no partitions to skip.
        """
        wanted = EventFilter.of(event_types, correlation_id)
        start = check_start(start)
        end = len(self._log)

        def matches(e: Event) -> bool:
            return e.topic != self.naming.dlq and wanted.wants(e.correlation_id, e.event_type)

        position = 0
        if start == "end":
            position = end
        elif isinstance(start, int):
            # Last N matching events as of now, then onwards.
            last: deque[Event] = deque((e for e in self._log[:end] if matches(e)), maxlen=-start)
            for event in last:
                yield event
            position = end
        elif not isinstance(start, str):
            cutoff = int(start.timestamp() * 1000)
            position = next(
                (i for i, e in enumerate(self._log) if (e.timestamp_ms or 0) >= cutoff), end
            )
        while follow or position < end:
            if position >= len(self._log):
                await self._wait_beyond(position)
            event = self._log[position]
            position += 1
            if matches(event):
                yield event
