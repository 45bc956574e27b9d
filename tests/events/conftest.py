"""The ``bus`` fixture: each behavioural test runs on MemoryEventBus and KafkaEventBus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from meshctl.events import Event, MemoryEventBus
from meshctl.events.cloudevents import decode_record
from meshctl.events.kafka import KafkaEventBus

AnyBus = MemoryEventBus | KafkaEventBus


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus(
    request: pytest.FixtureRequest, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[AnyBus]:
    if request.param == "memory":
        bus: AnyBus = MemoryEventBus(topic_prefix=topic_prefix)
    else:
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        bus = KafkaEventBus(bootstrap, topic_prefix=topic_prefix, spool_dir=tmp_path / "spool")
    async with bus:
        yield bus


async def read_topic(bootstrap: str, topic: str, count: int) -> list[Event]:
    """Read ``count`` records of ``topic`` from the beginning with a plain consumer."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    events: list[Event] = []
    try:
        while len(events) < count:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"only {len(events)} of {count} records on {topic}"
            for records in batch.values():
                events.extend(decode_record(r.value, r.headers, topic=r.topic) for r in records)
    finally:
        await consumer.stop()
    return events


async def dead_letters(bus: AnyBus, count: int) -> list[Event]:
    if isinstance(bus, MemoryEventBus):
        return bus.events(bus.naming.dlq)
    return await read_topic(bus.bootstrap, bus.naming.dlq, count)


async def eventually(done: Callable[[], object], what: str, seconds: float = 60.0) -> None:
    """Wait until ``done()`` is true (checked every 50 ms); fail naming ``what`` after a while."""
    for _ in range(int(seconds / 0.05)):
        if done():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting until {what}")
