"""Alerts and their deliveries in SQL (SQLite or PostgreSQL), times as epoch seconds.

New alerts and delivery attempts go through one :class:`GroupCommit`: those
arriving close together share a transaction of bulk statements (alerts
``INSERT ... ON CONFLICT DO NOTHING RETURNING``, their deliveries, one
executemany ``UPDATE`` of attempts), and each caller returns once it has
committed. An alert whose source alerted already is told by the insert
skipping it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column, relationship

from meshctl.services.db import Base
from meshctl.services.groupcommit import GroupCommit
from meshctl.services.sql import insert_new

PENDING, SENT, FAILED = "pending", "sent", "failed"
OPEN, ACKNOWLEDGED = "open", "acknowledged"


class AlertRow(Base):
    """One alert; (source, source_id) is unique so a violation alerts once."""

    __tablename__ = "alert_alerts"
    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_alert_source"),)

    alert_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    title: Mapped[str] = mapped_column(String(256))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(128))
    camera_id: Mapped[str] = mapped_column(String(128), default="", index=True)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    correlation_id: Mapped[str] = mapped_column(String(128), default="")
    extra: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    acknowledged_by: Mapped[str] = mapped_column(String(128), default="")
    acknowledged_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    acknowledgement_note: Mapped[str] = mapped_column(Text, default="")
    deliveries: Mapped[list[DeliveryRow]] = relationship(
        lazy="selectin", order_by="DeliveryRow.delivery_id"
    )


class DeliveryRow(Base):
    """One alert to one recipient over one channel, with its attempt history."""

    __tablename__ = "alert_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alert_alerts.alert_id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # When the delivery may be tried (again); NULL once sent or out of attempts.
    next_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)


@dataclass(slots=True)
class ChannelCounts:
    sent: int = 0
    failed: int = 0
    pending: int = 0


@dataclass(slots=True)
class AlertStats:
    """Counts over the alerts created in a window (and at a camera, if given)."""

    total: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    by_channel: dict[str, ChannelCounts] = field(default_factory=dict)

    @property
    def failed_deliveries(self) -> int:
        return sum(c.failed for c in self.by_channel.values())


def _columns(row: AlertRow | DeliveryRow) -> dict[str, Any]:
    """Every column of ``row`` (all must be set, defaults are not applied) for a Core insert."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


@dataclass(frozen=True, slots=True)
class _NewAlert:
    alert: dict[str, Any]
    deliveries: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Attempt:
    values: dict[str, Any]


_RECORD = update(DeliveryRow).where(DeliveryRow.delivery_id == bindparam("delivery"))


