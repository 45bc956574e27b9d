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
from meshctl.registry.control import ControlChannel, parse_command
from meshctl.registry.reporting import ReportLoop
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
        self.client_id = f"{name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.started_at = time.time()
        self.publisher = ReportLoop(self.channel, self.client_id, self.report, interval=interval)
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()  # set once the first subscription attempt ended
        breakers.add_listener(lambda *_: self.publisher.wake())

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
        await self.publisher.publish()

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
        self.publisher.wake()  # the publish loop, the report's only writer, shows the change now
        return answer

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
        await self.publisher.start()
        self._task = asyncio.create_task(self._command_loop(), name="mesh-control-commands")
        await self._listening.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        await self.publisher.stop()
