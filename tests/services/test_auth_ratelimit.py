"""The failed-login limiter on an injected clock: lockouts, backoff, forgiveness, bounds."""

from __future__ import annotations

import pytest

from meshctl.services.auth.ratelimit import LoginLimit, LoginLimiter
from meshctl.testing import FakeClock

USER, ADDR = ("user", "alice"), ("address", "10.0.0.7")


def make(clock: FakeClock, **limit: float) -> LoginLimiter:
    return LoginLimiter(LoginLimit(**limit), clock)  # type: ignore[arg-type]


def test_the_fifth_failure_within_a_minute_locks_both_keys() -> None:
    clock = FakeClock()
    limiter = make(clock)
    for _ in range(4):
        assert limiter.failed([USER, ADDR]) == {}
        assert limiter.retry_after([USER, ADDR]) == 0
        clock.advance(10)
    assert limiter.failed([USER, ADDR]) == {USER: 60.0, ADDR: 60.0}
    assert limiter.retry_after([USER]) == 60.0
    clock.advance(59)
    assert limiter.retry_after([("user", "bob"), ADDR]) == 1.0
    clock.advance(1)
    assert limiter.retry_after([USER, ADDR]) == 0


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    clock = FakeClock()
    limiter = make(clock)
    for _ in range(20):
        assert limiter.failed([USER]) == {}
        clock.advance(15)


def test_each_failure_after_a_lockout_doubles_it_up_to_the_cap() -> None:
    clock = FakeClock()
    limiter = make(clock, max_failures=2, lockout=60, max_lockout=300)
    limiter.failed([USER])
    locks = []
    for _ in range(5):
        locks.append(limiter.failed([USER])[USER])
        clock.advance(limiter.retry_after([USER]))
    assert locks == [60, 120, 240, 300, 300]


def test_a_quiet_key_is_forgiven_and_a_success_clears_the_user() -> None:
    clock = FakeClock()
    limiter = make(clock, max_failures=1, lockout=60, max_lockout=120)
    assert limiter.failed([USER, ADDR]) == {USER: 60, ADDR: 60}
    clock.advance(60 + 120)  # unlocked, then quiet for max_lockout
    assert limiter.failed([ADDR]) == {ADDR: 60}  # back to the first lockout
    limiter.succeeded(USER)
    assert limiter.retry_after([USER]) == 0
    assert limiter.retry_after([ADDR]) == 60


def test_memory_is_bounded_by_evicting_the_least_recently_seen() -> None:
    clock = FakeClock()
    limiter = make(clock, max_failures=1, max_tracked=3)
    for name in "abcd":
        limiter.failed([("user", name)])
    assert len(limiter) == 3
    assert limiter.retry_after([("user", "a")]) == 0
    assert limiter.retry_after([("user", "d")]) == 60


@pytest.mark.parametrize(
    "limit", [{"max_failures": 0}, {"lockout": 0}, {"lockout": 10, "max_lockout": 5}]
)
def test_nonsense_limits_are_refused(limit: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LoginLimit(**limit)  # type: ignore[arg-type]
