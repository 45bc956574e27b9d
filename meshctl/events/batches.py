"""Sending records as one batch per partition, through aiokafka's batch API.

``producer.send()`` per record costs two coroutines, a partitioner call
and a future each; building the batches here and handing each to
``send_batch`` costs one C-level append per record. The partitioner is the
producer's (murmur2 of the key, ``partitioner.py``), so keys land where
``send()`` would put them and a tail by correlation id finds them. A
closed batch does not linger: it goes with the sender's next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from .partitioner import cached_partitioner
from .spool import SpooledRecord

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer
    from aiokafka.producer.message_accumulator import BatchBuilder


class Placed(NamedTuple):
    """Where the broker put a record."""

    partition: int
    offset: int
    timestamp_ms: int | None


class _Open(NamedTuple):
    topic: str
    partition: int
    batch: BatchBuilder
    members: list[int]  # indexes into the records sent


async def send_batches(
    producer: AIOKafkaProducer, records: Sequence[SpooledRecord]
) -> list[Placed]:
    """Send ``records`` in order and wait for every acknowledgement; where each went.

    Raises the first error any batch met (after all have finished, so none
    is left unobserved).
    """
    layout: dict[str, list[int]] = {}
    # A trace's events share their key: most records of a round find their partition here.
    route: dict[tuple[str, bytes | None], tuple[str, int]] = {}
    open_batches: dict[tuple[str, int], _Open] = {}
    submitted: list[tuple[_Open, asyncio.Future[object]]] = []
    for index, record in enumerate(records):
        where = route.get((record.topic, record.key))
        if where is None:
            partitions = layout.get(record.topic)
            if partitions is None:
                partitions = sorted(await producer.partitions_for(record.topic))
                layout[record.topic] = partitions
            partition = cached_partitioner(record.key, partitions, partitions)
            where = route[(record.topic, record.key)] = (record.topic, partition)
        entry = open_batches.get(where)
        if entry is None:
            entry = open_batches[where] = _Open(*where, producer.create_batch(), [])
        if not _append(entry.batch, record):
            # Full: send it (the accumulator holds one batch per partition), start another;
            # an empty batch takes any record, however large.
            submitted.append((entry, await _submit(producer, entry)))
            entry = open_batches[where] = _Open(*where, producer.create_batch(), [])
            _append(entry.batch, record)
        entry.members.append(index)
    for entry in open_batches.values():
        submitted.append((entry, await _submit(producer, entry)))
    outcomes = await asyncio.gather(*(f for _, f in submitted), return_exceptions=True)
    placed: list[Placed | None] = [None] * len(records)
    for (entry, _), outcome in zip(submitted, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            raise outcome
        base, stamp = outcome.offset, outcome.timestamp  # type: ignore[attr-defined]
        for relative, index in enumerate(entry.members):
            # -1: the broker keeps the producer's timestamps (CreateTime).
            own = records[index].timestamp_ms if stamp == -1 else stamp
            placed[index] = Placed(entry.partition, base + relative, own)
    return placed  # type: ignore[return-value]  # every index belongs to one batch


def _append(batch: BatchBuilder, record: SpooledRecord) -> bool:
    meta = batch.append(
        timestamp=record.timestamp_ms, key=record.key, value=record.value, headers=record.headers
    )
    return meta is not None


async def _submit(producer: AIOKafkaProducer, entry: _Open) -> asyncio.Future[object]:
    entry.batch.close()
    future: asyncio.Future[object] = await producer.send_batch(
        entry.batch, entry.topic, partition=entry.partition
    )
    return future
