"""Real calls through the mesh: discovery in Redis, balancer, breakers, gRPC/HTTP, services."""

from __future__ import annotations

import pytest

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.core.context import CorrelationContext
from meshctl.errors import (
    CircuitBreakerOpenError,
    ConnectionFailedError,
    InvalidRequestError,
    NoEndpointsError,
    RemoteCallError,
    UnknownMethodError,
)
from meshctl.proto.its.v1 import common_pb2
from meshctl.samples import sample_frame, sample_request
from meshctl.testing import Platform

ROUND_ROBIN = LoadBalancingStrategy.ROUND_ROBIN

GRPC_METHODS = {
    "analytics": [
        "ProcessDetections",
        "GetTrafficMetrics",
        "GetActiveViolations",
        "GetTrafficAnomalies",
        "GenerateReport",
    ],
    "alert": [
        "ProcessViolationAlert",
        "ProcessAnomalyAlert",
        "SendAlert",
        "GetAlertStatistics",
        "RetryFailedAlerts",
    ],
    "streaming": ["ProcessDetections", "GetTrafficMetrics", "HealthCheck"],
}


async def test_every_grpc_method_answers_through_the_mesh(platform: Platform, mesh):
    for name in ("analytics", "alert", "streaming"):
        await platform.start(name)
    for service, methods in GRPC_METHODS.items():
        for method in methods:
            reply = await mesh.call_service(service, method, sample_request(service, method))
            assert isinstance(reply, dict), (service, method)
    frame = await mesh.call_service("streaming", "ProcessDetections", {"frame": sample_frame()})
    assert frame["status"] == "FRAME_STATUS_FORWARDED"
    assert frame["analysis"]["violations"][0]["type"] == "VIOLATION_TYPE_SPEEDING"
    metrics = await mesh.call_service("analytics", "GetTrafficMetrics", {"camera_id": "cam001"})
    assert metrics["metrics"][0]["vehicle_count"] >= 4
    sent = await mesh.call_service("alert", "SendAlert", sample_request("alert", "SendAlert"))
    alert_id = sent["alert"]["alert_id"]
    ack = await mesh.call_service(
        "alert", "AcknowledgeAlert", {"alert_id": alert_id, "acknowledged_by": "op"}
    )
    assert ack["alert"]["status"] == "ALERT_STATUS_ACKNOWLEDGED"
    stats = await mesh.call_service("alert", "GetAlertStatistics", {})
    assert stats["acknowledged"] >= 1


