"""Retry policy: exponential backoff with full jitter, bounded by a retry budget.

The budget (as in Finagle and Envoy) lets retries add at most ``ratio`` extra
load on top of first attempts, plus a small floor of ``min_per_second`` so a
quiet client can still retry. When a service is dying, first attempts fail,
the budget drains and the client stops multiplying load on it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a call gets and how long to wait between them."""

    max_attempts: int = 3
    base_delay: float = 0.02
    max_delay: float = 1.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``retry`` (1-based): full jitter over the exponential cap."""
        cap = min(self.max_delay, self.base_delay * self.multiplier ** (retry - 1))
        return (rng or random).uniform(0.0, cap)


class RetryBudget:
    """A token bucket filled by requests (``ratio`` each) and by time (``min_per_second``)."""

    __slots__ = ("ratio", "min_per_second", "capacity", "_tokens", "_clock", "_last")

    def __init__(
        self,
        ratio: float = 0.2,
        min_per_second: float = 5.0,
        *,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0 or min_per_second < 0:
            raise ValueError("ratio and min_per_second must be >= 0")
        self.ratio = ratio
        self.min_per_second = min_per_second
        # Enough room for ten seconds of the floor, so bursts after quiet spells are absorbed.
        self.capacity = capacity if capacity is not None else max(1.0, min_per_second * 10)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.min_per_second)
        self._last = now

    def record_request(self) -> None:
        """A first attempt was made: it earns ``ratio`` of a retry."""
        self._tokens = min(self.capacity, self._tokens + self.ratio)

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when the budget is spent."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens
