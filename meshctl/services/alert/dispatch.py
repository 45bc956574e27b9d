"""Deliver alerts over their channels, record every attempt, retry what is due."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from meshctl.services.alert.channels import Channel, DeliveryError, Notification
from meshctl.services.alert.rules import RetryPolicy
from meshctl.services.alert.storage import FAILED, PENDING, SENT, AlertRow, AlertStore, DeliveryRow


@dataclass(slots=True)
class RetryOutcome:
    """Deliveries retried by one sweep, and the alerts they belong to (as now stored)."""

    retried: int = 0
    succeeded: int = 0
    still_failing: int = 0
    alerts: list[AlertRow] = field(default_factory=list)


def notification_of(alert: AlertRow) -> Notification:
    return Notification(
        alert_id=alert.alert_id,
        severity=alert.severity,
        title=alert.title,
        message=alert.message,
        camera_id=alert.camera_id,
        source=alert.source,
        source_id=alert.source_id,
        created_at=alert.created_at,
        metadata=alert.extra,
    )


class Dispatcher:
    """Sends deliveries through injected channels; time and jitter are injected too."""

    def __init__(
        self,
        store: AlertStore,
        channels: Mapping[str, Channel],
        policy: RetryPolicy,
        clock: Callable[[], float],
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._channels = channels
        self._policy = policy
        self._clock = clock
        self._rng = rng

    def plan(self, alert_id: str, targets: Sequence[tuple[str, str]]) -> list[DeliveryRow]:
        """Pending deliveries for ``(channel, recipient)`` pairs.

        Each is due for retry after ``pending_timeout``, so one interrupted by a
        restart before its first attempt finished is not stranded.
        """
        due = self._clock() + self._policy.pending_timeout
        return [
            DeliveryRow(
                delivery_id=f"{alert_id}-{n:02d}",
                alert_id=alert_id,
                channel=channel,
                recipient=recipient,
                status=PENDING,
                attempts=0,
                last_error="",
                next_attempt_at=due,
            )
            for n, (channel, recipient) in enumerate(targets)
        ]

    async def deliver(self, alert: AlertRow, deliveries: Sequence[DeliveryRow]) -> None:
        """Attempt ``deliveries`` of ``alert`` concurrently; outcomes land in the rows and SQL."""
        notification = notification_of(alert)
        await asyncio.gather(*(self._attempt(notification, d) for d in deliveries))

    async def retry_due(self, alert_id: str | None, max_alerts: int) -> RetryOutcome:
        """Retry every delivery whose next attempt is due (of one alert, or of up to N)."""
        now = self._clock()
        outcome = RetryOutcome()
        for alert in await self._store.due(now, alert_id, max_alerts):
            due = [
                d
                for d in alert.deliveries
                if d.status != SENT and d.next_attempt_at is not None and d.next_attempt_at <= now
            ]
            await self.deliver(alert, due)
            outcome.retried += len(due)
            outcome.succeeded += sum(d.status == SENT for d in due)
            outcome.still_failing += sum(d.status == FAILED for d in due)
            outcome.alerts.append(alert)
        return outcome

    async def _attempt(self, notification: Notification, delivery: DeliveryRow) -> None:
        channel = self._channels.get(delivery.channel)
        started = self._clock()
        try:
            if channel is None:
                raise DeliveryError(f"the {delivery.channel} channel is not configured")
            await channel.send(notification, delivery.recipient)
        except DeliveryError as exc:
            error = str(exc) or type(exc).__name__
        except Exception as exc:  # a channel bug must still end as a recorded failure
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = ""
        delivery.attempts += 1
        delivery.last_attempt_at = started
        delivery.last_error = error
        if error:
            delivery.status = FAILED
            delivery.next_attempt_at = self._policy.next_attempt_at(
                delivery.attempts, self._clock(), self._rng
            )
        else:
            delivery.status = SENT
            delivery.delivered_at = self._clock()
            delivery.next_attempt_at = None
        await self._store.record_attempt(delivery)
