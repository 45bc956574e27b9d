"""KafkaEventBus: events on Kafka via aiokafka, with an on-disk spool.

Events go out as CloudEvents in binary mode (``cloudevents.py``). A publish
builds its record and puts it in the outbox (``outbox.py``); one task takes
whatever waits there and sends it as one batch per partition
(``batches.py``), so many concurrent publishers cost the broker one
request. An awaited publish returns when the broker has acknowledged its
batch with ``acks=all`` (or the batch is spooled). While the broker is
unreachable (or the spool still holds older events, so order is kept)
events are appended to the bus's own spool instead, and a background task
probes the broker and replays the spool in order once it is back (``replay.py``: nothing of one
spool is sent twice). The spool is private to the process unless a durable
``spool_dir`` is named; see ``spooldir.py``. An outage is logged as a start,
periodic summaries and a recovery (``outage.py``). Topics are created with the
bus's ``TopicLayout`` (``layout.py``); one the cluster cannot hold spools the
events and sets ``topic_error`` until it fits. Idempotent production is
tried first; brokers that refuse it (Tansu answers InitProducerId with an
error) get a plain acks=all producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError

from meshctl.core.context import CorrelationContext
from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.errors import InvalidRequestError
from meshctl.transport.metrics import PROCESS_METRICS, events_source

from .batches import Placed, send_batches
from .bus import EventFilter, EventSelector, Handler, Start, TopicNaming, check_start
from .client import TopicManager, is_transient, kafka_errors, start_producer
from .cloudevents import encode_record
from .consumer import KafkaSubscription
from .counts import EventCounts
from .envelope import Event, build_event, settle, validate_event_type
from .layout import DEFAULT_LAYOUT, TopicLayout, TopicLayoutError
from .outage import OutageLog
from .outbox import Outbox
from .partitioner import cached_partitioner
from .replay import HeldSpool
from .spool import Spool, SpooledRecord
from .spooldir import SpoolLock, default_spool_root
from .tail import KafkaTail

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)

ROUND = 5000
"""Most records one round of the sending task takes from the outbox."""
# An outbox item: the record, and the future of the publish awaiting it (None: fire and forget).
Pending = tuple[SpooledRecord, "asyncio.Future[Placed | None] | None"]


class KafkaEventBus(AsyncLifecycle):
    """The EventBus on a Kafka-protocol broker.

    Args:
        bootstrap: ``host:port[,host:port...]`` of the brokers.
        topic_prefix: topics are ``<prefix>.<event_type>``; the DLQ is ``<prefix>.dlq``.
        single_topic: put every event type on this one topic instead.
        client_id: Kafka client id, also the start of the private spool's name.
        spool_dir: a durable spool directory to use (and lock) instead of a private one;
            when another process holds it, the bus says so and spools privately.
        spool_root: where private spools are made (default ``~/.cache/meshctl/spool``).
        spool_max_bytes: spool bound; beyond it publish raises SpoolFullError.
        fire_and_forget: publish returns once the event is buffered in memory.
        buffer_size: events the outbox holds before publish waits.
        layout: partitions, replication factor and min.insync.replicas of topics
            this bus creates (``TopicLayout.of(settings)``).
        publish_timeout: seconds a send may wait for the broker before spooling.
        probe_interval: seconds between reconnection attempts while spooling.
        summary_interval: seconds between "still unreachable" lines in an outage.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        topic_prefix: str = "its",
        single_topic: str | None = None,
        client_id: str = "meshctl",
        source: str | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_root: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = 64 * 1024 * 1024,
        fire_and_forget: bool = False,
        buffer_size: int = 10_000,
        layout: TopicLayout = DEFAULT_LAYOUT,
        publish_timeout: float = 5.0,
        probe_interval: float = 1.0,
        linger_ms: int = 5,
        summary_interval: float = 30.0,
    ) -> None:
        if buffer_size < 1 or publish_timeout <= 0 or probe_interval <= 0:
            raise ValueError("buffer_size and timeouts must be positive")
        self.bootstrap = bootstrap
        self.naming = TopicNaming(topic_prefix, single_topic)
        self.client_id = client_id
        self.source = source or client_id
        self.fire_and_forget = fire_and_forget
        self.outage = OutageLog(bootstrap, summary_interval=summary_interval)
        self._spool_dir = Path(spool_dir) if spool_dir is not None else None
        self._spool_root = Path(spool_root) if spool_root is not None else default_spool_root()
        self._spool_max_bytes = spool_max_bytes
        self._held: HeldSpool | None = None
        self.idempotent: bool | None = None  # learnt from the broker on first connect
        self._topics = TopicManager(bootstrap, client_id=client_id, layout=layout)
        self.topic_error: TopicLayoutError | None = None
        """Why topics cannot be created (the layout does not fit the cluster), while it lasts."""
        self._publish_timeout_ms = int(publish_timeout * 1000)
        self._probe_interval = probe_interval
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._spooling = False
        self._wake = asyncio.Event()
        self._outbox: Outbox[Pending] = Outbox(buffer_size)
        self._topic_of: dict[str, str] = {}  # event type -> topic, for types seen valid
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[KafkaSubscription] = []
        self.counts = EventCounts()
        self._unregister: Callable[[], None] | None = None

    async def start(self) -> None:
        """Take a spool and connect; an unreachable broker is not an error (events spool)."""
        if self._held is None:
            self._held = HeldSpool.take(
                self._spool_dir,
                self._spool_root,
                self.client_id,
                self._spool_max_bytes,
                self._topics,
                self._replay,
            )
            self._spooling = bool(self.spool)  # a spool left by an earlier run is replayed first
        try:
            await self._connect()
        except KafkaError as exc:
            self.outage.failed(exc, spooled=self.spool.pending_bytes)
            self._spooling = True
        self._tasks.append(asyncio.create_task(self._drain_forever(), name="meshctl-spool-drain"))
        self._tasks.append(asyncio.create_task(self._flush_forever(), name="meshctl-flush"))
        if self._unregister is None:
            self._unregister = PROCESS_METRICS.add(
                events_source(self.client_id, self.counts.snapshot)
            )

    async def stop(self) -> None:
        """Flush buffered events (to the broker or the spool), disconnect, let the spool go."""
        for sub in self._subscriptions:
            await sub.stop()
        self._subscriptions.clear()
        if self._tasks:
            await self._outbox.join()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        self.outage.close()
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        if self._held is not None:
            await self._held.release()
            self._held = None

    @property
    def spool(self) -> Spool:
        """The spool this bus holds (from ``start`` to ``stop``)."""
        if self._held is None:
            raise RuntimeError("the bus has no spool until it is started")
        return self._held.spool

    @property
    def spooling(self) -> bool:
        """True while events go to the spool rather than the broker."""
        return self._spooling

    async def publish(
        self,
        event_type: str,
        data: dict[str, Any],
        context: CorrelationContext | None = None,
        *,
        source: str | None = None,
    ) -> Event:
        """Publish and return the event once the broker (or the spool) holds it.

        With ``fire_and_forget`` it returns once the event is buffered, waiting
        while the buffer is full. Raises InvalidRequestError on bad input,
        SpoolFullError when the broker is away and the spool has no room, and
        RuntimeError when the bus is not started (nothing would send the event).
        """
        topic = self._topic_of.get(event_type) or self._new_topic(event_type)
        event = build_event(event_type, data, context, source or self.source, topic)
        value, headers, timestamp_ms = encode_record(event)
        record = SpooledRecord(topic, event.correlation_id.encode(), value, headers, timestamp_ms)
        if self.fire_and_forget:
            if not self._outbox.offer((record, None)):
                await self._outbox.put((record, None))
            return event
        if not self._tasks:
            raise RuntimeError("publish on an event bus that is not started")
        waiter: asyncio.Future[Placed | None] = asyncio.get_running_loop().create_future()
        if not self._outbox.offer((record, waiter)):
            await self._outbox.put((record, waiter))
        placed = await waiter
        if placed is None:  # spooled
            return event
        return settle(event, placed.partition, placed.offset, placed.timestamp_ms)

    def _new_topic(self, event_type: str) -> str:
        topic = self.naming.topic_for(validate_event_type(event_type))
        if len(self._topic_of) < 1024:  # a bound: types are few, but callers name them
            self._topic_of[event_type] = topic
        return topic

    async def flush(self) -> None:
        """Wait until every buffered event is with the broker or in the spool."""
        await self._outbox.join()

    async def subscribe(
        self,
        event_types: EventSelector,
        handler: Handler,
        *,
        group_id: str,
        max_attempts: int = 3,
    ) -> KafkaSubscription:
        """Consume ``event_types`` (types, a glob, or None for all) in group ``group_id``."""
        sub = KafkaSubscription(
            self._topics,
            self.naming,
            EventFilter.of(event_types),
            handler,
            group_id=group_id,
            max_attempts=max_attempts,
            dead_letter=self._publish_raw,
        )
        await sub.start()
        self._subscriptions.append(sub)
        return sub

    def tail(
        self,
        correlation_id: str | None = None,
        event_types: EventSelector = None,
        *,
        start: Start = "beginning",
        follow: bool = True,
        keyed_only: bool = False,
    ) -> AsyncIterator[Event]:
        """Iterate events (of one correlation id if given); see KafkaTail."""
        wanted = EventFilter.of(event_types, correlation_id)
        tail = KafkaTail(self._topics, self.naming, wanted, check_start(start), follow, keyed_only)
        return tail.events()

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer, self.idempotent = await start_producer(
                self.bootstrap,
                self.client_id,
                self.idempotent,
                linger_ms=self._linger_ms,
                request_timeout_ms=self._publish_timeout_ms,
                partitioner=cached_partitioner,
                max_batch_size=256 * 1024,
            )
        return self._producer

    async def _send(self, records: list[SpooledRecord]) -> list[Placed]:
        """Send in order and wait for every acknowledgement."""
        producer = await self._connect()
        await self._topics.ensure({r.topic for r in records})
        return await send_batches(producer, records)

    async def _replay(self, records: list[SpooledRecord]) -> list[Placed]:
        placed = await self._send(records)
        self.counts.add("replayed", (r.topic for r in records))
        return placed

    async def _publish_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """Produce an already-encoded record (the DLQ path), spooling if need be."""
        record = SpooledRecord(topic, key, value, headers)
        if not self._spooling:
            try:
                await self._send([record])
            except TopicLayoutError as exc:
                self._layout_refused(exc)
            except KafkaError as exc:
                self.outage.failed(exc, spooled=self.spool.pending_bytes)
            else:
                self.counts.add("published", [topic])
                return
        await self._to_spool([record])
        self.counts.add("spooled", [topic])

    async def _to_spool(self, records: list[SpooledRecord]) -> None:
        self.spool.append(records)
        self._spooling = True
        self._topics.forget()
        self._wake.set()

    async def drain(self) -> int:
        """Replay the spool now; returns the records sent (raises while the broker is away)."""
        await self._connect()  # an old producer is returned as is, even with the broker away
        assert self._held is not None, "start() gives the bus its spool"
        sent = await self._held.replayer.drain()
        await self._held.replayer.close()  # its reader is needed again only after an outage
        self.outage.recovered()
        self.topic_error = None
        if self._spooling and not self.spool:
            self._spooling = False
            log.info("spool drained; publishing to %s again", self.bootstrap)
        return sent

    async def adopt(self, directory: Path) -> int:
        """Replay a spool another process left behind; returns the records sent.

        Raises SpoolInUseError when a live process holds it (it drains its own),
        and BrokerUnavailableError when the broker goes away (what was not sent stays).
        """
        held = HeldSpool(
            SpoolLock(directory), self._spool_max_bytes, self._topics, self._replay, durable=False
        )
        try:
            with kafka_errors(self.bootstrap, f"draining spool {directory}"):
                await self._connect()
                return await held.replayer.drain()
        finally:
            await held.release()

    async def _drain_forever(self) -> None:
        while True:
            # Not asyncio.wait_for: on 3.11 it swallows a cancel that meets a wake-up,
            # and stop() would wait for this task for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._probe_interval):
                    await self._wake.wait()
            self._wake.clear()
            if not self._spooling:
                continue
            try:
                await self.drain()
            except TopicLayoutError as exc:
                self._layout_refused(exc)
            except (KafkaError, OSError) as exc:
                self.outage.failed(exc, spooled=self.spool.pending_bytes)

    async def _flush_forever(self) -> None:
        """Send what waits in the outbox, a round at a time; what cannot go is spooled."""
        while True:
            pending = await self._outbox.take(ROUND)
            try:
                await self._deliver(pending)
            except Exception as exc:  # this task must outlive any one round
                self._fail(pending, exc)
            finally:
                self._outbox.done(len(pending))

    async def _deliver(self, pending: list[Pending]) -> None:
        records = [record for record, _ in pending]
        if not self._spooling:
            try:
                placed = await self._send(records)
            except TopicLayoutError as exc:
                self._layout_refused(exc)
            except (KafkaError, OSError) as exc:
                if not is_transient(exc):
                    pending = self._reject(pending, exc)
                    records = [record for record, _ in pending]
                if records:
                    self.outage.failed(exc, spooled=self.spool.pending_bytes)
            else:
                self.counts.add("published", (r.topic for r in records))
                for (_, waiter), where in zip(pending, placed, strict=True):
                    if waiter is not None and not waiter.done():
                        waiter.set_result(where)
                return
        if not records:
            return
        try:
            await self._to_spool(records)
        except Exception as exc:
            self._fail(pending, exc)
            return
        self.counts.add("spooled", (r.topic for r in records))
        for _, waiter in pending:
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _layout_refused(self, exc: TopicLayoutError) -> None:
        """Topics cannot be created: say so once; the events spool until the layout fits."""
        if self.topic_error is None or str(self.topic_error) != str(exc):
            log.error("%s; events are kept in the spool meanwhile", exc)
        self.topic_error = exc

    def _fail(self, pending: list[Pending], exc: Exception) -> None:
        """Nothing can take these events: the awaited publishes raise ``exc``, the rest are lost."""
        self.counts.add("failed", (record.topic for record, _ in pending))
        lost = 0
        for _, waiter in pending:
            if waiter is None:
                lost += 1
            elif not waiter.done():
                waiter.set_exception(exc)
        if lost:
            # Nothing else can take them now; say so loudly rather than drop silently.
            log.error("%d buffered events could not be sent or spooled and are lost: %s", lost, exc)

    def _reject(self, pending: list[Pending], exc: Exception) -> list[Pending]:
        """Fail the awaited publishes the broker refused; the rest (fire and forget) spool."""
        error = InvalidRequestError(f"broker rejected the event: {exc}")
        rest = []
        for item in pending:
            record, waiter = item
            if waiter is None:
                rest.append(item)
                continue
            self.counts.add("failed", [record.topic])
            if not waiter.done():
                waiter.set_exception(error)
        return rest
