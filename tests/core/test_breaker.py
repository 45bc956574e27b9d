"""Circuit breaker state machine: the transition table, trip triggers, generations, listeners."""

import json
from collections.abc import Callable

import pytest

from meshctl.core.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
from meshctl.errors import (
    CallTimeoutError,
    ConnectionFailedError,
    InvalidRequestError,
    RemoteCallError,
)
from meshctl.testing import FakeClock
from tests.support.breakers import TABLE_CONFIG, TIMEOUT, into, make, trip

S = CircuitState
C, O, H, F, D = S.CLOSED, S.OPEN, S.HALF_OPEN, S.FORCED_OPEN, S.DISABLED  # noqa: E741


Step = Callable[[CircuitBreaker, FakeClock], object]


def _admitted(outcome: Callable[[CircuitBreaker, int], None]) -> Step:
    def step(breaker: CircuitBreaker, clock: FakeClock) -> None:
        if breaker.allow():
            outcome(breaker, breaker.generation)

    return step


def _wait(seconds: float) -> Step:
    def step(breaker: CircuitBreaker, clock: FakeClock) -> None:
        clock.advance(seconds)

    return step


INPUTS: dict[str, Step] = {
    "allow": lambda b, c: b.allow(),
    "success": _admitted(lambda b, g: b.record_success(0.01, generation=g)),
    "failure": _admitted(lambda b, g: b.record_failure(RuntimeError("x"), generation=g)),
    "release": _admitted(lambda b, g: b.release(generation=g)),
    "late_success": lambda b, c: b.record_success(generation=b.generation - 1),
    "late_failure": lambda b, c: b.record_failure(generation=b.generation - 1),
    "wait_below_timeout": _wait(TIMEOUT - 0.001),
    "wait_timeout": _wait(TIMEOUT),
    "reset": lambda b, c: b.reset(),
    "force_open": lambda b, c: b.force_open(),
    "disable": lambda b, c: b.disable(),
}

# state -> next state for each input, in the order of INPUTS.
EXPECTED = {
    #    allow succ fail rel late_s late_f below wait reset force disable
    C: (C, C, O, C, C, C, C, C, C, F, D),
    O: (O, O, O, O, O, O, O, H, C, F, D),
    H: (H, C, O, H, H, H, H, H, C, F, D),
    F: (F, F, F, F, F, F, F, F, C, F, D),
    D: (D, D, D, D, D, D, D, D, C, F, D),
}
CASES = [
    pytest.param(state, name, EXPECTED[state][i], id=f"{state.value}-{name}")
    for state in S
    for i, name in enumerate(INPUTS)
]


def test_table_covers_every_state_and_input():
    assert set(EXPECTED) == set(S)
    assert all(len(row) == len(INPUTS) for row in EXPECTED.values())


@pytest.mark.parametrize(("state", "name", "expected"), CASES)
def test_transition_table(state, name, expected):
    clock = FakeClock()
    breaker = into(state, clock, **TABLE_CONFIG)
    INPUTS[name](breaker, clock)
    assert breaker.state is expected


@pytest.mark.parametrize(
    ("state", "admits"), [(C, True), (O, False), (H, True), (F, False), (D, True)]
)
def test_admission_by_state(state, admits):
    breaker = into(state, FakeClock(), **TABLE_CONFIG)
    assert breaker.allow() is admits


def test_consecutive_failures_trip_at_threshold_not_before():
    breaker = make(FakeClock(), failure_threshold=3)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is C and breaker.snapshot()["failure_count"] == 2
    breaker.record_failure()
    assert breaker.state is O and breaker.snapshot()["trip_count"] == 1


def test_success_resets_the_consecutive_count():
    breaker = make(FakeClock(), failure_threshold=3, request_volume_threshold=1000)
    for _ in range(10):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state is C and breaker.snapshot()["failure_count"] == 0


def _alternate(breaker: CircuitBreaker, clock: FakeClock, calls: int, step: float = 0.0) -> None:
    """Half failures, half successes, never two failures in a row."""
    for i in range(calls):
        if i % 2:
            breaker.record_failure()
        else:
            breaker.record_success()
        clock.advance(step)


def test_error_rate_trips_once_volume_is_reached():
    clock = FakeClock()
    breaker = make(clock, request_volume_threshold=20, error_threshold_percentage=50.0)
    _alternate(breaker, clock, 19)  # 9 failures out of 19: volume not reached
    assert breaker.state is C
    breaker.record_failure()  # 10 of 20 = 50 %
    assert breaker.state is O
    snap = breaker.snapshot()
    assert (snap["window_requests"], snap["window_failures"]) == (20, 10)
    assert snap["error_percentage"] == 50.0


