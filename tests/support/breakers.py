"""Breakers built and brought to a state through their public API, on a fake clock."""

from __future__ import annotations

from typing import Any

from meshctl.core.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
from meshctl.testing import FakeClock

TIMEOUT = 30.0
# One failure trips CLOSED and one success closes HALF_OPEN, so every input that
# can move a state does so in a single step.
TABLE_CONFIG: dict[str, Any] = {
    "failure_threshold": 1,
    "success_threshold": 1,
    "timeout_duration": TIMEOUT,
}


def make(clock: FakeClock, **overrides: Any) -> CircuitBreaker:
    return CircuitBreaker("svc", CircuitBreakerConfig(**overrides), clock=clock)


def trip(breaker: CircuitBreaker) -> None:
    """Fail admitted calls until the breaker opens."""
    while breaker.state is CircuitState.CLOSED:
        assert breaker.allow()
        breaker.record_failure(RuntimeError("down"), generation=breaker.generation)


def into(state: CircuitState, clock: FakeClock, **overrides: Any) -> CircuitBreaker:
    """A breaker brought to ``state`` through its public API."""
    breaker = make(clock, **overrides)
    if state in (CircuitState.OPEN, CircuitState.HALF_OPEN):
        trip(breaker)
        if state is CircuitState.HALF_OPEN:
            clock.advance(breaker.config.timeout_duration)
    elif state is CircuitState.FORCED_OPEN:
        breaker.force_open()
    elif state is CircuitState.DISABLED:
        breaker.disable()
    assert breaker.state is state
    return breaker
