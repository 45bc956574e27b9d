"""A mesh client's side of the control plane: report its breakers, obey commands.

The Redis side (keys, scripts, the command format) is ``registry.control``;
this module ties it to the client's breakers in two background tasks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.mesh.breakers import BreakerBook
from meshctl.registry.control import REPORT_TTL, ControlChannel, parse_command
from meshctl.registry.tasks import cancel_and_wait

logger = logging.getLogger(__name__)


class ControlPlane(AsyncLifecycle):
    """Runs a mesh client's side of the control plane in background tasks.

    Args:
        redis: client of the registry's Redis.
        prefix: the registry key prefix.
        name: the client's mesh name (its service, when a service owns it).
        breakers: the breakers to report and steer.
        stats: returns the statistics part of the report.
        interval: seconds between reports.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        name: str,
        breakers: BreakerBook,
        stats: Callable[[], dict[str, Any]],
        *,
        interval: float = 1.0,
    ) -> None:
        self.channel = ControlChannel(redis, prefix)
        self.name = name
        self.breakers = breakers
        self._stats = stats
        self.interval = interval
        self.client_id = f"{name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.started_at = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._listening = asyncio.Event()  # set once the first subscription attempt ended
        breakers.add_listener(lambda *_: self._wake.set())

    def report(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "published_at": time.time(),
            "breakers": self.breakers.snapshots(),
            **self._stats(),
        }

    async def publish(self) -> None:
        """Store this client's report now (also done every ``interval`` and on state changes)."""
        ttl = max(REPORT_TTL, self.interval * 3)
        await self.channel.publish_report(self.client_id, self.report(), ttl)

    async def handle(self, raw: bytes | str) -> dict[str, Any] | None:
        """Apply one command message; returns the answer it sent, or None if not for us."""
        command = parse_command(raw)
        if command is None:
            return None
        target = command.get("client_id")
        if target and target not in (self.client_id, self.name):
            return None
        changes = self.breakers.apply(
            command["action"], command.get("service"), command.get("instance_id")
        )
        answer = {"client_id": self.client_id, "name": self.name, "changes": changes}
        await self.channel.answer(str(command.get("id")), answer)
        self._wake.set()  # the publish loop, the report's only writer, shows the change now
        return answer

    async def _publish_loop(self) -> None:
        while True:
            try:
                await self.publish()
            except Exception as exc:  # keep serving calls while Redis is away
                logger.warning("could not publish mesh client report: %s", exc)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass

    async def _command_loop(self) -> None:
        while True:
            try:
                async for raw in self.channel.commands(subscribed=self._listening.set):
                    await self.handle(raw)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._listening.set()  # Redis is away: start without waiting for it
                logger.warning("control channel lost (%s); resubscribing", exc)
                await asyncio.sleep(1.0)

    async def start(self) -> None:
        """Start reporting and listening; returns once commands reach this client."""
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="mesh-control-publish"),
            asyncio.create_task(self._command_loop(), name="mesh-control-commands"),
        ]
        await self._listening.wait()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)
        try:
            await self.channel.withdraw_report(self.client_id)
        except Exception as exc:
            logger.debug("could not withdraw the client report: %s", exc)
