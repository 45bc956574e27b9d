"""A clock that moves only when the test says so."""

from __future__ import annotations

import asyncio

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: a plausible wall-clock time


class FakeClock:
    """Stands in for ``time.time`` or ``time.monotonic`` wherever meshctl takes ``clock=``.

    Calling it returns ``now``; nothing moves it but ``advance``, ``set`` or
    ``sleep``. The default start is a plausible wall-clock time, so the same
    clock serves code that stamps records or tokens and code that only
    measures intervals.

    Args:
        now: the starting time, in seconds.
    """

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds``; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards; use set() to rewind")
        self.now += seconds
        return self.now

    def set(self, now: float) -> None:
        """Jump to ``now`` (backwards too, to test code that must survive that)."""
        self.now = now

    async def sleep(self, seconds: float) -> None:
        """An ``asyncio.sleep`` stand-in that advances the clock instead of waiting."""
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r})"
