"""A mesh client of the platform's services (the plugin's ``platform``) publishing to Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshctl.events import Event
from meshctl.events.kafka import KafkaEventBus
from meshctl.mesh import ServiceMeshClient
from meshctl.orchestrator import EscalationPolicy, ServiceOrchestrator
from meshctl.testing import Platform


@pytest.fixture
async def kafka_mesh(
    platform: Platform, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> AsyncIterator[ServiceMeshClient]:
    """A mesh client whose events go to the real broker under this test's topic prefix."""
    bus = KafkaEventBus(kafka_bootstrap, topic_prefix=topic_prefix, spool_dir=tmp_path / "spool")
    async with ServiceMeshClient(
        platform.registry, name="orchestrator", event_bus=bus, control=False
    ) as client:
        yield client


@pytest.fixture
def orchestrator(kafka_mesh: ServiceMeshClient) -> ServiceOrchestrator:
    policy = EscalationPolicy(ack_timeout=5.0, poll_interval=0.05)
    return ServiceOrchestrator(kafka_mesh, call_timeout=5.0, escalation=policy)


async def events_of(mesh: ServiceMeshClient, correlation_id: str) -> list[Event]:
    """Every event of ``correlation_id`` on the bus, in order."""
    assert mesh.events is not None
    return [e async for e in mesh.events.tail(correlation_id, follow=False)]