class AlertStore:
    """Reads and writes alerts through an async session factory; see the module docstring.

    Args:
        sessions: the service database.
        window: seconds a write waits for others to share its transaction.
        max_batch: writes in one transaction at most.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        window: float = 0.002,
        max_batch: int = 256,
    ) -> None:
        self._sessions = sessions
        self._commits: GroupCommit[_NewAlert | _Attempt, bool] = GroupCommit(
            self._write, window=window, max_batch=max_batch
        )

    async def insert(self, alert: AlertRow) -> bool:
        """Store ``alert`` with its deliveries; False if its source already alerted."""
        deliveries = [_columns(d) for d in alert.deliveries]
        return await self._commits.submit(_NewAlert(_columns(alert), deliveries))

    async def drain(self) -> None:
        """Return once every write submitted so far is committed (or failed)."""
        await self._commits.drain()

    async def get(self, alert_id: str) -> AlertRow | None:
        async with self._sessions() as session:
            return await session.get(AlertRow, alert_id)

    async def by_source(self, source: str, source_id: str) -> AlertRow | None:
        query = select(AlertRow).where(AlertRow.source == source, AlertRow.source_id == source_id)
        async with self._sessions() as session:
            return (await session.scalars(query)).first()

    async def record_attempt(self, delivery: DeliveryRow) -> None:
        """Persist the outcome the dispatcher wrote into ``delivery``; returns once committed."""
        values = {
            "delivery": delivery.delivery_id,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
            "last_attempt_at": delivery.last_attempt_at,
            "delivered_at": delivery.delivered_at,
            "next_attempt_at": delivery.next_attempt_at,
        }
        await self._commits.submit(_Attempt(values))

    async def due(self, now: float, alert_id: str | None, limit: int) -> Sequence[AlertRow]:
        """Alerts with a delivery whose next attempt is due, oldest first."""
        query = (
            select(AlertRow)
            .where(
                AlertRow.alert_id.in_(
                    select(DeliveryRow.alert_id).where(
                        DeliveryRow.status.in_((PENDING, FAILED)),
                        DeliveryRow.next_attempt_at <= now,
                    )
                )
            )
            .order_by(AlertRow.created_at)
        )
        if alert_id:
            query = query.where(AlertRow.alert_id == alert_id)
        if limit > 0:
            query = query.limit(limit)
        async with self._sessions() as session:
            return (await session.scalars(query)).all()

    async def acknowledge(self, alert_id: str, by: str, note: str, now: float) -> AlertRow | None:
        """Mark acknowledged (the first acknowledgement wins); None if unknown."""
        async with self._sessions.begin() as session:
            alert = await session.get(AlertRow, alert_id, with_for_update=True)
            if alert is None:
                return None
            if alert.status != ACKNOWLEDGED:
                alert.status = ACKNOWLEDGED
                alert.acknowledged_by = by
                alert.acknowledged_at = now
                alert.acknowledgement_note = note
        return alert

    async def recent(
        self,
        *,
        severities: Sequence[str] = (),
        camera_id: str = "",
        status: str = "",
        start: float | None = None,
        end: float | None = None,
        failed_only: bool = False,
        limit: int = 50,
    ) -> tuple[Sequence[AlertRow], bool]:
        """The newest alerts matching every filter given, and whether more matched."""
        query = select(AlertRow).order_by(AlertRow.created_at.desc(), AlertRow.alert_id)
        if severities:
            query = query.where(AlertRow.severity.in_(severities))
        if camera_id:
            query = query.where(AlertRow.camera_id == camera_id)
        if status:
            query = query.where(AlertRow.status == status)
        if start is not None:
            query = query.where(AlertRow.created_at >= start)
        if end is not None:
            query = query.where(AlertRow.created_at < end)
        if failed_only:
            failed = select(DeliveryRow.alert_id).where(DeliveryRow.status == FAILED)
            query = query.where(AlertRow.alert_id.in_(failed))
        async with self._sessions() as session:
            rows = (await session.scalars(query.limit(limit + 1))).all()
        return rows[:limit], len(rows) > limit

    async def statistics(
        self, start: float | None, end: float | None, camera_id: str
    ) -> AlertStats:
        """Counts by severity, acknowledgement and channel × delivery status."""
        alerts = select(AlertRow.alert_id)
        if start is not None:
            alerts = alerts.where(AlertRow.created_at >= start)
        if end is not None:
            alerts = alerts.where(AlertRow.created_at < end)
        if camera_id:
            alerts = alerts.where(AlertRow.camera_id == camera_id)
        stats = AlertStats()
        async with self._sessions() as session:
            by_severity = (
                select(AlertRow.severity, AlertRow.status, func.count())
                .where(AlertRow.alert_id.in_(alerts))
                .group_by(AlertRow.severity, AlertRow.status)
            )
            for severity, status, count in await session.execute(by_severity):
                stats.total += count
                stats.by_severity[severity] += count
                stats.acknowledged += count if status == ACKNOWLEDGED else 0
            deliveries = (
                select(DeliveryRow.channel, DeliveryRow.status, func.count())
                .where(DeliveryRow.alert_id.in_(alerts))
                .group_by(DeliveryRow.channel, DeliveryRow.status)
            )
            for channel, status, count in await session.execute(deliveries):
                counts = stats.by_channel.setdefault(channel, ChannelCounts())
                setattr(counts, status, getattr(counts, status) + count)
        return stats

    async def _write(self, batch: Sequence[_NewAlert | _Attempt]) -> list[bool]:
        alerts = [w for w in batch if isinstance(w, _NewAlert)]
        attempts = [w.values for w in batch if isinstance(w, _Attempt)]
        stored: set[str] = set()
        async with self._sessions.begin() as session:
            conn = await session.connection()
            if alerts:
                new = insert_new(AlertRow, conn.dialect.name).returning(AlertRow.alert_id)
                stored = set((await conn.execute(new, [w.alert for w in alerts])).scalars())
                rows = [d for w in alerts if w.alert["alert_id"] in stored for d in w.deliveries]
                if rows:
                    await conn.execute(insert(DeliveryRow), rows)
            if attempts:
                await conn.execute(_RECORD, attempts)
        return [isinstance(w, _Attempt) or w.alert["alert_id"] in stored for w in batch]