def test_error_rate_just_below_threshold_does_not_trip():
    clock = FakeClock()
    breaker = make(clock, request_volume_threshold=20, error_threshold_percentage=50.0)
    breaker.record_success()
    _alternate(breaker, clock, 20)  # 10 failures out of 21
    assert breaker.state is C


def test_full_failure_below_volume_does_not_trip_by_rate():
    breaker = make(FakeClock(), failure_threshold=100, request_volume_threshold=20)
    for _ in range(19):
        breaker.record_failure()
    assert breaker.state is C
    assert breaker.snapshot()["error_percentage"] == 100.0


def test_aged_out_buckets_stop_a_trip():
    clock = FakeClock(0.0)
    breaker = make(clock, rolling_window=10.0, bucket_count=10, request_volume_threshold=20)
    _alternate(breaker, clock, 10)  # 5 failures in bucket [0, 1)
    clock.advance(5.0)
    _alternate(breaker, clock, 9)  # 4 more in bucket [5, 6): 19 calls so far
    clock.advance(5.0)  # now 10.0: the first bucket has aged out
    assert breaker.snapshot()["window_requests"] == 9
    breaker.record_failure()  # would make 20 calls / 10 failures without aging
    assert breaker.state is C


def test_half_open_limits_concurrent_trials():
    clock = FakeClock()
    breaker = into(H, clock, half_open_max_calls=2, success_threshold=3)
    assert breaker.allow() and breaker.allow()
    assert not breaker.allow()
    gen = breaker.generation
    breaker.record_success(generation=gen)
    assert breaker.state is H and breaker.allow()  # the slot came back
    assert not breaker.allow()
    breaker.release(generation=gen)
    assert breaker.allow()
    breaker.record_success(generation=gen)
    breaker.record_success(generation=gen)
    assert breaker.state is C


def test_half_open_limit_defaults_to_success_threshold():
    breaker = into(H, FakeClock(), success_threshold=4)
    assert [breaker.allow() for _ in range(5)] == [True] * 4 + [False]


def test_half_open_failure_reopens_and_restarts_the_timer():
    clock = FakeClock()
    breaker = into(H, clock, timeout_duration=TIMEOUT)
    assert breaker.allow()
    clock.advance(5.0)
    breaker.record_failure(ValueError("still down"), generation=breaker.generation)
    snap = breaker.snapshot()
    assert snap["state"] == "open" and snap["trip_count"] == 2
    assert snap["retry_after"] == TIMEOUT and snap["last_failure"] == "ValueError: still down"
    clock.advance(TIMEOUT - 1)
    assert breaker.retry_after() == 1.0 and not breaker.allow()
    clock.advance(1)
    assert breaker.allow() and breaker.state is H


def test_closing_starts_a_fresh_window():
    clock = FakeClock()
    breaker = into(H, clock, success_threshold=1)
    breaker.record_success(generation=breaker.generation)
    snap = breaker.snapshot()
    assert snap["state"] == "closed"
    assert (snap["window_requests"], snap["failure_count"], snap["opened_at"]) == (0, 0, None)


def test_late_success_from_closed_era_does_not_close_or_count_as_trial():
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1, success_threshold=1)
    assert breaker.allow()
    slow = breaker.generation  # a slow call admitted while CLOSED
    trip(breaker)
    breaker.record_success(generation=slow)
    assert breaker.state is O
    clock.advance(60.0)
    assert breaker.state is H
    breaker.record_success(generation=slow)
    breaker.record_failure(generation=slow)
    assert breaker.state is H and breaker.snapshot()["success_count"] == 0
    assert breaker.snapshot()["total_successes"] == 2  # still counted in the lifetime totals


def test_late_release_does_not_free_a_newer_slot():
    clock = FakeClock()
    breaker = into(H, clock, half_open_max_calls=1)
    assert breaker.allow()
    breaker.release(generation=breaker.generation - 1)
    assert not breaker.allow()


def test_late_failure_does_not_trip_after_reset():
    breaker = make(FakeClock(), failure_threshold=1)
    assert breaker.allow()
    before = breaker.generation
    breaker.reset()
    breaker.record_failure(generation=before)
    assert breaker.state is C and breaker.snapshot()["failure_count"] == 0


