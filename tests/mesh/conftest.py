"""A fleet of small gRPC instances on loopback that can be killed, hung or brought back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2_grpc

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.mesh import ServiceMeshClient, open_mesh
from meshctl.proto.its.v1 import common_pb2
from meshctl.registry import ServiceRegistry
from meshctl.testing import Platform

SERVICE = "fleet"
GRPC_SERVICE = "its.v1.AnalyticsService"
METADATA = {"grpc_services": GRPC_SERVICE}


def quiet_client(platform: Platform, **options: Any) -> ServiceMeshClient:
    """A client of the platform's registry with no bus, no control plane, a 0.2 s connect."""
    return open_mesh(
        platform.settings,
        registry=platform.registry,
        events=False,
        control=False,
        connect_timeout=0.2,
        **options,
    )


class Fleet:
    """Instances of service ``fleet`` answering GetTrafficMetrics and grpc.health.v1.

    ``kill`` closes an instance's server and connections at once, leaving its
    registry record behind (a crashed process); ``stuck`` makes an instance
    take requests and never answer, ``slow`` answer late; ``silent`` registers a listener that
    accepts connections and never speaks HTTP/2 (a paused process).
    """

    def __init__(self, registry: ServiceRegistry) -> None:
        self.registry = registry
        self.servers: dict[int, grpc.aio.Server] = {}
        self.endpoints: dict[int, ServiceEndpoint] = {}
        self.stuck: set[int] = set()
        self.slow: dict[int, float] = {}  # port -> seconds each answer takes
        self._listeners: list[asyncio.Server] = []
        self._held: list[asyncio.StreamWriter] = []
        self._never = asyncio.Event()

    async def start(self, port: int = 0) -> ServiceEndpoint:
        """A new instance, registered; on ``port`` if given."""
        return await self._register(await self.serve(port))

    async def serve(self, port: int = 0) -> int:
        """Serve (again) on ``port`` without registering: a killed instance comes back."""
        server = grpc.aio.server()

        async def metrics(request: Any, context: Any) -> common_pb2.GetTrafficMetricsResponse:
            if bound in self.stuck:
                await self._never.wait()
            await asyncio.sleep(self.slow.get(bound, 0.0))
            return common_pb2.GetTrafficMetricsResponse()

        handler = grpc.method_handlers_generic_handler(
            GRPC_SERVICE,
            {
                "GetTrafficMetrics": grpc.unary_unary_rpc_method_handler(
                    metrics,
                    request_deserializer=common_pb2.GetTrafficMetricsRequest.FromString,
                    response_serializer=common_pb2.GetTrafficMetricsResponse.SerializeToString,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        self.servers[bound] = server
        return bound

    async def _register(self, port: int) -> ServiceEndpoint:
        endpoint = ServiceEndpoint(SERVICE, "127.0.0.1", port, metadata=METADATA)
        await self.registry.register_service(SERVICE, endpoint, ttl=60)
        self.endpoints[port] = endpoint
        return endpoint

    async def kill(self, port: int) -> None:
        await self.servers.pop(port).stop(None)

    async def silent(self) -> ServiceEndpoint:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._held.append(writer)
            await reader.read()

        listener = await asyncio.start_server(hold, "127.0.0.1", 0)
        self._listeners.append(listener)
        return await self._register(listener.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        self._never.set()
        for server in self.servers.values():
            await server.stop(None)
        for writer in self._held:
            writer.close()
        for listener in self._listeners:
            listener.close()
            await listener.wait_closed()


@pytest.fixture
async def fleet(platform: Platform) -> AsyncIterator[Fleet]:
    fleet = Fleet(platform.registry)
    try:
        yield fleet
    finally:
        await fleet.aclose()
