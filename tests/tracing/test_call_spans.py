"""Mesh calls across real gRPC services on loopback become client and server spans."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.core.context import CorrelationContext
from meshctl.errors import NoEndpointsError, RemoteCallError
from meshctl.mesh import ServiceMeshClient
from meshctl.samples import sample_frame
from meshctl.testing import Platform
from tests.tracing.conftest import by_name, hex_id

pytestmark = pytest.mark.redis
ROUND_ROBIN = LoadBalancingStrategy.ROUND_ROBIN


async def test_a_call_through_two_services_is_one_trace_of_parents_and_children(
    platform: Platform, mesh: ServiceMeshClient, spans: InMemorySpanExporter
):
    await platform.start("analytics")
    await platform.start("streaming")  # forwards each frame to analytics through the mesh
    caller = CorrelationContext.new("corr-1")

    result = await mesh.call(
        "streaming", "ProcessDetections", {"frame": sample_frame()}, correlation_context=caller
    )

    finished = spans.get_finished_spans()
    [client] = by_name(finished, "streaming/ProcessDetections")
    [server] = by_name(finished, "its.v1.StreamingService/ProcessDetections")
    [forward] = by_name(finished, "analytics/ProcessDetections")
    [analytics] = by_name(finished, "its.v1.AnalyticsService/ProcessDetections")
    assert (client.kind, server.kind) == (SpanKind.CLIENT, SpanKind.SERVER)
    assert (forward.kind, analytics.kind) == (SpanKind.CLIENT, SpanKind.SERVER)
    # One trace, the caller's; each span's parent is the one before it.
    assert {hex_id(s.context.trace_id, 32) for s in finished} == {caller.trace_id}
    assert result.trace_id == caller.trace_id
    assert client.parent is not None and hex_id(client.parent.span_id) == caller.span_id
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert forward.parent is not None and forward.parent.span_id == server.context.span_id
    assert analytics.parent is not None and analytics.parent.span_id == forward.context.span_id
    assert server.parent.is_remote and analytics.parent.is_remote
    # Who did what, and where.
    assert client.attributes is not None and server.attributes is not None
    assert client.attributes["mesh.service"] == "test-client"
    assert client.attributes["rpc.service"] == "streaming"
    assert client.attributes["rpc.method"] == "ProcessDetections"
    assert client.attributes["rpc.system"] == "grpc"
    assert client.attributes["mesh.endpoint.instance_id"] == result.endpoint.instance_id
    assert client.attributes["server.address"] == result.endpoint.address
    assert client.attributes["mesh.breaker.state"] == "closed"
    assert client.attributes["mesh.attempts"] == 1
    assert client.attributes["mesh.correlation_id"] == "corr-1"
    assert server.attributes["mesh.service"] == "streaming"
    assert server.attributes["rpc.grpc.status_code"] == "OK"
    assert forward.attributes is not None and forward.attributes["mesh.service"] == "streaming"
    assert [e.name for e in client.events] == ["attempt"]
    assert all(s.status.status_code is StatusCode.UNSET for s in finished)


async def test_a_call_without_a_context_starts_a_trace_of_its_own(
    platform: Platform, mesh: ServiceMeshClient, spans: InMemorySpanExporter
):
    await platform.start("analytics")

    result = await mesh.call("analytics", "GetTrafficMetrics", {"camera_id": "cam-1"})

    [client] = by_name(spans.get_finished_spans(), "analytics/GetTrafficMetrics")
    [server] = by_name(spans.get_finished_spans(), "its.v1.AnalyticsService/GetTrafficMetrics")
    assert client.parent is None
    assert hex_id(client.context.trace_id, 32) == result.trace_id
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert client.attributes is not None
    assert client.attributes["mesh.correlation_id"] == result.correlation_id


async def test_a_failed_call_is_an_error_span(mesh: ServiceMeshClient, spans: InMemorySpanExporter):
    with pytest.raises(NoEndpointsError):
        await mesh.call("nowhere", "Get", {}, timeout=1.0)

    [client] = by_name(spans.get_finished_spans(), "nowhere/Get")
    assert client.status.status_code is StatusCode.ERROR
    assert client.attributes is not None and client.attributes["mesh.attempts"] == 0
    assert client.attributes["error.type"] == "NoEndpointsError"


async def test_retries_are_attempt_events_on_the_call_span(
    platform: Platform, mesh: ServiceMeshClient, spans: InMemorySpanExporter
):
    await platform.start("analytics")
    ghost = await platform.ghost("analytics")  # registered, port shut: its attempt fails
    live = [e for e in await platform.registry.discover_services("analytics") if e != ghost]

    for _ in range(2):  # round robin: one of the two calls goes to the ghost first
        await mesh.call(
            "analytics", "GetTrafficMetrics", {"camera_id": "cam-1"}, strategy=ROUND_ROBIN
        )

    calls = by_name(spans.get_finished_spans(), "analytics/GetTrafficMetrics")
    retried = [c for c in calls if len(c.events) > 1]
    assert retried, "no call tried the ghost first"
    first, second = retried[0].events[:2]
    assert first.attributes is not None and second.attributes is not None
    assert first.attributes["mesh.endpoint.instance_id"] == ghost.instance_id
    assert first.attributes["outcome"] != "ok" and first.attributes["retry"] is False
    assert second.attributes["retry"] is True and second.attributes["outcome"] == "ok"
    assert retried[0].attributes is not None
    assert retried[0].attributes["mesh.retries"] == len(retried[0].events) - 1
    assert retried[0].attributes["mesh.endpoint.instance_id"] == live[0].instance_id


async def test_the_http_auth_service_serves_in_a_server_span_of_the_call(
    platform: Platform, mesh: ServiceMeshClient, spans: InMemorySpanExporter
):
    await platform.start("auth")
    login = {"username": "admin", "password": "s3cret-pass"}

    result = await mesh.call("auth", "login", login)
    with pytest.raises(RemoteCallError):
        await mesh.call("auth", "login", {**login, "password": "wrong"})

    finished = spans.get_finished_spans()
    ok_client, failed_client = by_name(finished, "auth/login")
    ok_server, failed_server = by_name(finished, "POST /api/v1/auth/login")
    assert ok_server.kind is SpanKind.SERVER
    assert ok_server.parent is not None and ok_server.parent.span_id == ok_client.context.span_id
    assert hex_id(ok_server.context.trace_id, 32) == result.trace_id
    assert ok_client.attributes is not None and ok_client.attributes["rpc.system"] == "http"
    assert ok_server.attributes is not None and failed_server.attributes is not None
    assert ok_server.attributes["mesh.service"] == "auth"
    assert ok_server.attributes["http.route"] == "POST /api/v1/auth/login"
    assert ok_server.attributes["http.response.status_code"] == 200
    # A caller's mistake (401) fails the call, not the server's span.
    assert failed_server.attributes["http.response.status_code"] == 401
    assert failed_server.status.status_code is StatusCode.UNSET
    assert failed_client.status.status_code is StatusCode.ERROR


async def test_tracing_off_starts_no_span_on_the_call_path(
    platform: Platform, mesh: ServiceMeshClient, monkeypatch: pytest.MonkeyPatch
):
    def no_span(*args: object, **kwargs: object) -> None:
        raise AssertionError("a span was started with tracing off")

    for module in ("meshctl.mesh.client", "meshctl.transport.server_context"):
        monkeypatch.setattr(f"{module}.start_span", no_span)
    await platform.start("analytics")
    await platform.start("streaming")

    reply = await mesh.call_service("streaming", "ProcessDetections", {"frame": sample_frame()})

    assert reply["status"] == "FRAME_STATUS_FORWARDED"
