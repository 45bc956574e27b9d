"""Streaming's durable frame queue: every accepted frame, whether analytics has it yet or not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import JSON, Float, Integer, LargeBinary, String, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from meshctl.services.db import Base
from meshctl.services.frames import FrameStats

QUEUED = "queued"
FORWARDED = "forwarded"


class QueuedFrame(Base):
    __tablename__ = "streaming_frames"

    frame_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(128), index=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # the serialized request
    correlation_id: Mapped[str] = mapped_column(String(128))
    accepted_at: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, index=True)
    last_error: Mapped[str] = mapped_column(String(1024), default="")
    vehicle_count: Mapped[int] = mapped_column(Integer)
    detection_count: Mapped[int] = mapped_column(Integer)
    speed_sum: Mapped[float] = mapped_column(Float)
    speed_samples: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)


@dataclass(frozen=True, slots=True)
class Pending:
    """A queued frame due for another attempt."""

    frame_id: str
    payload: bytes
    correlation_id: str
    attempts: int


class FrameQueue:
    """Accepts frames durably and tracks which analytics has processed."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def accept(
        self,
        frame_id: str,
        stats: FrameStats,
        payload: bytes,
        correlation_id: str,
        now: float,
    ) -> str | None:
        """Queue a new frame (None), or return the status of the frame stored under that id."""
        row = QueuedFrame(
            frame_id=frame_id,
            camera_id=stats.camera_id,
            ts=stats.ts,
            status=QUEUED,
            payload=payload,
            correlation_id=correlation_id[:128],
            accepted_at=now,
            attempts=0,
            next_attempt_at=now,
            last_error="",
            vehicle_count=stats.vehicle_count,
            detection_count=stats.detection_count,
            speed_sum=stats.speed_sum,
            speed_samples=stats.speed_samples,
            counts=stats.counts,
        )
        try:
            async with self.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            async with self.sessions() as session:
                existing = await session.get(QueuedFrame, frame_id)
            return existing.status if existing else QUEUED
        return None

    async def forwarded(self, frame_id: str) -> None:
        await self._update(frame_id, status=FORWARDED, last_error="")

    async def failed(self, frame_id: str, attempts: int, error: str, retry_at: float) -> None:
        await self._update(
            frame_id,
            attempts=attempts,
            last_error=error[:1024],
            next_attempt_at=retry_at,
        )

    async def due(self, now: float, limit: int = 100) -> list[Pending]:
        """Queued frames whose next attempt is due, oldest first."""
        query = (
            select(QueuedFrame)
            .where(QueuedFrame.status == QUEUED, QueuedFrame.next_attempt_at <= now)
            .order_by(QueuedFrame.accepted_at)
            .limit(limit)
        )
        async with self.sessions() as session:
            rows = (await session.scalars(query)).all()
        return [Pending(r.frame_id, r.payload, r.correlation_id, r.attempts) for r in rows]

    async def next_due(self) -> float | None:
        """When the earliest queued frame is due, if any frame is queued."""
        query = select(func.min(QueuedFrame.next_attempt_at)).where(QueuedFrame.status == QUEUED)
        async with self.sessions() as session:
            return await session.scalar(query)

    async def counts(self) -> dict[str, int]:
        """Frames by status."""
        query = select(QueuedFrame.status, func.count()).group_by(QueuedFrame.status)
        async with self.sessions() as session:
            return {status: n for status, n in (await session.execute(query)).all()}

    async def frames(self, camera_ids: Sequence[str], start: float, end: float) -> list[FrameStats]:
        query = select(QueuedFrame).where(QueuedFrame.ts >= start, QueuedFrame.ts < end)
        if camera_ids:
            query = query.where(QueuedFrame.camera_id.in_(camera_ids))
        async with self.sessions() as session:
            rows = (await session.scalars(query.order_by(QueuedFrame.ts))).all()
        return [
            FrameStats(
                r.camera_id,
                r.ts,
                r.vehicle_count,
                r.detection_count,
                r.speed_sum,
                r.speed_samples,
                dict(r.counts),
            )
            for r in rows
        ]

    async def _update(self, frame_id: str, **values: object) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(QueuedFrame).where(QueuedFrame.frame_id == frame_id).values(**values)
            )
