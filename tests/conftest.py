"""Fixtures shared by the whole suite.

Real infrastructure: Redis at MESH_TEST_REDIS_URL (default 127.0.0.1:6379).
Every test gets its own key prefix and its keys are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

pytest_plugins: list[str] = ["tests.kafka_fixtures"]

REDIS_URL = os.environ.get("MESH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
def key_prefix() -> str:
    """A registry prefix no other test uses."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def redis_client(key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the real Redis; deletes everything under ``key_prefix`` afterwards."""
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        await client.aclose()
        pytest.fail(f"real Redis at {REDIS_URL} is not reachable: {exc}")
    yield client
    keys = [k async for k in client.scan_iter(match=f"{key_prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
