"""KafkaEventBus: events on Kafka via aiokafka, with an on-disk spool.

Publishing waits for ``acks=all``. While the broker is unreachable (or the
spool still holds older events, so order is kept) events are appended to
the spool instead and a background task probes the broker and drains the
spool in order, deleting records only once the broker has acknowledged
them. Idempotent production is tried first; brokers that refuse it (Tansu
answers InitProducerId with an error) get a plain acks=all producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError

from meshctl.core.context import CorrelationContext
from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.errors import InvalidRequestError

from .bus import EventFilter, EventSelector, Handler, Start, TopicNaming, check_start
from .client import TopicManager, is_transient, kafka_producer
from .consumer import KafkaSubscription
from .envelope import Event, build_event, encode_headers, encode_value, validate_event_type
from .partitioner import cached_partitioner
from .spool import Spool, SpooledRecord
from .tail import KafkaTail

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)


def default_spool_dir(client_id: str) -> Path:
    """``$XDG_CACHE_HOME/meshctl/spool/<client_id>`` (``~/.cache`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "meshctl" / "spool" / client_id


class KafkaEventBus(AsyncLifecycle):
    """The EventBus on a Kafka-protocol broker.

    Args:
        bootstrap: ``host:port[,host:port...]`` of the brokers.
        topic_prefix: topics are ``<prefix>.<event_type>``; the DLQ is ``<prefix>.dlq``.
        single_topic: put every event type on this one topic instead.
        client_id: Kafka client id, also names the default spool directory.
        spool_dir: where events wait while the broker is away.
        spool_max_bytes: spool bound; beyond it publish raises SpoolFullError.
        fire_and_forget: publish returns once the event is buffered in memory.
        buffer_size: events the fire-and-forget buffer holds before publish waits.
        partitions: partitions of topics this bus creates.
        publish_timeout: seconds a send may wait for the broker before spooling.
        probe_interval: seconds between reconnection attempts while spooling.
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
        spool_max_bytes: int = 64 * 1024 * 1024,
        fire_and_forget: bool = False,
        buffer_size: int = 10_000,
        partitions: int = 3,
        publish_timeout: float = 5.0,
        probe_interval: float = 1.0,
        linger_ms: int = 5,
    ) -> None:
        if buffer_size < 1 or partitions < 1 or publish_timeout <= 0 or probe_interval <= 0:
            raise ValueError("buffer_size, partitions and timeouts must be positive")
        self.bootstrap = bootstrap
        self.naming = TopicNaming(topic_prefix, single_topic)
        self.client_id = client_id
        self.source = source or client_id
        self.fire_and_forget = fire_and_forget
        self.spool = Spool(spool_dir or default_spool_dir(client_id), spool_max_bytes)
        self.idempotent: bool | None = None  # learnt from the broker on first connect
        self._topics = TopicManager(bootstrap, partitions=partitions, client_id=client_id)
        self._publish_timeout_ms = int(publish_timeout * 1000)
        self._probe_interval = probe_interval
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._spooling = bool(self.spool)  # a spool left by an earlier run is replayed first
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._buffer: asyncio.Queue[SpooledRecord] = asyncio.Queue(buffer_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[KafkaSubscription] = []

    async def start(self) -> None:
        """Connect; an unreachable broker is not an error (events spool until it is back)."""
        try:
            await self._connect()
        except KafkaError as exc:
            log.warning("Kafka broker at %s unreachable, spooling events: %s", self.bootstrap, exc)
            self._spooling = True
        self._tasks.append(asyncio.create_task(self._drain_forever(), name="meshctl-spool-drain"))
        if self.fire_and_forget:
            self._tasks.append(asyncio.create_task(self._flush_forever(), name="meshctl-flush"))

    async def stop(self) -> None:
        """Flush buffered events (to the broker or the spool), then disconnect."""
        for sub in self._subscriptions:
            await sub.stop()
        self._subscriptions.clear()
        if self.fire_and_forget and self._tasks:
            await self._buffer.join()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

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
        """Publish and return the envelope once the broker (or the spool) holds it.

        With ``fire_and_forget`` it returns once the event is buffered, waiting
        while the buffer is full. Raises InvalidRequestError on bad input and
        SpoolFullError when the broker is away and the spool has no room.
        """
        topic = self.naming.topic_for(validate_event_type(event_type))
        event = build_event(event_type, data, context, source or self.source, topic)
        record = SpooledRecord(
            topic, event.correlation_id.encode(), encode_value(event), encode_headers(event)
        )
        if self.fire_and_forget:
            await self._buffer.put(record)
            return event
        if not self._spooling and self._producer is not None:
            try:
                meta = (await self._send([record]))[0]
            except KafkaError as exc:
                if not is_transient(exc):
                    raise InvalidRequestError(f"broker rejected the event: {exc}") from exc
                log.warning("Kafka broker at %s unreachable, spooling: %s", self.bootstrap, exc)
            else:
                return replace(
                    event,
                    partition=meta.partition,
                    offset=meta.offset,
                    timestamp_ms=meta.timestamp,
                )
        await self._to_spool([record])
        return event

    async def flush(self) -> None:
        """Wait until every buffered event is with the broker or in the spool."""
        await self._buffer.join()

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
    ) -> AsyncIterator[Event]:
        """Iterate events (of one correlation id if given); see KafkaTail."""
        wanted = EventFilter.of(event_types, correlation_id)
        tail = KafkaTail(self._topics, self.naming, wanted, check_start(start), follow)
        return tail.events()

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        for idempotent in [self.idempotent] if self.idempotent is not None else [True, False]:
            producer = kafka_producer(
                self.bootstrap,
                self.client_id,
                acks="all",
                enable_idempotence=idempotent,
                linger_ms=self._linger_ms,
                request_timeout_ms=self._publish_timeout_ms,
                partitioner=cached_partitioner,
                max_batch_size=256 * 1024,
            )
            try:
                # The idempotence probe's refusal is expected and logged by us at INFO;
                # aiokafka would also log it as an ERROR on every start.
                with _quiet(_SENDER_LOG) if idempotent else contextlib.nullcontext():
                    await producer.start()
            except KafkaError as exc:
                await producer.stop()
                if is_transient(exc) or not idempotent:
                    raise
                log.info("broker at %s refuses idempotent producers (%s)", self.bootstrap, exc)
                continue
            self.idempotent = idempotent
            self._producer = producer
            return producer
        raise AssertionError("unreachable: the non-idempotent attempt returns or raises")

    async def _send(self, records: list[SpooledRecord]) -> list[Any]:
        """Send in order and wait for every acknowledgement."""
        producer = await self._connect()
        await self._topics.ensure({r.topic for r in records})
        futures = [
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records
        ]
        return list(await asyncio.gather(*futures))

    async def _publish_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """Produce an already-encoded record (the DLQ path), spooling if need be."""
        record = SpooledRecord(topic, key, value, headers)
        if not self._spooling:
            try:
                await self._send([record])
                return
            except KafkaError as exc:
                log.warning("dead-letter publish failed, spooling: %s", exc)
        await self._to_spool([record])

    async def _to_spool(self, records: list[SpooledRecord]) -> None:
        async with self._lock:
            self.spool.append(records)
            self._spooling = True
        self._topics.forget()
        self._wake.set()

    async def _drain_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._probe_interval)
            self._wake.clear()
            if not self._spooling:
                continue
            try:
                await self._drain()
            except (KafkaError, OSError) as exc:
                log.debug("broker at %s still unreachable: %s", self.bootstrap, exc)

    async def _drain(self) -> None:
        """Replay the spool oldest first; stop spooling once it is empty."""
        while True:
            async with self._lock:
                self.spool.seal()
                batch = self.spool.oldest()
                if batch is None:
                    self._spooling = False
                    log.info("spool drained; publishing to %s again", self.bootstrap)
                    return
            path, records = batch
            producer = await self._connect()
            await self._topics.ensure({r.topic for r in records})
            futures = [
                await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failures = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
            delivered = failures[0] if failures else len(records)
            async with self._lock:
                self.spool.consume(path, delivered)
            if failures:
                raise results[failures[0]]

    async def _flush_forever(self) -> None:
        """Move buffered events to the broker in batches; what fails goes to the spool."""
        while True:
            records = [await self._buffer.get()]
            while not self._buffer.empty() and len(records) < 5000:
                records.append(self._buffer.get_nowait())
            try:
                await self._deliver_batch(records)
            finally:
                for _ in records:
                    self._buffer.task_done()

    async def _deliver_batch(self, records: list[SpooledRecord]) -> None:
        if not self._spooling:
            try:
                await self._send(records)
                return
            except KafkaError as exc:
                log.warning("Kafka broker at %s unreachable, spooling: %s", self.bootstrap, exc)
        try:
            await self._to_spool(records)
        except Exception:
            # Nothing else can take them now; say so loudly rather than drop silently.
            log.exception("%d buffered events could not be spooled and are lost", len(records))
            raise


_SENDER_LOG = logging.getLogger("aiokafka.producer.sender")


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Silence ``logger`` for the body of the block."""
    previous = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = previous
