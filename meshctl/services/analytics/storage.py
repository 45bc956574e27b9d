"""Analytics' tables (frames seen, violations, anomalies) and the queries over them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.db import Base
from meshctl.services.frames import FrameStats, enum_name, to_seconds, to_timestamp

DEFAULT_LIMIT = 100


class FrameRow(Base):
    __tablename__ = "analytics_frames"

    # Insertion order: replicas read newer rows by it, and it breaks ties of ts.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    frame_id: Mapped[str] = mapped_column(String(128), unique=True)
    camera_id: Mapped[str] = mapped_column(String(128), index=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    vehicle_count: Mapped[int] = mapped_column(Integer)
    detection_count: Mapped[int] = mapped_column(Integer)
    speed_sum: Mapped[float] = mapped_column(Float)
    speed_samples: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)

    def stats(self) -> FrameStats:
        return FrameStats(
            self.camera_id,
            self.ts,
            self.vehicle_count,
            self.detection_count,
            self.speed_sum,
            self.speed_samples,
            dict(self.counts),
        )


class ViolationRow(Base):
    __tablename__ = "analytics_violations"

    violation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    frame_id: Mapped[str] = mapped_column(String(128), index=True)
    camera_id: Mapped[str] = mapped_column(String(128), index=True)
    type: Mapped[int] = mapped_column(Integer)
    severity: Mapped[int] = mapped_column(Integer)
    track_id: Mapped[str] = mapped_column(String(128))
    vehicle_class: Mapped[int] = mapped_column(Integer)
    lane: Mapped[int] = mapped_column(Integer)
    detected_at: Mapped[float] = mapped_column(Float, index=True)
    measured: Mapped[float] = mapped_column(Float)
    limit: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(String(512))
    bbox: Mapped[list[float]] = mapped_column(JSON)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)

    @classmethod
    def of(cls, v: pb.Violation) -> ViolationRow:
        box = v.evidence.bbox
        return cls(
            violation_id=v.violation_id,
            frame_id=v.evidence.frame_id,
            camera_id=v.camera_id,
            type=v.type,
            severity=v.severity,
            track_id=v.track_id,
            vehicle_class=v.vehicle_class,
            lane=v.lane,
            detected_at=to_seconds(v.detected_at),
            measured=v.evidence.measured_value,
            limit=v.evidence.limit_value,
            description=v.evidence.description,
            bbox=[box.x, box.y, box.width, box.height],
            resolved=v.resolved,
        )

    def message(self) -> pb.Violation:
        x, y, width, height = self.bbox
        return pb.Violation(
            violation_id=self.violation_id,
            type=self.type,  # type: ignore[arg-type]
            severity=self.severity,  # type: ignore[arg-type]
            camera_id=self.camera_id,
            track_id=self.track_id,
            vehicle_class=self.vehicle_class,  # type: ignore[arg-type]
            lane=self.lane,
            detected_at=to_timestamp(self.detected_at),
            evidence=pb.Evidence(
                frame_id=self.frame_id,
                captured_at=to_timestamp(self.detected_at),
                bbox=pb.BoundingBox(x=x, y=y, width=width, height=height),
                measured_value=self.measured,
                limit_value=self.limit,
                description=self.description,
            ),
            resolved=self.resolved,
        )


class AnomalyRow(Base):
    __tablename__ = "analytics_anomalies"

    anomaly_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(128), index=True)
    type: Mapped[int] = mapped_column(Integer)
    severity: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(64))
    observed: Mapped[float] = mapped_column(Float)
    mean: Mapped[float] = mapped_column(Float)
    stddev: Mapped[float] = mapped_column(Float)
    z_score: Mapped[float] = mapped_column(Float)
    window_start: Mapped[float] = mapped_column(Float, index=True)
    window_end: Mapped[float] = mapped_column(Float)
    detected_at: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(String(512))

    @classmethod
    def of(cls, a: pb.Anomaly) -> AnomalyRow:
        return cls(
            anomaly_id=a.anomaly_id,
            camera_id=a.camera_id,
            type=a.type,
            severity=a.severity,
            metric=a.metric,
            observed=a.observed,
            mean=a.baseline_mean,
            stddev=a.baseline_stddev,
            z_score=a.z_score,
            window_start=to_seconds(a.window.start),
            window_end=to_seconds(a.window.end),
            detected_at=to_seconds(a.detected_at),
            description=a.description,
        )

    def message(self) -> pb.Anomaly:
        return pb.Anomaly(
            anomaly_id=self.anomaly_id,
            type=self.type,  # type: ignore[arg-type]
            severity=self.severity,  # type: ignore[arg-type]
            camera_id=self.camera_id,
            metric=self.metric,
            observed=self.observed,
            baseline_mean=self.mean,
            baseline_stddev=self.stddev,
            z_score=self.z_score,
            window=pb.TimeWindow(
                start=to_timestamp(self.window_start), end=to_timestamp(self.window_end)
            ),
            detected_at=to_timestamp(self.detected_at),
            description=self.description,
        )


class AnalyticsStore:
    """Reads and writes analytics' data; every write is one transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def save(
        self,
        frame_id: str,
        stats: FrameStats,
        violations: Sequence[pb.Violation],
        anomalies: Sequence[pb.Anomaly],
    ) -> int | None:
        """Store a frame's results: its row's seq, None when stored before (nothing written)."""
        row = FrameRow(
            frame_id=frame_id,
            camera_id=stats.camera_id,
            ts=stats.ts,
            vehicle_count=stats.vehicle_count,
            detection_count=stats.detection_count,
            speed_sum=stats.speed_sum,
            speed_samples=stats.speed_samples,
            counts=stats.counts,
        )
        try:
            async with self.sessions.begin() as session:
                session.add(row)
                session.add_all([ViolationRow.of(v) for v in violations])
                session.add_all([AnomalyRow.of(a) for a in anomalies])
                await session.flush()
                seq = row.seq
        except IntegrityError:
            return None
        return seq

    async def frame_exists(self, frame_id: str) -> bool:
        query = select(FrameRow.seq).where(FrameRow.frame_id == frame_id)
        async with self.sessions() as session:
            return await session.scalar(query) is not None

    async def frame_violations(self, frame_id: str) -> list[pb.Violation]:
        query = select(ViolationRow).where(ViolationRow.frame_id == frame_id)
        return [row.message() for row in await self._all(query)]

    async def frames(self, camera_ids: Sequence[str], start: float, end: float) -> list[FrameStats]:
        query = select(FrameRow).where(FrameRow.ts >= start, FrameRow.ts < end)
        if camera_ids:
            query = query.where(FrameRow.camera_id.in_(camera_ids))
        return [row.stats() for row in await self._all(query.order_by(FrameRow.ts, FrameRow.seq))]

    async def frames_after(self, seq: int) -> list[tuple[int, FrameStats]]:
        """Frames stored after row ``seq``, in insertion order."""
        query = select(FrameRow).where(FrameRow.seq > seq).order_by(FrameRow.seq)
        return [(row.seq, row.stats()) for row in await self._all(query)]

    async def newest_frames(
        self, since: float, up_to_seq: int, limit: int
    ) -> list[tuple[int, FrameStats]]:
        """At most ``limit`` frames from ``since`` on (rows up to ``up_to_seq``), newest first."""
        query = (
            select(FrameRow)
            .where(FrameRow.ts >= since, FrameRow.seq <= up_to_seq)
            .order_by(FrameRow.ts.desc(), FrameRow.seq.desc())
            .limit(limit)
        )
        return [(row.seq, row.stats()) for row in await self._all(query)]

    async def has_frames_before(self, ts: float, up_to_seq: int) -> bool:
        query = select(FrameRow.seq).where(FrameRow.ts < ts, FrameRow.seq <= up_to_seq).limit(1)
        async with self.sessions() as session:
            return await session.scalar(query) is not None

    async def last_seq(self) -> int:
        async with self.sessions() as session:
            return await session.scalar(select(func.max(FrameRow.seq))) or 0

    async def active_violations(
        self, camera_id: str, type_: int, min_severity: int, limit: int
    ) -> list[pb.Violation]:
        query = select(ViolationRow).where(ViolationRow.resolved.is_(False))
        if camera_id:
            query = query.where(ViolationRow.camera_id == camera_id)
        if type_:
            query = query.where(ViolationRow.type == type_)
        if min_severity:
            query = query.where(ViolationRow.severity >= min_severity)
        query = query.order_by(ViolationRow.detected_at.desc()).limit(limit or DEFAULT_LIMIT)
        return [row.message() for row in await self._all(query)]

    async def anomalies(
        self, camera_ids: Sequence[str], start: float, end: float, min_severity: int, limit: int
    ) -> list[pb.Anomaly]:
        query = select(AnomalyRow).where(
            AnomalyRow.window_start >= start, AnomalyRow.window_start < end
        )
        if camera_ids:
            query = query.where(AnomalyRow.camera_id.in_(camera_ids))
        if min_severity:
            query = query.where(AnomalyRow.severity >= min_severity)
        query = query.order_by(AnomalyRow.window_start.desc()).limit(limit or DEFAULT_LIMIT)
        return [row.message() for row in await self._all(query)]

    async def violation_counts(
        self, camera_ids: Sequence[str], start: float, end: float
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Violations detected in ``[start, end)`` by type name and by severity name."""
        query = select(ViolationRow.type, ViolationRow.severity).where(
            ViolationRow.detected_at >= start, ViolationRow.detected_at < end
        )
        if camera_ids:
            query = query.where(ViolationRow.camera_id.in_(camera_ids))
        async with self.sessions() as session:
            pairs = (await session.execute(query)).all()
        by_type = Counter(enum_name(pb.ViolationType, t, "VIOLATION_TYPE_") for t, _ in pairs)
        by_severity = Counter(enum_name(pb.Severity, s, "SEVERITY_") for _, s in pairs)
        return dict(by_type), dict(by_severity)

    async def _all(self, query: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.scalars(query)).all())
