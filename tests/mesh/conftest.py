"""The four reference services on loopback, registered in the real Redis, and a mesh client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from meshctl.core.breaker import CircuitBreakerConfig
from meshctl.mesh import ServiceMeshClient
from meshctl.registry import ServiceRegistry
from meshctl.services import alert, analytics, auth, streaming
from meshctl.services.base import ServiceSettings
from meshctl.testing import WebhookReceiver
from tests.services.support import served

BUILDERS = {"streaming": streaming, "analytics": analytics, "alert": alert, "auth": auth}


@dataclass
class Platform:
    """Running services and the means to start and stop more of them."""

    registry: ServiceRegistry
    settings: ServiceSettings
    stack: AsyncExitStack
    ports: dict[str, list[int]] = field(default_factory=dict)
    stoppers: dict[int, AsyncExitStack] = field(default_factory=dict)

    async def start(self, name: str, **overrides: Any) -> int:
        """Serve one more instance of ``name``; returns its port."""
        settings = self.settings.model_copy(update=overrides)
        app = BUILDERS[name].build(settings)
        instance = AsyncExitStack()
        port = await instance.enter_async_context(served(app, registry=self.registry, grace=0.5))
        self.stack.push_async_callback(instance.aclose)
        self.ports.setdefault(name, []).append(port)
        self.stoppers[port] = instance
        return port

    async def stop(self, port: int) -> None:
        """Stop the instance on ``port`` (deregisters, drains, closes)."""
        await self.stoppers.pop(port).aclose()


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
async def platform(
    redis_client: Any, redis_url: str, key_prefix: str, tmp_path: Path, webhook: WebhookReceiver
) -> AsyncIterator[Platform]:
    settings = ServiceSettings(
        webhook_url=f"{webhook.url}/hooks/alerts",
        redis_url=redis_url,
        prefix=key_prefix,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'mesh.db'}",
        jwt_secret="test-secret-of-enough-length-0123456789",
        admin_user="admin",
        admin_password="s3cret-pass",
    )
    registry = ServiceRegistry(redis_client, prefix=key_prefix)
    async with AsyncExitStack() as stack:
        yield Platform(registry, settings, stack)


@pytest.fixture
async def mesh(platform: Platform) -> AsyncIterator[ServiceMeshClient]:
    config = CircuitBreakerConfig(failure_threshold=2, timeout_duration=30)
    async with ServiceMeshClient(
        platform.registry, name="test-client", breaker_config=config, report_interval=0.2
    ) as client:
        yield client
