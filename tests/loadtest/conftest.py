"""The command under test, the test's mesh settings and a server that stalls (on ``platform``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from typer.testing import CliRunner, Result

from meshctl.cli.app import app
from meshctl.config import MeshSettings
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.proto.its.v1 import common_pb2
from meshctl.testing import Platform

STALL_METHOD = "/its.v1.AnalyticsService/GetTrafficMetrics"


class StallingServer:
    """A gRPC server whose replies take ``stall`` seconds for requests arriving in a window."""

    def __init__(self) -> None:
        self.window: tuple[float, float] = (0.0, 0.0)
        self.stall = 0.0

    def stall_between(self, start: float, end: float, stall: float) -> None:
        self.window, self.stall = (start, end), stall

    async def handle(self, request: Any, context: Any) -> common_pb2.GetTrafficMetricsResponse:
        start, end = self.window
        if start <= time.monotonic() < end:
            await asyncio.sleep(self.stall)
        return common_pb2.GetTrafficMetricsResponse()


class Loadtest:
    """``meshctl loadtest ARGS`` against the test's Redis and key prefix."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.base = ["--redis-url", redis_url, "--prefix", prefix, "loadtest"]

    async def __call__(self, *args: str) -> Result:
        """Run in a thread: the services under test keep serving on this test's loop."""
        return await asyncio.to_thread(CliRunner().invoke, app, [*self.base, *args])


@pytest.fixture
def loadtest(redis_url: str, key_prefix: str) -> Loadtest:
    return Loadtest(redis_url, key_prefix)


@pytest.fixture
def mesh_settings(redis_url: str, key_prefix: str) -> MeshSettings:
    return MeshSettings(redis_url=redis_url, prefix=key_prefix)


@pytest.fixture
async def stalling(platform: Platform) -> AsyncIterator[StallingServer]:
    """A stalling server registered as service ``stally`` (analytics' compiled descriptors)."""
    server = grpc.aio.server()
    stalling = StallingServer()
    handler = grpc.method_handlers_generic_handler(
        "its.v1.AnalyticsService",
        {
            "GetTrafficMetrics": grpc.unary_unary_rpc_method_handler(
                stalling.handle,
                request_deserializer=common_pb2.GetTrafficMetricsRequest.FromString,
                response_serializer=common_pb2.GetTrafficMetricsResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    endpoint = ServiceEndpoint(
        "stally", "127.0.0.1", port, metadata={"grpc_services": "its.v1.AnalyticsService"}
    )
    await platform.registry.register_service("stally", endpoint, ttl=30)
    try:
        yield stalling
    finally:
        await platform.registry.deregister_service("stally", endpoint.instance_id)
        await server.stop(0)
