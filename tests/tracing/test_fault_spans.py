"""Server spans of calls a fault was injected into say so, and only those."""

from __future__ import annotations

import time

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from meshctl.core.faults import fault_from_options
from meshctl.errors import MeshError
from meshctl.mesh import ServiceMeshClient
from meshctl.registry.faults import inject_fault
from meshctl.testing import Platform
from meshctl.transport.server_context import FAULT_ATTRIBUTE
from tests.tracing.conftest import by_name

pytestmark = pytest.mark.redis


async def inject(platform: Platform, service: str, **options: str) -> None:
    fault = fault_from_options(service, now=time.time(), **options)  # type: ignore[arg-type]
    await inject_fault(platform.registry.redis, platform.registry.prefix, fault)


async def test_an_injected_abort_and_delay_mark_the_server_span(
    platform: Platform, mesh: ServiceMeshClient, spans: InMemorySpanExporter
) -> None:
    await inject(platform, "analytics", abort="UNAVAILABLE", method="GetTrafficMetrics")
    await inject(platform, "analytics", delay="10ms", method="GetActiveViolations")
    await platform.start("analytics")
    with pytest.raises(MeshError):
        await mesh.call("analytics", "GetTrafficMetrics", {}, timeout=2.0)
    await mesh.call("analytics", "GetActiveViolations", {})
    await mesh.call("analytics", "GetTrafficAnomalies", {})

    finished = spans.get_finished_spans()
    [aborted] = by_name(finished, "its.v1.AnalyticsService/GetTrafficMetrics")
    [delayed] = by_name(finished, "its.v1.AnalyticsService/GetActiveViolations")
    [spared] = by_name(finished, "its.v1.AnalyticsService/GetTrafficAnomalies")
    assert aborted.attributes is not None and aborted.attributes[FAULT_ATTRIBUTE] is True
    assert aborted.attributes["rpc.grpc.status_code"] == "UNAVAILABLE"
    assert aborted.status.status_code is StatusCode.ERROR
    assert delayed.attributes is not None and delayed.attributes[FAULT_ATTRIBUTE] is True
    assert delayed.status.status_code is StatusCode.UNSET
    assert spared.attributes is not None and FAULT_ATTRIBUTE not in spared.attributes


async def test_an_http_abort_marks_the_server_span(
    platform: Platform, spans: InMemorySpanExporter
) -> None:
    await inject(platform, "auth", abort="503", method="verify")
    port = await platform.start("auth")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        assert (await http.get("/api/v1/auth/verify")).status_code == 503
    [server] = by_name(spans.get_finished_spans(), "GET /api/v1/auth/verify")
    assert server.attributes is not None and server.attributes[FAULT_ATTRIBUTE] is True
    assert server.attributes["http.response.status_code"] == 503
    assert server.status.status_code is StatusCode.ERROR
