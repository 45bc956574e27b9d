"""The streaming gRPC service: validate, queue durably, forward to analytics, retry what failed.

A frame is answered once its outcome is committed: FORWARDED once analytics
answered and the status is stored, QUEUED (with the error) once the failed
attempt is stored. A frame accepted is stored before it is forwarded; one left
queued (analytics failed, or this process died) is sent again by the retry
loop of any replica, from ``forward_timeout + FIRST_ATTEMPT_GRACE`` seconds
after it was accepted: the first attempt has given up by then, so a retry
does not race it.
Analytics answers a frame id it has seen as the first time, so a resend
neither loses nor doubles a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from meshctl._version import __version__
from meshctl.core.context import CorrelationContext, current_context, use_context
from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.proto.its.v1 import streaming_pb2 as spb
from meshctl.services.base import ServiceSettings
from meshctl.services.db import TransactionRunner
from meshctl.services.frames import (
    aggregate,
    frame_stats,
    metrics_query,
    to_seconds,
    to_timestamp,
    validate_frame,
)
from meshctl.services.ids import new_id
from meshctl.services.rpc import service_handler
from meshctl.services.sql import open_database
from meshctl.services.streaming.forwarder import AnalyticsForwarder, MeshForwarder
from meshctl.services.streaming.storage import FORWARDED, QUEUED, FrameQueue

SERVICE = spb.DESCRIPTOR.services_by_name["StreamingService"]
log = logging.getLogger(__name__)
FIRST_ATTEMPT_GRACE = 1.0  # seconds past the forward timeout before a retry may take a frame


def backoff(attempts: int, initial: float, maximum: float) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from ``initial``, capped at ``maximum``."""
    return float(min(initial * 2 ** max(attempts - 1, 0), maximum))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__


class StreamingServicer:
    """Implements its.v1.StreamingService."""

    def __init__(
        self,
        queue: FrameQueue,
        forward: AnalyticsForwarder,
        settings: ServiceSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue = queue
        self.forward = forward
        self.settings = settings
        self.clock = clock
        self.started_at = clock()
        self.last_forward_failed = False
        self.wake = asyncio.Event()  # set when a frame is left queued

    async def ProcessDetections(
        self, request: pb.ProcessDetectionsRequest, context: Any
    ) -> spb.ProcessDetectionsResponse:
        frame = validate_frame(request)
        now = self.clock()
        if not frame.frame_id:
            frame.frame_id = new_id()
        if not frame.HasField("timestamp"):
            frame.timestamp.CopyFrom(to_timestamp(now))
        ctx = current_context() or CorrelationContext.new()
        reply = spb.ProcessDetectionsResponse(
            frame_id=frame.frame_id, correlation_id=ctx.correlation_id
        )
        stats = frame_stats(frame, to_seconds(frame.timestamp))
        payload = request.SerializeToString()
        due_at = now + self.settings.forward_timeout + FIRST_ATTEMPT_GRACE
        known = await self.queue.accept(
            frame.frame_id, stats, payload, ctx.correlation_id, now, due_at
        )
        if known is not None:  # a resend of a frame already accepted
            reply.status = (
                spb.FRAME_STATUS_FORWARDED if known == FORWARDED else spb.FRAME_STATUS_QUEUED
            )
        else:
            outcome = await self._forward(request, attempts=0)
            if isinstance(outcome, str):
                reply.status, reply.error = spb.FRAME_STATUS_QUEUED, outcome
            else:
                reply.status = spb.FRAME_STATUS_FORWARDED
                reply.analysis.CopyFrom(outcome)
        reply.queue_depth = await self.queue.depth()
        return reply

    async def _forward(
        self, request: pb.ProcessDetectionsRequest, attempts: int
    ) -> apb.AnalysisResult | str:
        """Send one frame; the analysis on success, else the error text (frame stays queued)."""
        frame_id = request.frame.frame_id
        try:
            result = await self.forward(request, timeout=self.settings.forward_timeout)
        except Exception as exc:  # any failure leaves the frame for the retry loop
            s = self.settings
            retry_at = self.clock() + backoff(
                attempts + 1, s.forward_retry_initial, s.forward_retry_max
            )
            error = _describe(exc)
            await self.queue.failed(frame_id, attempts + 1, error, retry_at)
            self.last_forward_failed = True
            self.wake.set()
            return error
        await self.queue.forwarded(frame_id)
        self.last_forward_failed = False
        return result

    async def retry_due(self) -> int:
        """Forward every queued frame that is due; returns how many got through."""
        delivered = 0
        for pending in await self.queue.due(self.clock()):
            request = pb.ProcessDetectionsRequest.FromString(pending.payload)
            with use_context(CorrelationContext.new(pending.correlation_id or None)):
                outcome = await self._forward(request, pending.attempts)
            if not isinstance(outcome, str):
                delivered += 1
        return delivered

    async def run_retries(self) -> None:
        """Retry queued frames as they fall due, until cancelled."""
        while True:
            try:
                await self.retry_due()
                next_due = await self.queue.next_due()
            except Exception:  # the database may be briefly away; try again later
                log.exception("retrying queued frames failed")
                next_due = self.clock() + self.settings.forward_retry_max
            delay = self.settings.forward_retry_max
            if next_due is not None:
                delay = min(max(next_due - self.clock(), 0.0), delay)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)

    async def GetTrafficMetrics(
        self, request: pb.GetTrafficMetricsRequest, context: Any
    ) -> pb.GetTrafficMetricsResponse:
        cameras, start, end, bucket = metrics_query(request, self.clock())
        rows = await self.queue.frames(cameras, start, end)
        return pb.GetTrafficMetricsResponse(metrics=aggregate(rows, start, end, bucket))

    async def HealthCheck(
        self, request: spb.HealthCheckRequest, context: Any
    ) -> spb.HealthCheckResponse:
        counts = await self.queue.counts()
        return spb.HealthCheckResponse(
            status="degraded" if self.last_forward_failed else "healthy",
            queue_depth=counts.get(QUEUED, 0),
            uptime_seconds=self.clock() - self.started_at,
            frames_accepted=sum(counts.values()),
            frames_forwarded=counts.get(FORWARDED, 0),
            version=__version__,
        )


