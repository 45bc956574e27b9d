"""A cached view of the registry, refreshed when change messages arrive.

The watcher subscribes to ``{prefix}:events``; a message about a service it
tracks marks that service dirty and a refresher task re-reads it at once
(bursts of messages coalesce into one read). Pub/sub is fire-and-forget and
TTL expiry announces nothing until someone looks, so every tracked service is
also re-read each ``refresh_interval``. A view only changes identity when its
content changed: callers may cache by ``is``. While Redis is unreachable the
last good views keep being served and ``stale`` is True; on reconnection
every tracked service is re-read.

Fail-static: an answer with no instance does not replace a view that had
some unless every one of them was announced gone (``deregistered`` or
``expired``). A Redis restarted empty, a flushed or damaged key, answers
empty without a word; the last good view is then held for up to
``fail_static_for`` seconds while the instances register again (each
keepalive notices its record is gone), re-read every ``retry_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.errors import RegistryUnavailableError
from meshctl.registry.connection import unavailable
from meshctl.registry.problems import brief
from meshctl.registry.redis_registry import RawView, ServiceInstances, ServiceRegistry
from meshctl.registry.tasks import cancel_and_wait

log = logging.getLogger(__name__)

FAIL_STATIC_FOR = 45.0
"""Seconds a view is held over empty answers: more than a keepalive's 20 s beat."""

MAX_EVENT_BYTES = 4096
"""Longest change message read; real ones are under 200 bytes."""

_GONE = ("deregistered", "expired")


class RegistryWatcher(AsyncLifecycle):
    """An in-memory view of the services asked about, kept fresh by pub/sub.

    Args:
        registry: where to read from; its client also carries the subscription.
        refresh_interval: seconds between safety-net re-reads of every tracked service.
        retry_interval: seconds between attempts while Redis is unreachable, and
            between re-reads of a view held over an empty answer.
        fail_static_for: seconds a non-empty view is held over unexplained
            empty answers (0 turns fail-static off).
        clock: monotonic seconds, injectable for tests.
    """

    def __init__(
        self,
        registry: ServiceRegistry,
        refresh_interval: float = 30.0,
        retry_interval: float = 1.0,
        fail_static_for: float = FAIL_STATIC_FOR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.refresh_interval = refresh_interval
        self.retry_interval = retry_interval
        self.fail_static_for = fail_static_for
        self._clock = clock
        self._held: dict[str, float] = {}  # service -> when an empty answer was first held back
        self._gone: dict[str, set[str]] = {}  # instances of the view announced gone
        self._views: dict[str, ServiceInstances] = {}
        self._raw: dict[str, RawView] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._subscribed = False
        self._read_failed = False
        self.read_failures = 0  # reads of a view that Redis did not answer
        self._first_attempt = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def stale(self) -> bool:
        """True while changes may be missed: the subscription is down or the last read failed."""
        return not self._subscribed or self._read_failed

    def fail_static(self, name: str) -> bool:
        """True while the view of ``name`` is a last good one, served over empty or failed reads."""
        return name in self._held or (self._read_failed and name in self._views)

    @property
    def held(self) -> dict[str, float]:
        """Seconds each view held over empty answers has been held, by service."""
        now = self._clock()
        return {name: now - since for name, since in self._held.items()}

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
            self.read_failures += 1
            raise
        self._read_failed = False
        if name in self._views and raw == self._raw.get(name):
            self._held.pop(name, None)
            return
        view = self.registry.to_view(name, raw)
        if self._holds(name, view):
            return
        self._held.pop(name, None)
        self._gone[name] = self._gone.get(name, set()) & {ep.instance_id for ep in view}
        self._raw[name] = raw
        self._views[name] = view
        async with self._changed:
            self._changed.notify_all()

    def _holds(self, name: str, view: ServiceInstances) -> bool:
        """Whether an empty ``view`` is held back in favour of the current one (fail-static)."""
        current = self._views.get(name)
        if view or not current or self.fail_static_for <= 0:
            return False
        if {ep.instance_id for ep in current} <= self._gone.get(name, set()):
            return False  # every instance was announced gone: the service is really empty
        now = self._clock()
        if name not in self._held:
            self._held[name] = now
            log.warning(
                "Registry answered no instance of %s unannounced; serving its last %d "
                "for up to %g s while they register again",
                name,
                len(current),
                self.fail_static_for,
            )
        since = self._held[name]
        if now - since >= self.fail_static_for:
            log.warning(
                "Registry still has no instance of %s after %.0f s; dropping its last view",
                name,
                now - since,
            )
            return False
        return True

    def _mark_dirty(self, names: set[str] | list[str]) -> None:
        self._dirty.update(names)
        self._wake.set()

    def _on_message(self, message: dict[str, Any]) -> None:
        data = message.get("data", b"")
        try:
            if len(data) > MAX_EVENT_BYTES:
                raise ValueError("too long")
            event = json.loads(data)
            service, action, instance_id = (event[k] for k in ("service", "action", "instance_id"))
            if not isinstance(service, str):
                raise TypeError("service is not a string")
        except (ValueError, TypeError, KeyError):
            log.debug("Ignoring malformed registry event %s", brief(data))
            return
        view = self._views.get(service)
        if view is None:
            return
        if action in _GONE and any(ep.instance_id == instance_id for ep in view):
            self._gone.setdefault(service, set()).add(instance_id)
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
                    # untyped before redis 8.2, typed from it: either way not an error
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            await asyncio.sleep(self.retry_interval)

    async def _refresh_loop(self) -> None:
        """Re-read dirty services as soon as they are marked, and all of them periodically."""
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self.refresh_interval
        while True:
            wake_at = next_full
            if self._held:  # re-read held views often: their instances are coming back
                wake_at = min(next_full, loop.time() + self.retry_interval)
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(wake_at):
                    await self._wake.wait()
            self._wake.clear()
            if loop.time() >= next_full:
                self._dirty.update(self._views)
                next_full = loop.time() + self.refresh_interval
            self._dirty.update(self._held)
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
