"""The analytics gRPC service: rules and baselines over frames, stored in SQL.

Reads go through a ``FrameView`` (recent frames, violations and anomalies in
memory; SQL for what memory does not hold); frames are written through
``FrameWrites`` (group commit, redeliveries answered from memory).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from meshctl.core.context import current_context
from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics.anomaly import AnomalyFinding, Baseline
from meshctl.services.analytics.recent import FrameView
from meshctl.services.analytics.rules import Finding, evaluate_frame
from meshctl.services.analytics.storage import AnalyticsStore, FrameRecord
from meshctl.services.analytics.writes import FrameWrites
from meshctl.services.base import ServiceSettings
from meshctl.services.db import TransactionRunner
from meshctl.services.frames import (
    aggregate,
    enum_name,
    frame_stats,
    metrics_query,
    to_seconds,
    to_timestamp,
    totals,
    validate_frame,
    window_bounds,
)
from meshctl.services.ids import new_id
from meshctl.services.rpc import service_handler
from meshctl.services.sql import open_database

SERVICE = apb.DESCRIPTOR.services_by_name["AnalyticsService"]


def _violation(frame: pb.Frame, ts: float, det: pb.Detection, hit: Finding) -> pb.Violation:
    return pb.Violation(
        violation_id=new_id(),
        type=hit.type,  # type: ignore[arg-type]
        severity=hit.severity,  # type: ignore[arg-type]
        camera_id=frame.camera_id,
        track_id=det.track_id,
        vehicle_class=det.vehicle_class,
        lane=det.lane,
        detected_at=to_timestamp(ts),
        evidence=pb.Evidence(
            frame_id=frame.frame_id,
            captured_at=to_timestamp(ts),
            bbox=det.bbox,
            measured_value=hit.measured,
            limit_value=hit.limit,
            description=hit.description,
        ),
    )


def _anomaly(camera_id: str, found: AnomalyFinding, now: float) -> pb.Anomaly:
    kind = enum_name(pb.AnomalyType, found.type, "ANOMALY_TYPE_").replace("_", " ")
    return pb.Anomaly(
        anomaly_id=new_id(),
        type=found.type,  # type: ignore[arg-type]
        severity=found.severity,  # type: ignore[arg-type]
        camera_id=camera_id,
        metric=found.metric,
        observed=found.observed,
        baseline_mean=found.mean,
        baseline_stddev=found.stddev,
        z_score=found.z_score,
        window=pb.TimeWindow(
            start=to_timestamp(found.window_start), end=to_timestamp(found.window_end)
        ),
        detected_at=to_timestamp(now),
        description=f"{kind}: {found.metric} {found.observed:.1f} against a baseline of "
        f"{found.mean:.1f} (z={found.z_score:.1f})",
    )


class AnalyticsServicer:
    """Implements its.v1.AnalyticsService."""

    def __init__(
        self,
        store: AnalyticsStore,
        settings: ServiceSettings,
        clock: Callable[[], float] = time.time,
        view: FrameView | None = None,
    ) -> None:
        self.store = store
        self.view = view  # None: metrics read from SQL every time
        self.settings = settings
        self.clock = clock
        self.baselines: dict[str, Baseline] = {}
        self._baseline_lock = asyncio.Lock()
        self.writes = FrameWrites(
            store,
            view,
            window=settings.analytics_commit_window_seconds,
            max_batch=settings.analytics_commit_max_frames,
            remember=settings.analytics_remembered_frames,
        )

    @property
    def reads(self) -> FrameView | AnalyticsStore:
        """Where reads go: the recent view (memory, else SQL), or SQL when there is none."""
        return self.view or self.store

    async def _baseline(self, camera_id: str, before: float) -> Baseline:
        """The camera's baseline, rebuilt from stored frames the first time it is needed."""
        async with self._baseline_lock:
            baseline = self.baselines.get(camera_id)
            if baseline is None:
                s = self.settings
                baseline = Baseline(
                    s.anomaly_window_seconds,
                    s.anomaly_z_threshold,
                    s.anomaly_min_history,
                    s.anomaly_history_windows,
                )
                since = before - (s.anomaly_history_windows + 1) * s.anomaly_window_seconds
                for row in await self.store.frames([camera_id], since, before):
                    baseline.observe(row.ts, row.vehicle_count, row.speed_sum, row.speed_samples)
                self.baselines[camera_id] = baseline
            return baseline

    async def _analyse(
        self, frame: pb.Frame, correlation_id: str
    ) -> tuple[FrameRecord, apb.AnalysisResult]:
        """What to store of a frame, and its answer without violations and anomalies yet."""
        now = self.clock()
        ts = to_seconds(frame.timestamp) if frame.HasField("timestamp") else now
        stats = frame_stats(frame, ts)
        result = apb.AnalysisResult(
            frame_id=frame.frame_id,
            camera_id=frame.camera_id,
            vehicle_count=stats.vehicle_count,
            average_speed_kmh=stats.speed_sum / stats.speed_samples if stats.speed_samples else 0,
            correlation_id=correlation_id,
        )
        limits = self.settings.speed_limits_kmh
        hits = evaluate_frame(frame, limits, self.settings.default_speed_limit_kmh)
        violations = [_violation(frame, ts, det, hit) for det, hit in hits]
        baseline = await self._baseline(frame.camera_id, ts)
        found = baseline.observe(ts, stats.vehicle_count, stats.speed_sum, stats.speed_samples)
        anomalies = [_anomaly(frame.camera_id, f, now) for f in found]
        return FrameRecord(frame.frame_id, stats, violations, anomalies), result

    async def ProcessDetections(
        self, request: pb.ProcessDetectionsRequest, context: Any
    ) -> apb.AnalysisResult:
        frame = validate_frame(request)
        ctx = current_context()
        correlation_id = ctx.correlation_id if ctx else ""
        if not frame.frame_id:
            frame.frame_id = new_id()
        earlier = await self.writes.claim(frame.frame_id)
        if earlier is not None:
            # A redelivery (streaming retries at least once): answer as the first time.
            if earlier.correlation_id == correlation_id:
                return earlier
            again = apb.AnalysisResult()
            again.CopyFrom(earlier)
            again.correlation_id = correlation_id
            return again
        try:
            record, result = await self._analyse(frame, correlation_id)
        except BaseException:
            self.writes.abandon(frame.frame_id)
            raise
        return await self.writes.write(record, result)

    async def GetTrafficMetrics(
        self, request: pb.GetTrafficMetricsRequest, context: Any
    ) -> pb.GetTrafficMetricsResponse:
        cameras, start, end, bucket = metrics_query(request, self.clock())
        rows = await self.reads.frames(cameras, start, end)
        return pb.GetTrafficMetricsResponse(metrics=aggregate(rows, start, end, bucket))

    async def GetActiveViolations(
        self, request: apb.GetActiveViolationsRequest, context: Any
    ) -> apb.GetActiveViolationsResponse:
        violations = await self.reads.active_violations(
            request.camera_id, request.type, request.min_severity, max(request.limit, 0)
        )
        return apb.GetActiveViolationsResponse(violations=violations)

    async def GetTrafficAnomalies(
        self, request: apb.GetTrafficAnomaliesRequest, context: Any
    ) -> apb.GetTrafficAnomaliesResponse:
        start, end = window_bounds(request.window, request.HasField("window"), self.clock())
        cameras = [request.camera_id] if request.camera_id else []
        anomalies = await self.reads.anomalies(
            cameras, start, end, request.min_severity, max(request.limit, 0)
        )
        return apb.GetTrafficAnomaliesResponse(anomalies=anomalies)

    async def GenerateReport(
        self, request: apb.GenerateReportRequest, context: Any
    ) -> apb.GenerateReportResponse:
        now = self.clock()
        start, end = window_bounds(request.window, request.HasField("window"), now)
        cameras = list(request.camera_ids)
        rows = await self.reads.frames(cameras, start, end)
        total = totals(rows, start, end)
        by_type, by_severity = await self.reads.violation_counts(cameras, start, end)
        anomalies = await self.reads.anomalies(cameras, start, end, 0, 0)
        report = apb.TrafficReport(
            report_id=new_id(),
            window=pb.TimeWindow(start=to_timestamp(start), end=to_timestamp(end)),
            camera_ids=sorted({row.camera_id for row in rows}),
            frame_count=total.frames,
            vehicle_count=total.vehicles,
            counts_by_class=total.counts,
            average_speed_kmh=total.average_speed,
            violations_by_type=by_type,
            violations_by_severity=by_severity,
            anomaly_count=len(anomalies),
            anomalies=anomalies,
            generated_at=to_timestamp(now),
        )
        return apb.GenerateReportResponse(report=report)


class AnalyticsApp:
    """The analytics service as the host runs it."""

    name = "analytics"
    grpc_service_names = (SERVICE.full_name,)

    def __init__(self, settings: ServiceSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.engine: AsyncEngine | None = None
        self.writer: TransactionRunner | None = None
        self.servicer: AnalyticsServicer | None = None

    def add_to_server(self, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((service_handler(SERVICE, self._servicer()),))

    def _servicer(self) -> AnalyticsServicer:
        if self.servicer is None:
            raise RuntimeError("start() the analytics app before serving it")
        return self.servicer

    async def start(self) -> None:
        self.engine, sessions = await open_database(self.settings, self.name)
        self.writer = TransactionRunner(self.engine)
        store = AnalyticsStore(sessions, self.writer)
        s = self.settings
        view = None
        if s.analytics_recent_max_frames:
            view = await FrameView.load(
                store,
                s.analytics_recent_seconds,
                s.analytics_recent_max_frames,
                s.analytics_refresh_seconds,
                self.clock,
            )
        self.servicer = AnalyticsServicer(store, s, self.clock, view)

    async def stop(self) -> None:
        if self.servicer is not None:
            await self.servicer.writes.drain()
        if self.writer is not None:
            await self.writer.aclose()
            self.writer = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None
