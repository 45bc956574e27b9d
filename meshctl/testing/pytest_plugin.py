"""pytest fixtures on real infrastructure: Redis, a Kafka-protocol broker, PostgreSQL, services.

Load it from a ``conftest.py`` with
``pytest_plugins = ["meshctl.testing.pytest_plugin"]``. Every test gets its
own Redis key prefix and Kafka topic prefix, and what it leaves in Redis
is deleted afterwards, so tests can share one server and run in any order.

=================  ======================================================
fixture            what it gives
=================  ======================================================
redis_url          the Redis the suite uses (``MESH_TEST_REDIS_URL``)
key_prefix         a registry prefix no other test uses
redis_client       an asyncio client of that Redis; cleans ``key_prefix``
kafka_bootstrap    a broker for the session (``MESH_KAFKA_BOOTSTRAP``, else
                   an embedded Tansu broker)
topic_prefix       a topic prefix no other test uses
own_broker         a broker for one test, which may stop and restart it
database_url       an empty database: each test runs on SQLite and on
                   PostgreSQL (``MESH_TEST_POSTGRES_URL``, marked postgres)
webhook            a started :class:`WebhookReceiver`
platform           the reference services on loopback, started on demand
                   (:class:`Platform`), registered under ``key_prefix``
mesh               a started mesh client of ``platform``'s registry
=================  ======================================================
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from meshctl.core.breaker import CircuitBreakerConfig
from meshctl.embedded import EmbeddedBroker
from meshctl.embedded.sink import WebhookReceiver
from meshctl.mesh import ServiceMeshClient, open_mesh
from meshctl.registry import open_registry
from meshctl.services.base import ServiceSettings
from meshctl.testing.databases import DatabaseUnavailableError, temporary_database
from meshctl.testing.services import Platform

REDIS_URL = os.environ.get("MESH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MARKERS = {
    "redis": "needs the real Redis server",
    "kafka": "needs the real Kafka-protocol broker",
    "postgres": "needs the real PostgreSQL server",
}
DATABASE_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


@pytest.fixture
def redis_url() -> str:
    """The Redis the suite uses."""
    return REDIS_URL


@pytest.fixture
def key_prefix() -> str:
    """A registry prefix no other test uses."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def redis_client(redis_url: str, key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the real Redis; deletes everything under ``key_prefix`` afterwards."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        await client.aclose()
        pytest.fail(f"real Redis at {redis_url} is not reachable: {exc}")
    yield client
    keys = [k async for k in client.scan_iter(match=f"{key_prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of the broker shared by the whole session."""
    existing = os.environ.get("MESH_KAFKA_BOOTSTRAP")
    if existing:
        yield existing
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker for this test alone, which it may stop and start on the same port."""
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture(params=DATABASE_PARAMS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL (dropped afterwards)."""
    try:
        async with temporary_database(request.param, tmp_path) as url:
            yield url
    except DatabaseUnavailableError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(str(exc))


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    """A webhook receiver on loopback; the ``platform``'s alerts are delivered to it."""
    async with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
async def platform(
    redis_client: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    webhook: WebhookReceiver,
) -> AsyncIterator[Platform]:
    """The reference services, started on demand, registered under ``key_prefix``."""
    settings = ServiceSettings.model_validate(
        {
            "webhook_url": f"{webhook.url}/hooks/alerts",
            "redis_url": redis_url,
            "prefix": key_prefix,
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'mesh.db'}",
            "jwt_secret": "test-secret-of-enough-length-0123456789",
            "admin_user": "admin",
            "admin_password": "s3cret-pass",
        }
    )
    platform = Platform(open_registry(settings, redis=redis_client), settings)
    try:
        yield platform
    finally:
        await platform.aclose()


@pytest.fixture
async def mesh(platform: Platform) -> AsyncIterator[ServiceMeshClient]:
    """A client of the platform's mesh: breakers open after 2 failures, reports every 0.2 s."""
    config = CircuitBreakerConfig(failure_threshold=2, timeout_duration=30)
    client = open_mesh(
        platform.settings,
        name="test-client",
        registry=platform.registry,
        events=False,
        breaker_config=config,
        report_interval=0.2,
    )
    async with client:
        yield client
