"""Streaming's durable frame queue: every accepted frame, whether analytics has it yet or not.

Writes go through one :class:`GroupCommit`: accepts, forwarded and failed
outcomes arriving close together share one transaction (one multi-row
``INSERT ... ON CONFLICT DO NOTHING RETURNING``, one ``UPDATE ... WHERE
frame_id IN``, one executemany for failures), and each caller is answered
once that transaction has committed. A frame id stored already is told by
the insert skipping it; only such ids have their status read back.

The queue depth is kept in memory: this instance's own writes move it as
they commit (they all pass through the one writer, in order), and a
``COUNT`` of queued rows inside a write transaction re-syncs it at least
every ``resync`` seconds (another replica's frames show within that time).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Float,
    Integer,
    LargeBinary,
    String,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from meshctl.services.db import Base, TransactionRunner
from meshctl.services.frames import FrameStats
from meshctl.services.groupcommit import GroupCommit
from meshctl.services.sql import insert_new

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


@dataclass(frozen=True, slots=True)
class _Accept:
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Forwarded:
    frame_id: str


@dataclass(frozen=True, slots=True)
class _Failed:
    frame_id: str
    attempts: int
    error: str
    retry_at: float


class _Sync:
    """Asks a write transaction to count the queued frames."""


_Write = _Accept | _Forwarded | _Failed | _Sync
_FORWARD = (
    update(QueuedFrame)
    .where(QueuedFrame.frame_id.in_(bindparam("ids", expanding=True)), QueuedFrame.status == QUEUED)
    .values(status=FORWARDED, last_error="")
)
_FAIL = (
    update(QueuedFrame)
    .where(QueuedFrame.frame_id == bindparam("id"), QueuedFrame.status == QUEUED)
    .values(attempts=bindparam("n"), last_error=bindparam("error"), next_attempt_at=bindparam("at"))
)
_QUEUED_COUNT = select(func.count()).where(QueuedFrame.status == QUEUED)


class FrameQueue:
    """Accepts frames durably and tracks which analytics has processed; see the module docstring.

    Args:
        sessions: the service database, for reads.
        writer: runs each write transaction in one hand-off.
        window: seconds a write waits for others to share its transaction.
        max_batch: writes in one transaction at most.
        resync: seconds the in-memory depth goes without a count from SQL at most.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writer: TransactionRunner,
        *,
        window: float = 0.002,
        max_batch: int = 256,
        resync: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.writer = writer
        self.resync = resync
        self._depth = 0
        self._synced_at: float | None = None  # loop time of the last count; None: never
        self._commits: GroupCommit[_Write, str | None] = GroupCommit(
            self._write, window=window, max_batch=max_batch
        )

    async def accept(
        self,
        frame_id: str,
        stats: FrameStats,
        payload: bytes,
        correlation_id: str,
        now: float,
        due_at: float,
    ) -> str | None:
        """Queue a new frame, retried from ``due_at`` on if still queued then (None).

        A frame id stored already is left as it is: its status is returned.
        """
        row = dict(
            frame_id=frame_id,
            camera_id=stats.camera_id,
            ts=stats.ts,
            status=QUEUED,
            payload=payload,
            correlation_id=correlation_id[:128],
            accepted_at=now,
            attempts=0,
            next_attempt_at=due_at,
            last_error="",
            vehicle_count=stats.vehicle_count,
            detection_count=stats.detection_count,
            speed_sum=stats.speed_sum,
            speed_samples=stats.speed_samples,
            counts=stats.counts,
        )
        return await self._commits.submit(_Accept(row))

    async def forwarded(self, frame_id: str) -> None:
        """Mark a queued frame as processed by analytics; returns once committed."""
        await self._commits.submit(_Forwarded(frame_id))

    async def failed(self, frame_id: str, attempts: int, error: str, retry_at: float) -> None:
        """Record a failed attempt on a queued frame; returns once committed."""
        await self._commits.submit(_Failed(frame_id, attempts, error[:1024], retry_at))

    async def depth(self) -> int:
        """Frames queued: this instance's writes count at once, others' within ``resync`` s."""
        if self._stale():
            await self._commits.submit(_Sync())
        return max(self._depth, 0)  # another replica may have forwarded what we accepted

    async def drain(self) -> None:
        """Return once every write submitted so far is committed (or failed)."""
        await self._commits.drain()

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

    def _stale(self) -> bool:
        synced = self._synced_at
        return synced is None or asyncio.get_running_loop().time() - synced >= self.resync

    async def _write(self, batch: Sequence[_Write]) -> list[str | None]:
        accepts = [w.row for w in batch if isinstance(w, _Accept)]
        forwarded = [w.frame_id for w in batch if isinstance(w, _Forwarded)]
        failed = [
            {"id": w.frame_id, "n": w.attempts, "error": w.error, "at": w.retry_at}
            for w in batch
            if isinstance(w, _Failed)
        ]
        sync = self._stale() or any(isinstance(w, _Sync) for w in batch)
        new, stored, moved, counted = await self.writer.run(
            functools.partial(_transaction, accepts, forwarded, failed, sync)
        )
        # Committed: move the depth by what this transaction did, or to the count it read.
        if counted is None:
            self._depth += len(new) - moved
        else:
            self._depth, self._synced_at = counted, asyncio.get_running_loop().time()
        results: list[str | None] = []
        for w in batch:
            if not isinstance(w, _Accept):
                results.append(None)
            elif (frame_id := w.row["frame_id"]) in new:
                new.discard(frame_id)  # a second copy in this batch is a resend
                results.append(None)
            else:
                results.append(stored.get(frame_id, QUEUED))
        return results


def _transaction(
    accepts: list[dict[str, Any]],
    forwarded: list[str],
    failed: list[dict[str, Any]],
    sync: bool,
    conn: Connection,
) -> tuple[set[str], dict[str, str], int, int | None]:
    """The statements of one :meth:`FrameQueue._write`: the ids stored now, the status of those
    stored before, how many frames moved to forwarded, and the queued count if ``sync``."""
    new, stored = _insert(conn, accepts)
    moved = conn.execute(_FORWARD, {"ids": forwarded}).rowcount if forwarded else 0
    if failed:
        conn.execute(_FAIL, failed)
    return new, stored, moved, conn.scalar(_QUEUED_COUNT) if sync else None


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> tuple[set[str], dict[str, str]]:
    """Insert ``rows``: the ids stored now, and the status of those stored before."""
    if not rows:
        return set(), {}
    insert = insert_new(QueuedFrame, conn.dialect.name, "frame_id")
    new = set(conn.execute(insert.returning(QueuedFrame.frame_id), rows).scalars())
    clashed = {row["frame_id"] for row in rows} - new
    if not clashed:
        return new, {}
    query = select(QueuedFrame.frame_id, QueuedFrame.status).where(
        QueuedFrame.frame_id.in_(clashed)
    )
    return new, {frame_id: status for frame_id, status in conn.execute(query)}
