"""Hedged attempts: a second try on another endpoint when the first is slower than usual.

A request that is safe to repeat and has not been answered after the
service's usual latency (its p95) is sent again to a sibling; the first
answer wins and the other attempt is cancelled. It trades a little extra
load (a twentieth of calls at most, paid from the retry budget) for a tail
that no longer waits on one slow instance. Off unless ``RetryPolicy.hedge``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from meshctl.core.stats import CallStats

T = TypeVar("T")

HEDGE_PERCENTILE = 95.0
MIN_SAMPLES = 20  # calls seen before the percentile means anything
_REFRESH_EVERY = 64  # calls between two readings of the percentile (it costs a histogram walk)


class HedgeDelays:
    """Each service's hedging delay, its p95 latency, re-read every few dozen calls."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, float]] = {}

    def delay(self, service: str, stats: CallStats | None) -> float | None:
        """Seconds to wait before hedging a call to ``service``; None while too few calls."""
        if stats is None or stats.requests < MIN_SAMPLES:
            return None
        cached = self._cache.get(service)
        if cached is None or stats.requests - cached[0] >= _REFRESH_EVERY:
            cached = self._cache[service] = (
                stats.requests,
                stats.latency.percentile(HEDGE_PERCENTILE),
            )
        return cached[1]


async def race(
    primary: Awaitable[T],
    delay: float,
    backup: Callable[[], Awaitable[T] | None],
) -> T:
    """``primary``'s result, or after ``delay`` the first success of it and ``backup()``.

    ``backup`` is asked for its attempt only when the delay has passed (it
    may decline with None). When both attempts fail, the later error is raised.
    """
    first: asyncio.Future[T] = asyncio.ensure_future(primary)
    try:
        started, _ = await asyncio.wait((first,), timeout=delay)
        second = None if started else backup()
    except BaseException:
        first.cancel()
        raise
    if second is None:
        return await first
    pending: set[asyncio.Future[T]] = {first, asyncio.ensure_future(second)}
    try:
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is None:
                    return task.result()
            if not pending:
                return next(iter(done)).result()  # raises the error of the one that ended last
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
