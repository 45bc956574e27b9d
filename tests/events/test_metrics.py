"""A bus's event counters, as a Prometheus scrape of the process's collector shows them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from meshctl.core.context import CorrelationContext
from meshctl.embedded import EmbeddedBroker
from meshctl.errors import SpoolFullError
from meshctl.events.kafka import KafkaEventBus
from meshctl.transport.metrics import REGISTRY

pytestmark = pytest.mark.kafka


def scrape(client: str) -> dict[tuple[str, str], float]:
    """``(sample name, topic) -> value`` of one bus's event counters, parsed as Prometheus would."""
    text = generate_latest(REGISTRY).decode()
    return {
        (sample.name, sample.labels["topic"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("meshctl_events_")
        for sample in family.samples
        if sample.labels.get("client") == client and sample.name.endswith("_total")
    }


async def test_published_events_are_counted_per_topic_until_the_bus_closes(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    client = f"{topic_prefix}-metrics"
    ctx = CorrelationContext.new("m")
    bus = KafkaEventBus(
        kafka_bootstrap, topic_prefix=topic_prefix, client_id=client, spool_dir=tmp_path / "s"
    )
    async with bus:
        for n in range(3):
            await bus.publish("alert.sent", {"n": n}, ctx)
        await asyncio.gather(*(bus.publish("frame.processed", {"n": n}, ctx) for n in range(2)))
        counts = scrape(client)
    assert counts[("meshctl_events_published_total", f"{topic_prefix}.alert.sent")] == 3
    assert counts[("meshctl_events_published_total", f"{topic_prefix}.frame.processed")] == 2
    assert not any(value for (name, _), value in counts.items() if "published" not in name)
    assert scrape(client) == {}  # the source went with the bus


async def test_spooled_replayed_and_failed_events_are_counted(
    own_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    client = f"{topic_prefix}-outage"
    topic = f"{topic_prefix}.alert.sent"
    ctx = CorrelationContext.new("o")
    own_broker.stop()
    bus = KafkaEventBus(
        own_broker.bootstrap,
        topic_prefix=topic_prefix,
        client_id=client,
        spool_dir=tmp_path / "s",
        spool_max_bytes=4000,
        publish_timeout=1.0,
        probe_interval=0.1,
    )
    async with bus:
        for n in range(2):
            await bus.publish("alert.sent", {"n": n}, ctx)
        spooled = scrape(client)
        assert spooled[("meshctl_events_spooled_total", topic)] == 2
        with pytest.raises(SpoolFullError):
            for n in range(100):
                await bus.publish("alert.sent", {"n": n, "pad": "x" * 200}, ctx)
        failed = scrape(client)
        assert failed[("meshctl_events_failed_total", topic)] == 1
        held = failed[("meshctl_events_spooled_total", topic)]
        await asyncio.to_thread(own_broker.start)
        for _ in range(200):
            if not bus.spooling:
                break
            await asyncio.sleep(0.05)
        assert not bus.spooling
        after = scrape(client)
    assert after[("meshctl_events_replayed_total", topic)] == held
    assert ("meshctl_events_published_total", topic) not in after  # replayed, not published