async def test_auth_routes_through_the_mesh(platform: Platform, mesh):
    await platform.start("auth")
    health = await mesh.call_service("auth", "health")
    assert health["status"] in ("healthy", "ok")
    tokens = await mesh.call_service(
        "auth", "login", {"username": "admin", "password": "s3cret-pass"}
    )
    verified = await mesh.call_service(
        "auth", "verify", metadata={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert verified["subject"] == "admin"
    refreshed = await mesh.call_service(
        "auth", "refresh", {"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed["access_token"]
    with pytest.raises(RemoteCallError) as info:
        await mesh.call_service("auth", "login", {"username": "admin", "password": "wrong"})
    assert info.value.status == "HTTP 401" and not info.value.trips_breaker
    with pytest.raises(UnknownMethodError, match="login"):
        await mesh.call_service("auth", "nosuchroute")


async def test_correlation_travels_two_hops(platform: Platform, mesh):
    await platform.start("analytics")
    await platform.start("streaming")
    ctx = CorrelationContext.new("corr-two-hops")
    reply = await mesh.call_service(
        "streaming", "ProcessDetections", {"frame": sample_frame()}, correlation_context=ctx
    )
    assert reply["correlation_id"] == "corr-two-hops"
    assert reply["analysis"]["correlation_id"] == "corr-two-hops"


async def test_protobuf_requests_and_message_replies(platform: Platform, mesh):
    await platform.start("analytics")
    request = common_pb2.GetTrafficMetricsRequest(camera_id="cam-x")
    reply = await mesh.call_service("analytics", "GetTrafficMetrics", request, as_message=True)
    assert type(reply).__name__ == "GetTrafficMetricsResponse"
    full = await mesh.call(
        "analytics", "its.v1.AnalyticsService/GetTrafficMetrics", {"camera_id": "x"}
    )
    assert full.endpoint.port == platform.ports["analytics"][0]
    assert full.correlation_id and full.attempts == 1


async def test_bad_requests_give_clear_errors_and_spare_the_breaker(platform: Platform, mesh):
    await platform.start("analytics")
    bad = {"frame": {"camera_id": "c", "detections": [{"confidence": "very"}]}}
    with pytest.raises(InvalidRequestError, match="confidence"):
        await mesh.call_service("analytics", "ProcessDetections", bad)
    with pytest.raises(InvalidRequestError, match="no_such_field"):
        await mesh.call_service("analytics", "GetTrafficMetrics", {"no_such_field": 1})
    with pytest.raises(InvalidRequestError, match="JSON object"):
        await mesh.call_service("analytics", "GetTrafficMetrics", [1, 2])
    with pytest.raises(UnknownMethodError, match="GenerateReport"):
        await mesh.call_service("analytics", "NoSuchMethod", {})
    # The service validates too: a confidence outside 0..1 is INVALID_ARGUMENT, named.
    frame = sample_frame()
    frame["detections"][0]["confidence"] = 7
    with pytest.raises(RemoteCallError, match="confidence") as info:
        await mesh.call_service("analytics", "ProcessDetections", {"frame": frame})
    assert info.value.exit_code == 2
    status = await mesh.get_circuit_breaker_status()
    assert status["analytics"]["state"] == "closed"
    assert status["analytics"]["failure_count"] == 0


async def test_no_endpoints_error_names_the_service(platform: Platform, mesh):
    with pytest.raises(NoEndpointsError, match="No endpoints found for service ghost"):
        await mesh.call_service("ghost", "Anything", {})
    port = await platform.start("analytics")
    assert await mesh.call_service("analytics", "GetTrafficMetrics", {}) is not None
    await platform.stop(port)
    await mesh.watcher.refresh("analytics")
    with pytest.raises(NoEndpointsError, match="analytics"):
        await mesh.call_service("analytics", "GetTrafficMetrics", {})


async def test_dead_instance_is_ejected_while_its_sibling_serves(platform: Platform, mesh):
    live = await platform.start("analytics")
    # An instance whose record stays after it stopped, as a crashed process leaves it.
    dead = (await platform.ghost("analytics")).port
    assert len(await mesh.registry.discover_services("analytics")) == 2
    await mesh.watcher.refresh("analytics")
    ports = []
    for _ in range(20):
        # Round robin tries the dead one again; health-aware may shun it after one failure.
        result = await mesh.call("analytics", "GetTrafficMetrics", {}, strategy=ROUND_ROBIN)
        ports.append(result.endpoint.port)
    assert set(ports) == {live}  # every call answered, by the live one
    health = await mesh.get_service_health("analytics")
    states = {row["address"].rsplit(":", 1)[1]: row["breaker"] for row in health["endpoints"]}
    assert states[str(dead)] == "open"
    assert states[str(live)] == "closed"
    assert health["healthy_endpoints"] == 1 and health["total_endpoints"] == 2


async def test_all_endpoints_open_gives_the_breaker_message(platform: Platform, mesh):
    ep = await platform.ghost("analytics")
    await mesh.watcher.refresh("analytics")
    for _ in range(2):
        with pytest.raises(
            ConnectionFailedError, match=f"Channel connectivity failure to {ep.address}"
        ):
            await mesh.call_service("analytics", "GetTrafficMetrics", {}, timeout=2)
    with pytest.raises(CircuitBreakerOpenError, match="Circuit breaker open for analytics"):
        await mesh.call_service("analytics", "GetTrafficMetrics", {}, timeout=2)
