"""Registry fixtures: the same tests run on the real Redis and on fakeredis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import fakeredis
import pytest
import redis.asyncio as aioredis

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.registry import ServiceRegistry


@pytest.fixture(params=["redis", "fakeredis"])
async def client(
    request: pytest.FixtureRequest, redis_client: aioredis.Redis
) -> AsyncIterator[aioredis.Redis]:
    """A Redis client: the real server, or a fresh in-process fakeredis (Lua via lupa)."""
    if request.param == "redis":
        yield redis_client
        return
    fake = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    yield fake
    await fake.aclose()


@pytest.fixture
async def registry(client: aioredis.Redis, key_prefix: str) -> ServiceRegistry:
    return ServiceRegistry(client, prefix=key_prefix)


@pytest.fixture
def endpoint() -> Callable[..., ServiceEndpoint]:
    """Build endpoints of a service with distinct ports."""
    ports = iter(range(20000, 30000))

    def make(service: str = "analytics", **fields: object) -> ServiceEndpoint:
        fields.setdefault("port", next(ports))
        return ServiceEndpoint(service_name=service, host="127.0.0.1", **fields)  # type: ignore[arg-type]

    return make
