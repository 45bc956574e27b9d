"""Publish one report to the control plane about once a second, for as long as a block runs.

Mesh clients report their breakers and what they saw of their callees;
service instances report what they served. Both are kept alive the same way:
published every ``interval`` (and at once on ``wake()``), alive in Redis for
``REPORT_TTL`` unless published again, and withdrawn on stop. While Redis is
away the loop keeps trying, with one warning per outage rather than one per
second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.registry.control import REPORT_TTL, ControlChannel
from meshctl.registry.tasks import cancel_and_wait

logger = logging.getLogger(__name__)


class ReportLoop(AsyncLifecycle):
    """Keeps ``report()`` published under ``client_id`` while started.

    Args:
        channel: the control plane's Redis side.
        client_id: the key the report is stored under; unique per process.
        report: builds the report (a JSON object) each time it is published.
        interval: seconds between publications.
    """

    def __init__(
        self,
        channel: ControlChannel,
        client_id: str,
        report: Callable[[], dict[str, Any]],
        *,
        interval: float = 1.0,
    ) -> None:
        self.channel = channel
        self.client_id = client_id
        self.report = report
        self.interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def wake(self) -> None:
        """Publish now rather than at the next interval."""
        self._wake.set()

    async def publish(self) -> None:
        """Store the report now."""
        ttl = max(REPORT_TTL, self.interval * 3)
        await self.channel.publish_report(self.client_id, self.report(), ttl)

    async def _attempt(self) -> None:
        try:
            await self.publish()
        except Exception as exc:  # keep serving while Redis is away
            if not self._failing:
                logger.warning("could not publish report %s: %s", self.client_id, exc)
            self._failing = True
        else:
            if self._failing:
                logger.info("publishing report %s again", self.client_id)
            self._failing = False

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            await self._attempt()

    async def start(self) -> None:
        """Publish once (so the report is there when start returns), then keep it so."""
        await self._attempt()
        self._task = asyncio.create_task(self._loop(), name=f"report-{self.client_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        try:
            await self.channel.withdraw_report(self.client_id)
        except Exception as exc:
            logger.debug("could not withdraw report %s: %s", self.client_id, exc)
