"""A cached view of the registry, refreshed when change messages arrive.

The watcher subscribes to ``{prefix}:events``; a message about a service it
tracks marks that service dirty and a refresher task re-reads it at once
(bursts of messages coalesce into one read). Pub/sub is fire-and-forget and
TTL expiry announces nothing until someone looks, so every tracked service is
also re-read each ``refresh_interval``. A view only changes identity when its
content changed: callers may cache by ``is``. While Redis is unreachable the
last good views keep being served and ``stale`` is True; on reconnection
every tracked service is re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from redis.exceptions import RedisError

from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.errors import RegistryUnavailableError
from meshctl.registry.connection import unavailable
from meshctl.registry.redis_registry import RawView, ServiceInstances, ServiceRegistry
from meshctl.registry.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class RegistryWatcher(AsyncLifecycle):
    """An in-memory view of the services asked about, kept fresh by pub/sub.

    Args:
        registry: where to read from; its client also carries the subscription.
        refresh_interval: seconds between safety-net re-reads of every tracked service.
        retry_interval: seconds between attempts while Redis is unreachable.
    """

    def __init__(
        self,
        registry: ServiceRegistry,
        refresh_interval: float = 30.0,
        retry_interval: float = 1.0,
    ) -> None:
        self.registry = registry
        self.refresh_interval = refresh_interval
        self.retry_interval = retry_interval
        self._views: dict[str, ServiceInstances] = {}
        self._raw: dict[str, RawView] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._subscribed = False
        self._read_failed = False
        self._first_attempt = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def stale(self) -> bool:
        """True while changes may be missed: the subscription is down or the last read failed."""
        return not self._subscribed or self._read_failed

    async def start(self) -> None:
        """Subscribe and start refreshing; returns once the first subscription attempt ended."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._listen(), name="registry-watch-listen"),
            asyncio.create_task(self._refresh_loop(), name="registry-watch-refresh"),
        ]
        await self._first_attempt.wait()

    async def stop(self) -> None:
        """Cancel the background tasks and wait for them to end."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)
        self._subscribed = False

    async def get(self, name: str) -> ServiceInstances:
        """The cached instances of ``name``, read from Redis the first time it is asked.

        Raises:
            RegistryUnavailableError: Redis is unreachable and there is no view yet.
        """
        view = self._views.get(name)
        if view is None:
            await self.refresh(name)
            view = self._views[name]
        return view

    def peek(self, name: str) -> ServiceInstances | None:
        """The cached view without any I/O, or None if ``name`` is not tracked yet."""
        return self._views.get(name)

    async def wait_changed(self, name: str, previous: ServiceInstances | None) -> ServiceInstances:
        """Wait until the view of ``name`` is no longer ``previous``, and return it."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._views.get(name) is not previous)
            return self._views[name]

    async def refresh(self, name: str) -> None:
        """Re-read one service now; the view is replaced only if its content changed."""
        try:
            raw = await self.registry.fetch_view(name)
        except RegistryUnavailableError:
            self._read_failed = True
            raise
        self._read_failed = False
        if name in self._views and raw == self._raw.get(name):
            return
        self._raw[name] = raw
        self._views[name] = self.registry.to_view(name, raw)
        async with self._changed:
            self._changed.notify_all()

    def _mark_dirty(self, names: set[str] | list[str]) -> None:
        self._dirty.update(names)
        self._wake.set()

    def _on_message(self, message: dict[str, Any]) -> None:
        try:
            service = json.loads(message["data"])["service"]
        except (ValueError, TypeError, KeyError):
            log.debug("Ignoring malformed registry event %r", message.get("data"))
            return
        if service in self._views:
            self._mark_dirty([service])

    async def _listen(self) -> None:
        """Hold the subscription, re-establishing it (and re-reading everything) after outages."""
        while True:
            pubsub = self.registry.redis.pubsub()
            try:
                await pubsub.subscribe(self.registry.events_channel)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        # Anything may have changed while we were not listening.
                        self._subscribed = True
                        self._first_attempt.set()
                        self._mark_dirty(list(self._views))
                    elif message["type"] == "message":
                        self._on_message(message)
            except (RedisError, OSError) as exc:
                if self._subscribed or not self._first_attempt.is_set():
                    log.warning(
                        "Registry events unavailable: %s", unavailable(self.registry.url, exc)
                    )
                self._subscribed = False
                self._first_attempt.set()
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(self.retry_interval)

    async def _refresh_loop(self) -> None:
        """Re-read dirty services as soon as they are marked, and all of them periodically."""
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self.refresh_interval
        while True:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_full):
                    await self._wake.wait()
            self._wake.clear()
            if loop.time() >= next_full:
                self._dirty.update(self._views)
                next_full = loop.time() + self.refresh_interval
            while self._dirty:
                name = self._dirty.pop()
                was_failing = self._read_failed
                try:
                    await self.refresh(name)
                except RegistryUnavailableError as error:
                    self._dirty.add(name)
                    if not was_failing:
                        log.warning("Serving the last registry views: %s", error)
                    await asyncio.sleep(self.retry_interval)


CachedRegistry = RegistryWatcher
