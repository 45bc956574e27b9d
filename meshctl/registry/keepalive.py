"""Keep one instance registered for as long as a block of code runs."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Protocol

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.core.lifecycle import AsyncLifecycle
from meshctl.errors import RegistryUnavailableError
from meshctl.registry.tasks import cancel_and_wait

log = logging.getLogger(__name__)

OUTAGE_RETRY = 1.0
"""Seconds between beats while Redis is unreachable, so a restarted Redis is refilled at once."""

JITTER = 0.1
"""Each wait between beats is the interval times a random factor in [1 - JITTER, 1 + JITTER]."""


class Registrar(Protocol):
    """What keeping an instance registered needs of a registry."""

    async def register_service(
        self, name: str, endpoint: ServiceEndpoint, ttl: float = 60
    ) -> str: ...

    async def heartbeat(self, name: str, instance_id: str, ttl: float = 60) -> bool: ...

    async def deregister_service(self, name: str, instance_id: str) -> bool: ...


class KeepAlive(AsyncLifecycle):
    """Registers on enter, heartbeats every ``interval``, deregisters on exit.

    A heartbeat that finds the record gone (lapsed, or deleted by someone)
    registers it again. While Redis is unreachable, failures are logged, not
    raised, and the next beat tries again within ``OUTAGE_RETRY`` seconds: a
    service keeps running through a registry outage and reappears as soon as
    Redis returns (empty, after a restart, the heartbeat finds its record
    gone and registers it again). Entering does not fail
    either; ``registered`` says whether the instance is currently known to be in.
    """

    def __init__(
        self,
        registry: Registrar,
        endpoint: ServiceEndpoint,
        ttl: float = 60,
        interval: float | None = None,
    ) -> None:
        self.registry = registry
        self.endpoint = endpoint
        self.ttl = ttl
        self.interval = ttl / 3 if interval is None else interval
        self.registered = False
        self.beats = 0  # heartbeats that reached Redis (re-registrations included)
        self.beat_failures = 0  # heartbeats Redis did not answer
        self.registrations = 0  # times the record was written afresh
        self._task: asyncio.Task[None] | None = None
        self._outage = False
        self._rng = random.Random()

    async def start(self) -> None:
        """Register (or try to) and heartbeat in a background task until ``stop``."""
        await self.beat()
        self._task = asyncio.create_task(self._run(), name=f"keepalive-{self.endpoint.key}")

    async def stop(self) -> None:
        """Stop heartbeating and deregister."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        try:
            await self.registry.deregister_service(
                self.endpoint.service_name, self.endpoint.instance_id
            )
        except RegistryUnavailableError as error:
            log.warning("Could not deregister %s: %s", self.endpoint.key, error)
        self.registered = False

    async def beat(self) -> None:
        """One heartbeat, registering the instance if it is not (or no longer) there."""
        name, instance_id = self.endpoint.key
        try:
            if self.registered and await self.registry.heartbeat(name, instance_id, self.ttl):
                self.beats += 1
                self._recovered()
                return
            if self.registered:
                log.info("Registry record of %s vanished; registering it again", self.endpoint.key)
            await self.registry.register_service(name, self.endpoint, self.ttl)
            self.beats += 1
            self.registrations += 1
            self.registered = True
            self._recovered()
        except RegistryUnavailableError as error:
            self.beat_failures += 1
            # Log once per outage: a beat every few seconds would flood the log.
            if not self._outage:
                log.warning(
                    "Heartbeat of %s failed, will keep trying: %s", self.endpoint.key, error
                )
            self._outage = True

    def _recovered(self) -> None:
        if self._outage:
            log.info("Registry reachable again; %s is registered", self.endpoint.key)
        self._outage = False

    def next_delay(self) -> float:
        """Seconds to the next beat: the interval give or take ``JITTER``, so instances
        started together (a deploy, ``meshctl up``) do not all beat in the same instant."""
        interval = min(self.interval, OUTAGE_RETRY) if self._outage else self.interval
        return interval * self._rng.uniform(1 - JITTER, 1 + JITTER)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.next_delay())
            await self.beat()
