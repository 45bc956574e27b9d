"""A bucketed rolling window of call outcomes, as Hystrix keeps for its breakers.

The window of ``duration`` seconds is cut into ``bucket_count`` buckets of equal
width, laid out as a ring indexed by ``int(now // width)``. Outcomes go into the
bucket of the current instant; when the clock moves into a later bucket the
buckets it skipped over are emptied, so old outcomes age out a bucket at a time.
The window therefore covers between ``duration - width`` and ``duration``
seconds of history. Running totals are kept beside the ring, so adding an
outcome and reading the totals cost O(1); emptying buckets is amortised over the
calls (each bucket is emptied at most once per rotation, whatever the call rate).
"""

from __future__ import annotations

import math


class RollingWindow:
    """Request and failure counts over the last ``duration`` seconds.

    ``requests`` and ``failures`` are the running totals as of the last
    :meth:`add` or :meth:`rotate`; call :meth:`rotate` with the current time
    before reading them if time may have passed since.
    """

    __slots__ = (
        "_width",
        "_size",
        "_requests",
        "_failures",
        "_head",
        "_head_end",
        "_slot",
        "requests",
        "failures",
    )

    def __init__(self, duration: float, bucket_count: int) -> None:
        if not duration > 0 or math.isinf(duration):
            raise ValueError(f"window duration must be a positive number, not {duration!r}")
        if bucket_count < 1:
            raise ValueError(f"bucket_count must be at least 1, not {bucket_count!r}")
        self._width = duration / bucket_count
        self._size = bucket_count
        self._requests = [0] * bucket_count
        self._failures = [0] * bucket_count
        self.reset()

    def reset(self) -> None:
        """Forget every outcome."""
        self._clear()
        self._head: int | None = None  # absolute index of the current bucket
        self._head_end = -math.inf  # the instant the current bucket ends
        self._slot = 0

    def add(self, now: float, failed: bool) -> None:
        """Count one outcome at time ``now``."""
        if now >= self._head_end:
            self.rotate(now)
        slot = self._slot
        self._requests[slot] += 1
        self.requests += 1
        if failed:
            self._failures[slot] += 1
            self.failures += 1

    def rotate(self, now: float) -> None:
        """Move the window forward to ``now``, emptying the buckets that aged out."""
        if now < self._head_end:
            return
        index = int(now // self._width)
        head = self._head
        if head is None or index - head >= self._size:
            self._clear()
        else:
            for absolute in range(head + 1, index + 1):
                slot = absolute % self._size
                self.requests -= self._requests[slot]
                self.failures -= self._failures[slot]
                self._requests[slot] = 0
                self._failures[slot] = 0
        if head is None or index > head:
            head = self._head = index
            self._slot = index % self._size
        # Float rounding at a bucket edge can leave index == head; the next call rotates again.
        self._head_end = (head + 1) * self._width

    def _clear(self) -> None:
        for i in range(self._size):
            self._requests[i] = 0
            self._failures[i] = 0
        self.requests = 0
        self.failures = 0

    @property
    def error_percentage(self) -> float:
        """Failures as a percentage of requests (0.0 for an empty window)."""
        return 100.0 * self.failures / self.requests if self.requests else 0.0
