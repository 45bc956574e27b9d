"""Drive one worker's share of a load test on the running event loop.

Closed loop: ``concurrency`` callers, each sending its next request when the
last one ends; latency runs from the actual send. Open loop: requests go out
at the schedule's times whatever the replies, and latency runs from each
request's *intended* send time, so when the server stalls (or the in-flight
bound holds a request back) the queueing delay shows in the figures instead
of being hidden by the generator slowing down (coordinated omission).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from meshctl.errors import InvalidRequestError
from meshctl.loadtest.plan import LoadPlan, RequestSource
from meshctl.loadtest.result import RunResult
from meshctl.loadtest.schedule import Schedule

Caller = Callable[[Any], Awaitable[str | None]]
"""Sends one request; returns the instance that answered (None if unknown), raises on failure."""

# A request sent this much after its intended time counts as late.
LATE_AFTER = 0.010


def error_kind(exc: BaseException) -> str:
    """A short name for a failure: the gRPC/HTTP status where there is one, else the type."""
    status = getattr(exc, "status", None)
    if isinstance(status, str) and status:
        return status
    code = getattr(exc, "code", None)
    if callable(code):
        name = getattr(code(), "name", None)
        if isinstance(name, str):
            return name
    return type(exc).__name__


class LoadRun:
    """One worker's run: a warm-up phase, then the measured phase.

    ``result`` is the current phase's live result (progress displays read it).
    """

    def __init__(
        self,
        plan: LoadPlan,
        caller: Caller,
        *,
        worker: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan = plan
        self.caller = caller
        self.worker = worker
        self.clock = clock
        self.source: RequestSource = plan.source(worker)
        self.result = RunResult()
        self.measuring = False
        self._fatal: InvalidRequestError | None = None
        self._next = worker  # request numbers, unique across workers: w, w+P, w+2P, ...

    async def run(self) -> RunResult:
        """Warm up, then measure; returns the measured phase's result."""
        plan = self.plan
        if plan.warmup > 0:
            warm = (
                Schedule.constant(plan.schedule.rate_at(0)) if plan.schedule is not None else None
            )
            await self._phase(warm, plan.warmup, None)
        self.result = RunResult()
        self.measuring = True
        started = self.clock()
        await self._phase(plan.schedule, plan.length, plan.requests)
        self.result.elapsed = self.clock() - started
        return self.result

    async def _phase(self, schedule: Schedule | None, length: float, limit: int | None) -> None:
        if schedule is None:
            await self._closed(length, limit)
        else:
            await self._open(schedule, length, limit)
        self._check()

    def _check(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    async def _one(self, n: int, since: float, result: RunResult) -> None:
        """Send request ``n``; its latency runs from ``since``."""
        endpoint: str | None = None
        error: str | None = None
        try:
            endpoint = await self.caller(self.source(n))
        except InvalidRequestError as exc:  # the same for every request: stop the run
            self._fatal = self._fatal or exc
            return
        except Exception as exc:
            error = error_kind(exc)
        result.record(self.clock() - since, error, endpoint)

    async def _closed(self, length: float, limit: int | None) -> None:
        end = self.clock() + length
        share = None if limit is None else self.plan.share(self.worker, limit)
        budget = [math.inf if share is None else share]
        stride = self.plan.workers
        result = self.result

        async def caller_loop() -> None:
            while budget[0] > 0 and self.clock() < end and self._fatal is None:
                budget[0] -= 1
                n, self._next = self._next, self._next + stride
                await self._one(n, self.clock(), result)

        callers = self.plan.share(self.worker, self.plan.concurrency)
        await asyncio.gather(*(caller_loop() for _ in range(callers)))

    async def _open(self, schedule: Schedule, length: float, limit: int | None) -> None:
        plan = self.plan
        start = self.clock()
        end = start + length
        result = self.result
        slots = asyncio.Semaphore(plan.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()

        async def send(n: int, intended: float) -> None:
            try:
                await self._one(n, intended, result)
            finally:
                slots.release()

        # The schedule counts this phase's requests from 0; worker w takes w, w+P, ...
        offsets = schedule.offsets(length, limit=limit, start=self.worker, stride=plan.workers)
        n = self._next
        for offset in offsets:
            if self._fatal is not None:
                break
            intended = start + offset
            delay = intended - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if slots.locked():
                try:
                    await asyncio.wait_for(slots.acquire(), timeout=max(end - self.clock(), 0))
                except TimeoutError:  # the phase ended with this request still held back
                    result.not_started += 1 + sum(1 for _ in offsets)
                    break
            else:
                await slots.acquire()
            if self.clock() - intended > LATE_AFTER:
                result.late += 1
            task = asyncio.create_task(send(n, intended))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += plan.workers
        self._next = n
        if tasks:
            await asyncio.gather(*tasks)
