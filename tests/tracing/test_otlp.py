"""Spans reach a collector over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` says where."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from meshctl.core.context import CorrelationContext
from meshctl.mesh import ServiceMeshClient
from meshctl.testing import Platform
from meshctl.transport.tracing import PROCESS_TRACING

pytestmark = pytest.mark.redis


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver on loopback: POST /v1/traces, protobuf bodies."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.paths.append(self.path)
                receiver.requests.append(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> dict[str, tuple[str, Span]]:
        """Every span received, by name, with its resource's service name."""
        found = {}
        for request in self.requests:
            for resource_spans in request.resource_spans:
                attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        found[span.name] = (attrs.get("service.name", ""), span)
        return found


@pytest.fixture
def otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "otlp-test")
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


async def test_spans_are_exported_to_the_collector(
    otlp: OtlpReceiver, platform: Platform, mesh: ServiceMeshClient
):
    await platform.start("analytics")  # the host starts the process's tracing: OTLP is asked for
    assert PROCESS_TRACING.tracer is not None
    caller = CorrelationContext.new("corr-otlp")

    request = {"camera_id": "c"}
    await mesh.call("analytics", "GetTrafficMetrics", request, correlation_context=caller)
    await asyncio.to_thread(PROCESS_TRACING.force_flush)

    assert set(otlp.paths) == {"/v1/traces"}
    received = otlp.spans()
    service, client = received["analytics/GetTrafficMetrics"]
    _, server = received["its.v1.AnalyticsService/GetTrafficMetrics"]
    assert service == "otlp-test"  # OTEL_SERVICE_NAME names the process
    assert client.trace_id.hex() == server.trace_id.hex() == caller.trace_id
    assert client.parent_span_id.hex() == caller.span_id
    assert server.parent_span_id == client.span_id
    assert (client.kind, server.kind) == (Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_SERVER)


async def test_the_sdk_disabled_traces_nothing(
    otlp: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, platform: Platform
):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    await platform.start("analytics")
    assert PROCESS_TRACING.tracer is None
