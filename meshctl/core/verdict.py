"""Whose failure a failed call is: the rule a service-level breaker follows.

An endpoint's breaker sees every attempt on its instance and ejects a bad
instance. The service's breaker guards the service as a whole, so it judges
a call by its final outcome, and only a failure of the service counts:

* A success counts as a success.
* An outcome that trips no breaker (no endpoints in the registry, a
  breaker's rejection, the caller's mistake, a cancellation) never counts.
* A failure counts when no endpoint other than those the call failed on has
  answered within the last ``window`` seconds: every instance in sight is
  failing (or there is only one), which is the service's trouble.
* A failure confined to the endpoints it was tried on while a sibling has
  answered within ``window`` is theirs: their breakers deal with it, and the
  service breaker lets the call go without a verdict.

Time is passed in (``now``), so the rule is stepped without a clock.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["SiblingLedger"]


class SiblingLedger:
    """When each endpoint of one service last answered, newest last.

    Args:
        window: seconds an answer keeps a failure elsewhere from counting
            against the service (the breakers' rolling window suits).
    """

    __slots__ = ("window", "_answered")

    def __init__(self, window: float = 10.0) -> None:
        if not window > 0:
            raise ValueError(f"window must be > 0 seconds, not {window!r}")
        self.window = window
        self._answered: dict[str, float] = {}

    def answered(self, instance_id: str, now: float) -> None:
        """``instance_id`` answered a call at ``now``."""
        answered = self._answered
        # Re-inserting keeps the dict ordered by time: the newest answer is last.
        answered.pop(instance_id, None)
        answered[instance_id] = now

    def service_failure(self, failed_on: Collection[str], now: float) -> bool:
        """Whether a call that failed on the endpoints ``failed_on`` counts against the service."""
        since = now - self.window
        answered = self._answered
        for instance_id in reversed(answered):
            if answered[instance_id] < since:
                return True  # the rest answered even longer ago
            if instance_id not in failed_on:
                return False
        return True

    def forget(self, instance_id: str) -> None:
        """Drop an endpoint that left the service."""
        self._answered.pop(instance_id, None)

    def __len__(self) -> int:
        return len(self._answered)
