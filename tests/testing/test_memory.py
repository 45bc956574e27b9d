"""memory_mesh: the real client against your loopback servers, with no Redis and no Kafka."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from meshctl.core.breaker import CircuitBreakerConfig, CircuitState
from meshctl.errors import CircuitBreakerOpenError, ConnectionFailedError
from meshctl.proto.its.v1 import common_pb2
from meshctl.services import analytics
from meshctl.testing import WebhookReceiver, closed_port, memory_mesh
from tests.support.services import settings

ANALYTICS = "its.v1.AnalyticsService"


async def metrics(request: Any, context: Any) -> common_pb2.GetTrafficMetricsResponse:
    reply = common_pb2.GetTrafficMetricsResponse()
    reply.metrics.add(camera_id=request.camera_id, vehicle_count=7)
    return reply


@pytest.fixture
async def own_grpc_server() -> AsyncIterator[int]:
    """A gRPC server of 'your own': one method, no health or reflection service."""
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        ANALYTICS,
        {
            "GetTrafficMetrics": grpc.unary_unary_rpc_method_handler(
                metrics,
                request_deserializer=common_pb2.GetTrafficMetricsRequest.FromString,
                response_serializer=common_pb2.GetTrafficMetricsResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port
    await server.stop(None)


async def test_calls_your_grpc_server_and_keeps_events_in_memory(own_grpc_server: int) -> None:
    async with memory_mesh(name="pricing") as mesh:
        await mesh.register("traffic", own_grpc_server, metadata={"grpc_services": ANALYTICS})
        reply = await mesh.client.call_service("traffic", "GetTrafficMetrics", {"camera_id": "c1"})
        [one] = reply["metrics"]
        assert (one["camera_id"], one["vehicle_count"]) == ("c1", 7)

        event = await mesh.client.publish_event("alert.sent", {"alert_id": "a-1"})
        assert mesh.events.events() == [event]
        assert mesh.registry.prefix == "mesh" and mesh.client.name == "pricing"


async def test_calls_an_http_service_by_route_name() -> None:
    async with WebhookReceiver() as hook, memory_mesh() as mesh:
        routes = {"route.notify": "POST /notify"}
        await mesh.register("hooks", hook.port, protocol="http", metadata=routes)
        assert await mesh.client.call_service("hooks", "notify", {"n": 1}) == {"received": True}
    [received] = hook.requests
    assert (received.path, received.body) == ("/notify", {"n": 1})
    assert received.headers["x-correlation-id"]


async def test_breakers_open_on_an_instance_that_is_gone() -> None:
    config = CircuitBreakerConfig(failure_threshold=1)
    async with memory_mesh(breaker_config=config, control=False) as mesh:
        port = closed_port()
        await mesh.register("traffic", port, metadata={"grpc_services": ANALYTICS})
        with pytest.raises(ConnectionFailedError):
            await mesh.client.call_service("traffic", "GetTrafficMetrics", {}, timeout=2)
        with pytest.raises(CircuitBreakerOpenError):
            await mesh.client.call_service("traffic", "GetTrafficMetrics", {}, timeout=2)
        status = await mesh.client.get_circuit_breaker_status()
        assert status["traffic"]["state"] == CircuitState.OPEN.value


async def test_serves_a_reference_service_registered_in_the_memory_registry(
    tmp_path: Path,
) -> None:
    app = analytics.build(settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"))
    async with memory_mesh() as mesh, mesh.serve(app) as port:
        [endpoint] = await mesh.registry.discover_services("analytics")
        assert endpoint.port == port
        reply = await mesh.client.call_service("analytics", "GetTrafficMetrics", {})
        assert reply == {"metrics": []}
