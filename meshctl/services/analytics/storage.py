"""Analytics' tables (frames seen, violations, anomalies) and the queries over them."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Float,
    Index,
    Integer,
    Select,
    String,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.db import Base, TransactionRunner
from meshctl.services.frames import FrameStats, enum_name, to_seconds, to_timestamp
from meshctl.services.sql import insert_new

DEFAULT_LIMIT = 100
# Rows named in one IN (...): far below every database's limit on bound parameters.
_ROWS_PER_QUERY = 500
M = TypeVar("M", pb.Violation, pb.Anomaly)


@dataclass(frozen=True, slots=True)
class Held(Generic[M]):
    """A violation or anomaly as reads give it back, and the key reads order it by."""

    camera_id: str
    key: tuple[float, str]  # the time queries filter on (stored value), then the row's id
    message: M


# Each read's filters and order lead an index (camera, then time, then the tiebreak of its
# ORDER BY), so a query reads only the rows it returns.


class FrameRow(Base):
    __tablename__ = "analytics_frames"
    __table_args__ = (Index("ix_analytics_frames_camera_ts", "camera_id", "ts", "seq"),)

    # Insertion order: replicas read newer rows by it, and it breaks ties of ts.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    frame_id: Mapped[str] = mapped_column(String(128), unique=True)
    camera_id: Mapped[str] = mapped_column(String(128))
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
    __table_args__ = (
        Index("ix_analytics_violations_camera_time", "camera_id", "detected_at", "violation_id"),
        Index("ix_analytics_violations_time", "detected_at", "violation_id"),
    )

    violation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    frame_id: Mapped[str] = mapped_column(String(128), index=True)
    camera_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[int] = mapped_column(Integer)
    severity: Mapped[int] = mapped_column(Integer)
    track_id: Mapped[str] = mapped_column(String(128))
    vehicle_class: Mapped[int] = mapped_column(Integer)
    lane: Mapped[int] = mapped_column(Integer)
    detected_at: Mapped[float] = mapped_column(Float)
    measured: Mapped[float] = mapped_column(Float)
    limit: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(String(512))
    bbox: Mapped[list[float]] = mapped_column(JSON)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)

    @staticmethod
    def values(v: pb.Violation) -> dict[str, Any]:
        """The row's columns for an insert."""
        box = v.evidence.bbox
        return dict(
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

    def held(self) -> Held[pb.Violation]:
        return Held(self.camera_id, (self.detected_at, self.violation_id), self.message())


class AnomalyRow(Base):
    __tablename__ = "analytics_anomalies"
    __table_args__ = (
        Index("ix_analytics_anomalies_camera_time", "camera_id", "window_start", "anomaly_id"),
        Index("ix_analytics_anomalies_time", "window_start", "anomaly_id"),
    )

    anomaly_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The frame whose arrival closed the window: replicas fetch anomalies with their frames.
    frame_id: Mapped[str] = mapped_column(String(128), index=True)
    camera_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[int] = mapped_column(Integer)
    severity: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(64))
    observed: Mapped[float] = mapped_column(Float)
    mean: Mapped[float] = mapped_column(Float)
    stddev: Mapped[float] = mapped_column(Float)
    z_score: Mapped[float] = mapped_column(Float)
    window_start: Mapped[float] = mapped_column(Float)
    window_end: Mapped[float] = mapped_column(Float)
    detected_at: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(String(512))

    @staticmethod
    def values(a: pb.Anomaly, frame_id: str) -> dict[str, Any]:
        """The row's columns for an insert."""
        return dict(
            anomaly_id=a.anomaly_id,
            frame_id=frame_id,
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

    def held(self) -> Held[pb.Anomaly]:
        return Held(self.camera_id, (self.window_start, self.anomaly_id), self.message())


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One frame's results, stored together."""

    frame_id: str
    stats: FrameStats
    violations: Sequence[pb.Violation]
    anomalies: Sequence[pb.Anomaly]

    def values(self) -> dict[str, Any]:
        """The frame row's columns for an insert."""
        s = self.stats
        return dict(
            frame_id=self.frame_id,
            camera_id=s.camera_id,
            ts=s.ts,
            vehicle_count=s.vehicle_count,
            detection_count=s.detection_count,
            speed_sum=s.speed_sum,
            speed_samples=s.speed_samples,
            counts=s.counts,
        )


@dataclass(slots=True)
class StoredFrame:
    """A stored frame's row seq and stats, with its violations and anomalies as reads give them."""

    seq: int
    stats: FrameStats
    violations: list[Held[pb.Violation]] = field(default_factory=list)
    anomalies: list[Held[pb.Anomaly]] = field(default_factory=list)

    @classmethod
    def written(cls, seq: int, record: FrameRecord) -> StoredFrame:
        """``record`` just stored as row ``seq``, with values as a read would give them back."""
        return cls(
            seq,
            record.stats,
            [_held_as_stored(v) for v in record.violations],
            [AnomalyRow(**AnomalyRow.values(a, record.frame_id)).held() for a in record.anomalies],
        )


def _held_as_stored(v: pb.Violation) -> Held[pb.Violation]:
    """``v`` as a read gives it back, without building a row (every frame has violations).

    Its other fields come back from their columns unchanged; its time goes through a float
    column, so where that moves the timestamp the row's own message is used.
    """
    detected = to_seconds(v.detected_at)
    stamp = to_timestamp(detected)
    if stamp != v.detected_at or stamp != v.evidence.captured_at or v.resolved:
        return ViolationRow(**ViolationRow.values(v)).held()
    return Held(v.camera_id, (detected, v.violation_id), v)


F = TypeVar("F", "ViolationRow", "AnomalyRow")

# Per findings table: the time its reads filter on, and the id that breaks ties of it.
_ORDER: dict[type[Base], tuple[Any, Any]] = {
    ViolationRow: (ViolationRow.detected_at, ViolationRow.violation_id),
    AnomalyRow: (AnomalyRow.window_start, AnomalyRow.anomaly_id),
}


def _of_frames(model: type[F], frames: Any) -> Select[F]:
    """Violations or anomalies of the frames matching the condition ``frames``."""
    return select(model).join(FrameRow, FrameRow.frame_id == model.frame_id).where(frames)


def _newest_first(model: type[Base]) -> tuple[Any, Any]:
    time, ident = _ORDER[model]
    return time.desc(), ident.desc()


def count_kinds(counted: Iterable[tuple[int, int, int]]) -> tuple[dict[str, int], dict[str, int]]:
    """``(type, severity, count)`` of violations added up by type name and by severity name."""
    by_type: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    for type_, severity, n in counted:
        by_type[enum_name(pb.ViolationType, type_, "VIOLATION_TYPE_")] += n
        by_severity[enum_name(pb.Severity, severity, "SEVERITY_")] += n
    return dict(by_type), dict(by_severity)


def _save(records: Sequence[FrameRecord], conn: Connection) -> dict[str, int]:
    """The statements of :meth:`AnalyticsStore.save_many`, one per table, in its transaction."""
    new_frames = insert_new(FrameRow, conn.dialect.name, "frame_id").returning(
        FrameRow.frame_id, FrameRow.seq
    )
    rows = conn.execute(new_frames, [r.values() for r in records])
    seqs: dict[str, int] = {frame_id: seq for frame_id, seq in rows}
    stored = [r for r in records if r.frame_id in seqs]
    violations = [ViolationRow.values(v) for r in stored for v in r.violations]
    if violations:
        conn.execute(insert(ViolationRow), violations)
    anomalies = [AnomalyRow.values(a, r.frame_id) for r in stored for a in r.anomalies]
    if anomalies:
        conn.execute(insert(AnomalyRow), anomalies)
    return seqs


class AnalyticsStore:
    """Reads and writes analytics' data; every write is one transaction.

    Writes run through ``writer`` when given (see ``TransactionRunner``),
    else on a session of ``sessions``, like reads.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], writer: TransactionRunner | None = None
    ) -> None:
        self.sessions = sessions
        self.writer = writer

    async def save_many(self, records: Sequence[FrameRecord]) -> dict[str, int]:
        """Store frames and their results in one transaction: the row seq of each frame stored.

        A frame whose id is stored already (a redelivery) is left out: nothing
        of it is written again and its id is not in the answer. Bulk inserts
        (one statement per table), so the cost per frame is small.
        """
        body = functools.partial(_save, records)
        if self.writer is not None:
            return await self.writer.run(body)
        async with self.sessions.begin() as session:
            conn = await session.connection()
            return await conn.run_sync(body)

    async def frame_results(self, frame_id: str) -> tuple[list[pb.Violation], list[pb.Anomaly]]:
        """The violations and anomalies stored with a frame."""
        violations = select(ViolationRow).where(ViolationRow.frame_id == frame_id)
        anomalies = select(AnomalyRow).where(AnomalyRow.frame_id == frame_id)
        async with self.sessions() as session:
            return (
                [row.message() for row in await session.scalars(violations)],
                [row.message() for row in await session.scalars(anomalies)],
            )

    async def frames(self, camera_ids: Sequence[str], start: float, end: float) -> list[FrameStats]:
        query = select(FrameRow).where(FrameRow.ts >= start, FrameRow.ts < end)
        if camera_ids:
            query = query.where(FrameRow.camera_id.in_(camera_ids))
        return [row.stats() for row in await self._all(query.order_by(FrameRow.ts, FrameRow.seq))]

    async def frames_after(
        self, seq: int, known: Container[int] = ()
    ) -> tuple[int, list[StoredFrame]]:
        """The highest row seq after ``seq`` (``seq`` when none), and the frames stored after
        it whose seq is not ``known``, with their violations and anomalies, in seq order.

        Seqs first (an index-only read), then only the rows wanted: a replica does not read
        back the frames it wrote itself.
        """
        async with self.sessions() as session:
            seqs = select(FrameRow.seq).where(FrameRow.seq > seq).order_by(FrameRow.seq)
            found = list(await session.scalars(seqs))
            wanted = [s for s in found if s not in known]
            frames: dict[str, StoredFrame] = {}
            for i in range(0, len(wanted), _ROWS_PER_QUERY):
                chunk = FrameRow.seq.in_(wanted[i : i + _ROWS_PER_QUERY])
                query = select(FrameRow).where(chunk).order_by(FrameRow.seq)
                frames.update((row.frame_id, StoredFrame(row.seq, row.stats()))
                              for row in await session.scalars(query))  # fmt: skip
                for v in await session.scalars(_of_frames(ViolationRow, chunk)):
                    frames[v.frame_id].violations.append(v.held())
                for a in await session.scalars(_of_frames(AnomalyRow, chunk)):
                    frames[a.frame_id].anomalies.append(a.held())
        return (found[-1] if found else seq), list(frames.values())

    async def newest_frames(self, since: float, up_to_seq: int, limit: int) -> list[StoredFrame]:
        """At most ``limit`` frames from ``since`` on (rows up to ``up_to_seq``), newest first.

        Without violations and anomalies: :meth:`newest_findings` loads those by their own time.
        """
        query = (
            select(FrameRow)
            .where(FrameRow.ts >= since, FrameRow.seq <= up_to_seq)
            .order_by(FrameRow.ts.desc(), FrameRow.seq.desc())
            .limit(limit)
        )
        return [StoredFrame(row.seq, row.stats()) for row in await self._all(query)]

    async def newest_findings(
        self, model: type[F], since: float, up_to_seq: int, limit: int
    ) -> tuple[list[Held[Any]], bool]:
        """At most ``limit`` violations or anomalies from ``since`` on, newest first, of frames
        up to row ``up_to_seq``; and whether any older than ``since`` are stored."""
        time, ident = _ORDER[model]
        query = (
            _of_frames(model, FrameRow.seq <= up_to_seq)
            .where(time >= since)
            .order_by(*_newest_first(model))
            .limit(limit)
        )
        older = select(ident).where(time < since).limit(1)
        async with self.sessions() as session:
            rows = [row.held() for row in await session.scalars(query)]
            return rows, await session.scalar(older) is not None

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
        query = query.order_by(*_newest_first(ViolationRow)).limit(limit or DEFAULT_LIMIT)
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
        query = query.order_by(*_newest_first(AnomalyRow)).limit(limit or DEFAULT_LIMIT)
        return [row.message() for row in await self._all(query)]

    async def violation_counts(
        self, camera_ids: Sequence[str], start: float, end: float
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Violations detected in ``[start, end)`` by type name and by severity name."""
        kinds = (ViolationRow.type, ViolationRow.severity)
        query = select(*kinds, func.count()).where(
            ViolationRow.detected_at >= start, ViolationRow.detected_at < end
        )
        if camera_ids:
            query = query.where(ViolationRow.camera_id.in_(camera_ids))
        async with self.sessions() as session:
            counted = (await session.execute(query.group_by(*kinds))).all()
        return count_kinds((type_, severity, n) for type_, severity, n in counted)

    async def _all(self, query: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.scalars(query)).all())
