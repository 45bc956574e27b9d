"""A whole mesh in this process: fakeredis for the registry, an in-memory event bus.

In the spirit of grpclib's ``ChannelFor`` and httpx's ``MockTransport``:
your servers are real (any gRPC or HTTP server on loopback), the mesh
client is the real one with its breakers, balancing and deadlines, and only
the infrastructure is held in memory, so a test needs no Redis and no Kafka::

    async with memory_mesh() as mesh:
        port = await start_my_grpc_server()          # bound to 127.0.0.1:0
        await mesh.register("pricing", port)
        reply = await mesh.client.call_service("pricing", "Quote", {"sku": "A1"})
        assert [e.type for e in mesh.events.events()] == [...]
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import fakeredis
import redis.asyncio as aioredis

from meshctl.config import MeshSettings
from meshctl.core.endpoint import Protocol, ServiceEndpoint
from meshctl.events import MemoryEventBus
from meshctl.mesh import ServiceMeshClient, open_mesh
from meshctl.registry import ServiceRegistry, open_registry
from meshctl.services.base import GrpcServiceApp, HttpServiceApp
from meshctl.testing.net import LOOPBACK
from meshctl.testing.services import served


@dataclass
class MemoryMesh:
    """What ``memory_mesh`` yields: a started client and the in-memory infrastructure.

    Attributes:
        client: the started mesh client (``call_service``, ``publish_event``, ...).
        registry: the registry, on fakeredis; register instances here.
        events: the event bus; ``events.events()`` lists what was published.
        redis: the fakeredis client under the registry and control plane.
        settings: the settings the mesh was opened with.
    """

    client: ServiceMeshClient
    registry: ServiceRegistry
    events: MemoryEventBus
    redis: aioredis.Redis
    settings: MeshSettings

    async def register(
        self,
        service: str,
        port: int,
        *,
        protocol: Protocol = "grpc",
        host: str = LOOPBACK,
        ttl: float = 60,
        **fields: Any,
    ) -> ServiceEndpoint:
        """Register an instance of ``service`` at ``host:port``; the client sees it at once.

        Args:
            service: the service name callers use.
            port: where your server listens.
            protocol: ``"grpc"`` or ``"http"``.
            host: where your server listens.
            ttl: seconds the record lives (nothing renews it).
            fields: other :class:`ServiceEndpoint` fields (``metadata``, ``weight``, ...).
        """
        endpoint = ServiceEndpoint(service, host, port, protocol=protocol, **fields)
        await self.registry.register_service(service, endpoint, ttl=ttl)
        if self.client.watcher is not None:
            await self.client.watcher.refresh(service)
        return endpoint

    def serve(self, app: GrpcServiceApp | HttpServiceApp) -> AbstractAsyncContextManager[int]:
        """Serve a meshctl service app on loopback, registered in this mesh; yields its port."""
        return served(app, registry=self.registry)


@asynccontextmanager
async def memory_mesh(
    settings: MeshSettings | None = None, *, name: str = "test-client", **options: Any
) -> AsyncIterator[MemoryMesh]:
    """A started mesh client on a fresh in-memory registry and event bus.

    Args:
        settings: prefixes and defaults (the Redis and Kafka addresses are not used).
        name: the client's name in the mesh.
        options: passed to :class:`meshctl.mesh.ServiceMeshClient` (``breaker_config``,
            ``strategy``, ``retry``, ``clock``, ``rng``, ``control``, ...).
    """
    settings = settings or MeshSettings(prefix="mesh", topic_prefix="its")
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    registry = open_registry(settings, redis=redis)
    bus = MemoryEventBus(topic_prefix=settings.topic_prefix)
    try:
        async with open_mesh(
            settings, name=name, registry=registry, events=bus, **options
        ) as client:
            yield MemoryMesh(client, registry, bus, redis, settings)
    finally:
        await registry.aclose()
        await redis.aclose()
