"""Active recovery: an endpoint whose breaker opened is health-checked when its time comes.

Without it an ejected instance waits for a caller to risk a trial call, and
an idle client keeps a recovered instance shunned. When an endpoint breaker
opens, a task sleeps until the breaker's recovery time and ``GRACE`` more:
a busy client's own calls make the better trials (they exercise the real
methods), so the probe stands in for calls that do not come. Then it spends
the half-open trial calls left on health checks (``grpc.health.v1`` Check,
or a GET on the HTTP ``health_path``): as many passing checks as the breaker
needs close it, a failing one re-opens it and the task waits for the next
round. Trial calls in flight decide instead, and the task ends; a later
opening starts a new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from meshctl.core.breaker import CircuitBreaker, CircuitState
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import ServiceUnavailableError
from meshctl.registry.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

GRACE = 0.5  # seconds past the recovery time left to real calls before a probe

#: probe(endpoint) -> whether it is healthy; must not raise
Probe = Callable[[ServiceEndpoint], Awaitable[bool]]


class RecoveryProbes:
    """One probing task per endpoint whose breaker is open.

    Args:
        probe: checks one endpoint's health.
    """

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    def watch(self, endpoint: ServiceEndpoint, breaker: CircuitBreaker) -> None:
        """Probe ``endpoint`` once ``breaker`` (just opened) lets a trial through."""
        key = endpoint.key
        waiting = self._tasks.get(key)
        if waiting is not None and not waiting.done():
            return  # already waiting for this breaker's recovery time
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a breaker opened outside async code: nothing to schedule on
            return
        task = loop.create_task(self._recover(endpoint, breaker), name=f"probe {breaker.name}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            logger.warning("recovery probe failed: %r", task.exception())

    @property
    def pending(self) -> int:
        """Endpoints waiting for a probe."""
        return len(self._tasks)

    async def forget(self, key: tuple[str, str]) -> None:
        """Stop probing an endpoint that left the registry."""
        task = self._tasks.pop(key, None)
        if task is not None:
            await cancel_and_wait(task)

    async def aclose(self) -> None:
        for key in list(self._tasks):
            await self.forget(key)

    async def _recover(self, endpoint: ServiceEndpoint, breaker: CircuitBreaker) -> None:
        graced = False  # whether real calls had their grace this round
        while True:
            wait = breaker.retry_after()
            if wait is None:  # not OPEN: reset, forced, or already half-open
                if breaker.state is not CircuitState.HALF_OPEN:
                    return
            elif wait > 0 or not graced:
                await asyncio.sleep(wait + GRACE)
                graced = True
                continue
            if not breaker.allow():
                return  # trial calls in flight (or an operator's command) decide now
            generation = breaker.generation
            if await self._probe(endpoint):
                breaker.record_success(generation=generation)
                if breaker.state is CircuitState.CLOSED:
                    logger.info("%s is healthy again: breaker closed", breaker.name)
                    return
            else:
                failure = ServiceUnavailableError(f"health check of {endpoint.address} failed")
                breaker.record_failure(failure, generation=generation)
                graced = False