class StreamingApp:
    """The streaming service as the host runs it.

    Args:
        settings: database, timeouts and retry backoff.
        forward: how frames reach analytics; default the mesh client.
        clock: wall-clock seconds.
    """

    name = "streaming"
    grpc_service_names = (SERVICE.full_name,)

    def __init__(
        self,
        settings: ServiceSettings,
        forward: AnalyticsForwarder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.forward = forward
        self.clock = clock
        self.engine: AsyncEngine | None = None
        self.writer: TransactionRunner | None = None
        self.servicer: StreamingServicer | None = None
        self._owned_forwarder: MeshForwarder | None = None
        self._retries: asyncio.Task[None] | None = None

    def add_to_server(self, server: grpc.aio.Server) -> None:
        if self.servicer is None:
            raise RuntimeError("start() the streaming app before serving it")
        server.add_generic_rpc_handlers((service_handler(SERVICE, self.servicer),))

    async def start(self) -> None:
        self.engine, sessions = await open_database(self.settings, self.name)
        forward = self.forward
        if forward is None:
            forward = self._owned_forwarder = MeshForwarder(self.settings)
        self.writer = TransactionRunner(self.engine)
        resync = self.settings.streaming_depth_resync_seconds
        queue = FrameQueue(sessions, self.writer, resync=resync)
        self.servicer = StreamingServicer(queue, forward, self.settings, self.clock)
        self._retries = asyncio.create_task(self.servicer.run_retries())

    async def stop(self) -> None:
        if self._retries is not None:
            self._retries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retries
            self._retries = None
        if self.servicer is not None:
            await self.servicer.queue.drain()
        if self._owned_forwarder is not None:
            await self._owned_forwarder.aclose()
            self._owned_forwarder = None
        if self.writer is not None:
            await self.writer.aclose()
            self.writer = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None
