"""Streaming over real gRPC: validation, forwarding with context, durable queue and retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from meshctl.core.context import CorrelationContext
from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.proto.its.v1 import streaming_pb2 as spb
from meshctl.proto.its.v1 import streaming_pb2_grpc
from meshctl.services import analytics
from meshctl.services.streaming import DirectForwarder, StreamingApp
from meshctl.services.streaming.service import backoff
from meshctl.testing import FakeClock, served
from tests.support.services import T0, cars, frame, settings


class Unreachable:
    """A forwarder whose analytics is down."""

    async def __call__(self, request: Any, *, timeout: float) -> apb.AnalysisResult:
        raise ConnectionError("analytics is down")


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 0.5, 3) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 3, 3]


async def test_forwards_to_analytics_with_the_callers_correlation_id(
    database_url: str, tmp_path: Path
) -> None:
    analytics_db = f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}"
    async with served(analytics.build(settings(analytics_db))) as analytics_port:
        forward = DirectForwarder(f"127.0.0.1:{analytics_port}")
        app = StreamingApp(settings(database_url), forward=forward)
        try:
            async with served(app) as port, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = streaming_pb2_grpc.StreamingServiceStub(ch)
                ctx = CorrelationContext.new("corr-stream-1")
                reply = await stub.ProcessDetections(
                    frame("cam-9", T0 + 1, *cars(3, speed=80)),
                    metadata=tuple(ctx.to_headers().items()),
                )
                assert reply.status == spb.FRAME_STATUS_FORWARDED
                assert reply.correlation_id == "corr-stream-1"
                assert reply.analysis.correlation_id == "corr-stream-1"  # seen by analytics
                assert reply.analysis.frame_id == reply.frame_id != ""
                assert len(reply.analysis.violations) == 3 and reply.queue_depth == 0

                metrics = await stub.GetTrafficMetrics(pb.GetTrafficMetricsRequest())
                [m] = metrics.metrics
                assert (m.camera_id, m.vehicle_count, m.average_speed_kmh) == ("cam-9", 3, 80)

                health = await stub.HealthCheck(spb.HealthCheckRequest())
                assert (health.status, health.queue_depth, health.frames_forwarded) == (
                    "healthy",
                    0,
                    1,
                )
                assert health.uptime_seconds >= 0

                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.ProcessDetections(frame("", T0))
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "frame.camera_id" in (caught.value.details() or "")
        finally:
            await forward.aclose()


async def test_unforwarded_frames_survive_a_restart_and_are_retried(
    database_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(T0 + 1000)
    config = settings(database_url, forward_retry_initial=10, forward_retry_max=60)
    down = StreamingApp(config, forward=Unreachable(), clock=clock)
    async with served(down) as port, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = streaming_pb2_grpc.StreamingServiceStub(ch)
        reply = await stub.ProcessDetections(frame("cam-3", T0, *cars(2), frame_id="kept"))
        assert (reply.status, reply.queue_depth) == (spb.FRAME_STATUS_QUEUED, 1)
        assert "analytics is down" in reply.error
        resent = await stub.ProcessDetections(frame("cam-3", T0, *cars(2), frame_id="kept"))
        assert (resent.status, resent.queue_depth) == (spb.FRAME_STATUS_QUEUED, 1)
        health = await stub.HealthCheck(spb.HealthCheckRequest())
        assert (health.status, health.queue_depth) == ("degraded", 1)

    analytics_db = f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}"
    async with served(analytics.build(settings(analytics_db))) as analytics_port:
        forward = DirectForwarder(f"127.0.0.1:{analytics_port}")
        up = StreamingApp(config, forward=forward, clock=clock)
        await up.start()
        try:
            assert up.servicer is not None
            assert await up.servicer.retry_due() == 0  # backoff not over yet
            clock.now += 10
            assert await up.servicer.retry_due() == 1
            health = await up.servicer.HealthCheck(spb.HealthCheckRequest(), None)
            assert (health.queue_depth, health.frames_forwarded) == (0, 1)
        finally:
            await up.stop()
            await forward.aclose()