def test_outcomes_without_generation_while_open_change_nothing():
    breaker = into(O, FakeClock())
    breaker.record_success()
    breaker.record_failure()
    breaker.release()
    assert breaker.state is O and breaker.snapshot()["trip_count"] == 1


def test_disabled_keeps_stats_but_never_trips():
    breaker = into(D, FakeClock(), failure_threshold=1, request_volume_threshold=1)
    for _ in range(50):
        assert breaker.allow()
        breaker.record_failure()
    snap = breaker.snapshot()
    assert snap["state"] == "disabled" and snap["window_failures"] == 50
    breaker.reset()
    assert breaker.snapshot()["window_requests"] == 0


def test_forced_open_waits_for_reset_whatever_the_time():
    clock = FakeClock()
    breaker = into(F, clock)
    clock.advance(10_000)
    assert not breaker.allow() and breaker.retry_after() is None
    breaker.reset()
    assert breaker.allow()


def test_listeners_see_every_change_in_order():
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1, success_threshold=1, timeout_duration=1)
    seen = []
    breaker.add_listener(lambda b, old, new: seen.append((b.name, old, new)))
    trip(breaker)
    clock.advance(1)
    assert breaker.allow()
    breaker.record_success(generation=breaker.generation)
    breaker.reset()  # already closed: not a change
    breaker.force_open()
    breaker.force_open()
    breaker.disable()
    assert [(o, n) for _, o, n in seen] == [(C, O), (O, H), (H, C), (C, F), (F, D)]
    assert {name for name, _, _ in seen} == {"svc"}


def test_raising_listener_is_logged_and_others_still_run(caplog):
    breaker = make(FakeClock(), failure_threshold=1)
    seen = []

    def bad(b, old, new):
        raise RuntimeError("listener bug")

    breaker.add_listener(bad)
    breaker.add_listener(lambda b, old, new: seen.append(new))
    with caplog.at_level("ERROR", logger="meshctl.core.breaker"):
        trip(breaker)
    assert breaker.state is O and seen == [O]
    assert "listener" in caplog.text and "listener bug" in caplog.text
    breaker.remove_listener(bad)
    breaker.remove_listener(bad)  # a second removal is harmless
    caplog.clear()
    breaker.reset()
    assert seen == [O, C] and not caplog.records


def test_snapshot_is_json_ready_and_complete():
    clock = FakeClock()
    breaker = make(clock, failure_threshold=2)
    breaker.record_success(0.25)
    breaker.record_failure(KeyError("k"))
    snap = json.loads(json.dumps(breaker.snapshot()))
    for key in (
        "name",
        "state",
        "failure_count",
        "success_count",
        "window_requests",
        "window_failures",
        "error_percentage",
        "opened_at",
        "trip_count",
        "retry_after",
        "last_failure",
        "config",
    ):
        assert key in snap
    assert snap["last_latency"] == 0.25 and snap["mean_latency"] == 0.25
    assert snap["last_failure"] == "KeyError: 'k'"
    assert snap["config"]["half_open_max_calls"] == 3


@pytest.mark.parametrize(
    "overrides",
    [
        {"failure_threshold": 0},
        {"failure_threshold": 2.5},
        {"failure_threshold": True},
        {"success_threshold": -1},
        {"request_volume_threshold": "20"},
        {"bucket_count": 0},
        {"half_open_max_calls": 0},
        {"timeout_duration": -1},
        {"timeout_duration": float("nan")},
        {"timeout_duration": float("inf")},
        {"rolling_window": 0},
        {"error_threshold_percentage": 0},
        {"error_threshold_percentage": 100.5},
        {"is_failure": "yes"},
    ],
)
def test_config_rejects_nonsense(overrides):
    with pytest.raises(ValueError, match=next(iter(overrides))):
        CircuitBreakerConfig(**overrides)


def test_breaker_rejects_bad_name_and_config():
    with pytest.raises(ValueError, match="name"):
        CircuitBreaker("")
    with pytest.raises(ValueError, match="config"):
        CircuitBreaker("x", {"failure_threshold": 1})  # type: ignore[arg-type]


def test_default_is_failure_follows_trips_breaker():
    is_failure = CircuitBreakerConfig().is_failure
    # asyncio.TimeoutError is the builtin TimeoutError since Python 3.11.
    assert is_failure(RuntimeError()) and is_failure(TimeoutError())
    assert is_failure(ConnectionFailedError("h:1")) and is_failure(CallTimeoutError("s", 1))
    assert not is_failure(InvalidRequestError("bad"))
    assert not is_failure(RemoteCallError("s", "INVALID_ARGUMENT", trips_breaker=False))
