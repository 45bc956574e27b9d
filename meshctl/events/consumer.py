"""A consumer-group subscription on Kafka with retries and a dead-letter topic.

The handler sees each decoded event with the publisher's correlation context
installed. A handler that raises is retried up to ``max_attempts`` times,
then the record goes, unchanged, to ``<prefix>.dlq`` with the error in an
``error`` header. Offsets are committed after each batch is handled, so a
crash replays rather than loses. Delivery is at least once, so the
subscription skips an event it handled lately (same ``source`` and ``id``,
see ``dedupe.py``) and counts it in ``stats.duplicates``: after reconnects,
retried batches and spool replays a handler sees each event once (a restarted
process starts with an empty memory, so handlers should still be idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError

from meshctl.core.context import use_context

from .bus import EventFilter, Handler, SubscriptionStats, TopicNaming, deliver
from .client import TopicManager, kafka_errors
from .cloudevents import decode_record
from .dedupe import RecentEvents, event_key
from .envelope import ERROR_HEADER
from .outage import OutageLog

log = logging.getLogger(__name__)

DeadLetter = Callable[[str, bytes | None, bytes, list[tuple[str, bytes]]], Awaitable[None]]


class KafkaSubscription:
    """A running consumer group member; ``stop()`` leaves the group."""

    def __init__(
        self,
        topics: TopicManager,
        naming: TopicNaming,
        wanted: EventFilter,
        handler: Handler,
        *,
        group_id: str,
        max_attempts: int,
        dead_letter: DeadLetter,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.stats = SubscriptionStats()
        self.group_id = group_id
        self._topics = topics
        self._naming = naming
        self._wanted = wanted
        self._handler = handler
        self._max_attempts = max_attempts
        self._dead_letter = dead_letter
        self._handled = RecentEvents()
        self._consumer = topics.consumer(
            group_id, group_id=group_id, auto_offset_reset="earliest", fetch_max_wait_ms=100
        )
        self._task: asyncio.Task[None] | None = None
        self._outage = OutageLog(topics.bootstrap, meanwhile=f"subscription {group_id} retrying")

    async def start(self) -> None:
        """Join the group; raises BrokerUnavailableError when the broker is away."""
        try:
            with kafka_errors(self._topics.bootstrap, f"subscribing group {self.group_id}"):
                topics = self._naming.topics_for(self._wanted)
                await self._topics.ensure(topics)
                if self._wanted.types is not None or self._naming.single_topic:
                    self._consumer.subscribe(topics)
                else:
                    glob = self._wanted.pattern or "*"
                    prefix = re.escape(self._naming.prefix + ".")
                    self._consumer.subscribe(pattern=f"^{prefix}{fnmatch.translate(glob)}")
                await self._consumer.start()
        except BaseException:
            await self._consumer.stop()
            raise
        self._task = asyncio.create_task(self._run(), name=f"meshctl-subscription-{self.group_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._consumer.stop()
        self._outage.close()

    async def _run(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        await self._handle(record)
                if batch:
                    await self._consumer.commit()
                self._outage.recovered()
            except KafkaError as exc:  # the client reconnects by itself; keep consuming
                self._outage.failed(exc)
                await asyncio.sleep(1.0)

    async def _handle(self, record: Any) -> None:
        if record.topic == self._naming.dlq:
            return
        event = decode_record(
            record.value,
            record.headers,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
        )
        if event.malformed:
            self.stats.malformed += 1
            log.warning(
                "skipping malformed record at %s/%d@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                event.error,
            )
            return
        if not self._wanted.wants(None, event.event_type):
            return
        key = event_key(event.source, event.event_id)
        if key in self._handled:
            self.stats.duplicates += 1
            return
        with use_context(event.context()):
            error = await deliver(self._handler, event, self._max_attempts, self.stats)
        self._handled.add(key)
        if error:
            dlq_headers = [*(record.headers or ()), (ERROR_HEADER, error.encode())]
            await self._dead_letter(self._naming.dlq, record.key, record.value, dlq_headers)
            self.stats.dead_lettered += 1
