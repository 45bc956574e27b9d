"""The failed-login limiter on an injected clock: lockouts, backoff, bursts, bounds."""

from __future__ import annotations

import pytest

from meshctl.services.auth.ratelimit import IN_FLIGHT_WAIT, Key, LoginLimit, LoginLimiter
from meshctl.testing import FakeClock

USER, ADDR = ("user", "alice"), ("address", "10.0.0.7")


def make(clock: FakeClock, **limit: float) -> LoginLimiter:
    return LoginLimiter(LoginLimit(**limit), clock)  # type: ignore[arg-type]


def fail(limiter: LoginLimiter, *keys: Key) -> dict[Key, float]:
    assert limiter.admit(keys) == 0
    return limiter.finish(keys, ok=False)


def test_the_fifth_failure_within_a_minute_locks_both_keys() -> None:
    clock = FakeClock()
    limiter = make(clock)
    for _ in range(4):
        assert fail(limiter, USER, ADDR) == {}
        clock.advance(10)
    assert fail(limiter, USER, ADDR) == {USER: 60.0, ADDR: 60.0}
    assert limiter.admit([USER]) == 60.0
    clock.advance(59)
    assert limiter.admit([("user", "bob"), ADDR]) == 1.0
    clock.advance(1)
    assert limiter.admit([USER, ADDR]) == 0


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    clock = FakeClock()
    limiter = make(clock)
    for _ in range(20):
        assert fail(limiter, USER) == {}
        clock.advance(15)


def test_each_failure_after_a_lockout_doubles_it_up_to_the_cap() -> None:
    clock = FakeClock()
    limiter = make(clock, max_failures=2, lockout=60, max_lockout=300)
    fail(limiter, USER)
    locks = []
    for _ in range(5):
        locks.append(fail(limiter, USER)[USER])
        clock.advance(limiter.admit([USER]))
    assert locks == [60, 120, 240, 300, 300]


def test_a_quiet_key_is_forgiven_and_a_success_clears_the_user_only() -> None:
    clock = FakeClock()
    limiter = make(clock, max_failures=1, lockout=60, max_lockout=120)
    assert fail(limiter, USER, ADDR) == {USER: 60, ADDR: 60}
    clock.advance(60 + 120)  # unlocked, then quiet for max_lockout
    assert fail(limiter, ADDR) == {ADDR: 60}  # back to the first lockout
    clock.advance(60)
    assert limiter.admit([USER]) == 0
    assert limiter.finish([USER], ok=True) == {}
    assert fail(limiter, USER) == {USER: 60}  # a fresh start: max_failures=1 locks again


def test_a_burst_in_flight_gets_no_more_checks_than_failures_allowed() -> None:
    clock = FakeClock()
    limiter = make(clock)
    admitted = [limiter.admit([USER, ADDR]) for _ in range(8)]
    assert admitted == [0] * 5 + [IN_FLIGHT_WAIT] * 3
    locked = [limiter.finish([USER, ADDR], ok=False) for _ in range(5)]
    assert locked[-1] == {USER: 60, ADDR: 60}
    assert limiter.admit([USER]) == 60


def test_a_success_in_flight_frees_its_place() -> None:
    clock = FakeClock()
    limiter = make(clock, max_failures=1)
    assert limiter.admit([USER, ADDR]) == 0
    assert limiter.admit([USER, ADDR]) == IN_FLIGHT_WAIT
    limiter.finish([USER, ADDR], ok=True)
    assert limiter.admit([USER, ADDR]) == 0


def test_memory_is_bounded_by_evicting_the_least_recently_seen() -> None:
    clock = FakeClock()
    limiter = make(clock, max_failures=1, max_tracked=3)
    for name in "abcd":
        fail(limiter, ("user", name))
    assert len(limiter) == 3
    assert limiter.admit([("user", "a")]) == 0
    assert limiter.admit([("user", "d")]) == 60


@pytest.mark.parametrize(
    "limit", [{"max_failures": 0}, {"lockout": 0}, {"lockout": 10, "max_lockout": 5}]
)
def test_nonsense_limits_are_refused(limit: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LoginLimit(**limit)  # type: ignore[arg-type]
