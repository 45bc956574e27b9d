"""Failed-login limits per username and per client address, against an injected clock.

The rules, for each key (a username or a client address) on its own:

- ``max_failures`` failed logins within ``window`` seconds lock the key for
  ``lockout`` seconds; while any key of a login is locked, the login is
  refused (429) without checking the password, so a locked-out guesser costs
  no hashing either.
- A login being checked counts as a failure to come: a burst sent at once is
  admitted only as far as its failures could go before a lockout, the rest
  are told to retry in ``IN_FLIGHT_WAIT`` seconds.
- Each further failure after a lockout locks the key again at once, for twice
  as long as the time before, up to ``max_lockout``.
- A key that has not failed for ``max_lockout`` seconds starts afresh, and a
  successful login clears its user's key (not the address's: one good account
  must not unlock an address that guesses at others).

Counts live in this process's memory: each replica of the auth service
counts its own, so N replicas allow up to N times the attempts. At most
``max_tracked`` keys are kept; the least recently seen goes first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Key = tuple[str, str]
"""``("user", name)`` or ``("address", host)``."""
IN_FLIGHT_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class LoginLimit:
    """How many failures a key may have, and how long it is locked out after them."""

    max_failures: int = 5
    window: float = 60.0
    lockout: float = 60.0
    max_lockout: float = 900.0
    max_tracked: int = 10_000

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.max_tracked < 1:
            raise ValueError("max_failures and max_tracked must be at least 1")
        if not 0 < self.lockout <= self.max_lockout or self.window <= 0:
            raise ValueError("window and lockouts must be positive, lockout <= max_lockout")


@dataclass(slots=True)
class _Record:
    failures: list[float] = field(default_factory=list)
    lockouts: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0
    in_flight: int = 0


class LoginLimiter:
    """Counts failed logins by key and says how long a login must wait."""

    def __init__(self, limit: LoginLimit, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._clock = clock
        self._records: OrderedDict[Key, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def admit(self, keys: Sequence[Key]) -> float:
        """Seconds the login must wait, or 0: then it is in flight until ``finish``."""
        now, limit = self._clock(), self._limit
        records = [r for k in keys if (r := self._records.get(k)) is not None]
        wait = max([0.0, *(r.locked_until - now for r in records)])
        if wait > 0:
            return wait
        for r in records:
            # After a lockout the next failure locks again: one attempt at a time.
            allowance = 1 if r.lockouts else limit.max_failures
            recent = sum(now - t < limit.window for t in r.failures)
            if recent + r.in_flight >= allowance:
                return IN_FLIGHT_WAIT
        for key in keys:
            self._touch(key).in_flight += 1
        return 0.0

    def finish(self, keys: Sequence[Key], *, ok: bool) -> dict[Key, float]:
        """End an admitted login. Success forgets its ``user`` keys' failures; a failure
        counts against every key. Returns the keys this locked, with seconds."""
        for key in keys:
            if (record := self._records.get(key)) is not None:
                record.in_flight = max(0, record.in_flight - 1)
        if ok:
            for key in keys:
                if key[0] == "user":
                    self._records.pop(key, None)
            return {}
        return self._failed(keys)

    def _failed(self, keys: Sequence[Key]) -> dict[Key, float]:
        now, limit = self._clock(), self._limit
        locked: dict[Key, float] = {}
        for key in keys:
            record = self._touch(key)
            if now - max(record.last_failure, record.locked_until) >= limit.max_lockout:
                record.lockouts = 0  # quiet for long enough: forgiven
            record.last_failure = now
            record.failures = [t for t in record.failures if now - t < limit.window]
            record.failures.append(now)
            if record.lockouts or len(record.failures) >= limit.max_failures:
                seconds = min(limit.lockout * 2**record.lockouts, limit.max_lockout)
                record.lockouts += 1
                record.locked_until = now + seconds
                record.failures.clear()
                locked[key] = seconds
        return locked

    def _touch(self, key: Key) -> _Record:
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record  # most recently seen last
        while len(self._records) > self._limit.max_tracked:
            self._records.popitem(last=False)
        return record
