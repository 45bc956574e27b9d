"""Replaying a spool to the broker without sending any of its records twice.

For each batch the spool hands out, the replayer reads the end offset of
every partition of the batch's topics, records them with the batch as in
flight, sends, waits for every acknowledgement, then commits. A batch that
is still in flight when replay comes back to it (the process crashed after
sending, or a send failed half way) is first read back from the broker from
the recorded offsets: records already there (same topic, key, value and
headers, so the same event id) are not sent again.

What this does not promise: aiokafka itself may write a batch twice when a
produce request times out and is retried (Tansu refuses idempotent
producers), and two spools never know of each other. Delivery to Kafka is
at least once; consumers drop duplicates by ``event_id``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition

from .client import TopicManager
from .spool import Spool, SpoolBatch, SpooledRecord, record_digest
from .spooldir import SpoolInUseError, SpoolLock, private_spool_dir

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

log = logging.getLogger(__name__)

Send = Callable[[list[SpooledRecord]], Awaitable[list[Any]]]


def _mark(tp: TopicPartition) -> str:
    return f"{tp.topic}/{tp.partition}"


def _partition(mark: str) -> TopicPartition:
    topic, _, partition = mark.rpartition("/")
    return TopicPartition(topic, int(partition))


class Replayer:
    """Drains one spool through ``send``; ``close()`` when done."""

    def __init__(self, spool: Spool, topics: TopicManager, send: Send) -> None:
        self.spool = spool
        self._topics = topics
        self._send = send
        self._consumer: AIOKafkaConsumer | None = None

    async def drain(self) -> int:
        """Replay until the spool is empty; returns the records sent.

        Raises whatever the broker connection raised (KafkaError, OSError); what
        was not acknowledged stays in flight, to be checked on the next drain.
        """
        sent = 0
        while (batch := self.spool.next_batch()) is not None:
            if batch.marks is None:
                topics = {r.topic for r in batch.records}
                batch = self.spool.begin(batch, await self._end_offsets(topics))
                todo = batch.records
            else:
                todo = await self._not_on_broker(batch)
            if todo:
                await self._send(todo)
            self.spool.commit(batch)
            sent += len(todo)
        return sent

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _reader(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = self._topics.consumer("spool", fetch_max_wait_ms=100)
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def _end_offsets(self, topics: set[str]) -> dict[str, int]:
        if not topics:
            return {}
        await self._topics.ensure(topics)
        layout = await self._topics.partitions_of(topics)
        partitions = [TopicPartition(t, p) for t, ids in layout.items() for p in sorted(ids)]
        ends: dict[TopicPartition, int] = await (await self._reader()).end_offsets(partitions)
        return {_mark(tp): offset for tp, offset in ends.items()}

    async def _not_on_broker(self, batch: SpoolBatch) -> list[SpooledRecord]:
        """The records of an in-flight batch that the broker does not hold yet."""
        found = await self._digests_since(batch.marks or {})
        todo = []
        for record in batch.records:
            if found[record.digest] > 0:
                found[record.digest] -= 1
            else:
                todo.append(record)
        if len(todo) < len(batch.records):
            log.info(
                "spool %s: %d of %d records of an interrupted replay are already on the broker",
                self.spool.directory,
                len(batch.records) - len(todo),
                len(batch.records),
            )
        return todo

    async def _digests_since(self, marks: dict[str, int]) -> Counter[str]:
        """Digests of every record written to the marked partitions since their marks."""
        found: Counter[str] = Counter()
        if not marks:
            return found
        consumer = await self._reader()
        start = {_partition(m): offset for m, offset in marks.items()}
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        end: dict[TopicPartition, int] = await consumer.end_offsets(list(start))
        pending = set(start)
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=500)
            if not batch:
                break  # nothing more to read: at the end (Tansu's end offsets may run short)
            for tp, records in batch.items():
                end[tp] = max(end[tp], consumer.highwater(tp) or 0)
                for r in records:
                    found[record_digest(r.topic, r.key, r.value or b"", list(r.headers or ()))] += 1
            pending = {tp for tp in pending if await consumer.position(tp) < end[tp]}
        return found


class HeldSpool:
    """A spool this process holds the lock of, with the replayer that drains it.

    Args:
        lock: the held lock of the spool's directory.
        durable: the directory stays when the spool is empty (a named spool).
    """

    def __init__(
        self, lock: SpoolLock, max_bytes: int, topics: TopicManager, send: Send, *, durable: bool
    ) -> None:
        self.spool = Spool(lock.directory, max_bytes)
        self.replayer = Replayer(self.spool, topics, send)
        self._lock = lock
        self._durable = durable

    @classmethod
    def take(
        cls,
        durable: Path | None,
        root: Path,
        client_id: str,
        max_bytes: int,
        topics: TopicManager,
        send: Send,
    ) -> HeldSpool:
        """The ``durable`` spool if no one holds it, else (saying so) a private one."""
        if durable is not None:
            try:
                return cls(SpoolLock(durable), max_bytes, topics, send, durable=True)
            except SpoolInUseError as exc:
                log.warning("%s; spooling to a private spool instead", exc)
        lock = SpoolLock(private_spool_dir(root, client_id))
        return cls(lock, max_bytes, topics, send, durable=False)

    async def release(self) -> None:
        """Stop replaying and let the spool go (removed if private and empty)."""
        await self.replayer.close()
        if self.spool:
            log.warning(
                "%d bytes of events are left in spool %s; `meshctl events drain` sends them",
                self.spool.pending_bytes,
                self.spool.directory,
            )
        self._lock.release(discard=not self.spool and not self._durable)
