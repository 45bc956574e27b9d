"""Retry policy: which failures are tried again, when, and within what time.

Rules, checked in this order after a failed attempt:

1. The call's deadline has passed: stop.
2. The request never reached the service (``error.retriable``: no
   connection could be made, an endpoint's breaker refused it): retry on
   another endpoint at once. Such a retry costs the service nothing, so it
   spends neither an attempt of ``max_attempts`` nor the budget; the
   deadline and the endpoints not yet tried bound it.
3. The request may have run (``error.retriable_if_idempotent``: a timeout,
   a connection lost in flight): retry only a method that is safe to repeat,
   while attempts and the budget last, after a jittered backoff.
4. Anything else (the callee answered, the caller erred): stop.

A method is safe to repeat when it says so (a gRPC method's
``idempotency_level`` option, NO_SIDE_EFFECTS or IDEMPOTENT), when its HTTP
verb is idempotent (RFC 9110 section 9.2.2), or, for a gRPC method that
declares nothing, when its name marks it a read (``Get*``, ``List*``,
``Check``, ``HealthCheck``: Google API standard methods and health checks).

An attempt of a method that is safe to repeat gets an even share of the
time left (or ``attempt_timeout``, if shorter), so a hung endpoint costs one
attempt and the retry still has time on a sibling. Any other method's
attempt gets all the time left: cutting it short could only fail it sooner.

The budget (as in Finagle and Envoy) lets retries add at most ``ratio`` extra
load on top of first attempts, plus a small floor of ``min_per_second`` so a
quiet client can still retry. When a service is dying, first attempts fail,
the budget drains and the client stops multiplying load on it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from meshctl.errors import MeshError

IDEMPOTENT_VERBS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_READ_PREFIXES = ("Get", "List")
_READ_NAMES = frozenset({"Check", "HealthCheck"})


def idempotent_method(name: str, declared: bool | None = None) -> bool:
    """Whether the gRPC method ``name`` is safe to repeat; ``declared`` (its option) wins."""
    if declared is not None:
        return declared
    if name in _READ_NAMES:
        return True
    # "Get" must start a word: GetTrafficMetrics is a read, Getaway is not.
    return any(name.startswith(p) and name[len(p) : len(p) + 1].isupper() for p in _READ_PREFIXES)


class Retry(Enum):
    """What to do after a failed attempt."""

    STOP = "stop"
    SIBLING = "sibling"  # the request never arrived: another endpoint now, for free
    BACKOFF = "backoff"  # it may have run but may be repeated: an attempt, after a backoff


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a call gets and how long to wait between them."""

    max_attempts: int = 3
    base_delay: float = 0.02
    max_delay: float = 1.0
    multiplier: float = 2.0
    attempt_timeout: float | None = None
    hedge: bool = False  # race a slow first attempt of a repeatable method (mesh.hedging)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.attempt_timeout is not None and not 0 < self.attempt_timeout < math.inf:
            raise ValueError("attempt_timeout must be a positive number of seconds")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``retry`` (1-based): full jitter over the exponential cap."""
        cap = min(self.max_delay, self.base_delay * self.multiplier ** (retry - 1))
        return (rng or random).uniform(0.0, cap)

    def attempt_timeout_for(self, remaining: float, sent: int, idempotent: bool) -> float:
        """Seconds the next attempt gets, ``sent`` attempts having reached the service."""
        if not idempotent:
            return remaining
        share = remaining / max(1, self.max_attempts - sent)
        cap = self.attempt_timeout
        return share if cap is None or cap > share else cap

    def decide(
        self,
        error: MeshError,
        *,
        idempotent: bool,
        sent: int,
        remaining: float,
        budget: RetryBudget,
    ) -> Retry:
        """The rules above, for ``error`` after ``sent`` attempts reached the service."""
        if remaining <= 0:
            return Retry.STOP
        if error.retriable:
            return Retry.SIBLING
        if not (idempotent and error.retriable_if_idempotent) or sent >= self.max_attempts:
            return Retry.STOP
        return Retry.BACKOFF if budget.try_spend() else Retry.STOP


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
