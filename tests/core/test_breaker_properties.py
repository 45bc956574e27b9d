"""Property tests: random call histories never break the breaker's invariants."""

import json

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from meshctl.core.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
from meshctl.testing import FakeClock

S = CircuitState
COUNTERS = (
    "failure_count",
    "success_count",
    "window_requests",
    "window_failures",
    "trip_count",
    "total_successes",
    "total_failures",
    "total_rejections",
)


class BreakerMachine(RuleBasedStateMachine):
    """Drives one breaker with calls that start and finish in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.pending: list[int] = []  # generation of each admitted, unfinished call
        self.breaker = CircuitBreaker("prop", clock=self.clock)

    @initialize(
        config=st.builds(
            CircuitBreakerConfig,
            failure_threshold=st.integers(1, 5),
            timeout_duration=st.sampled_from([0.0, 1.0, 2.0]),
            success_threshold=st.integers(1, 4),
            request_volume_threshold=st.integers(1, 8),
            error_threshold_percentage=st.sampled_from([10.0, 50.0, 100.0]),
            rolling_window=st.sampled_from([1.0, 10.0]),
            bucket_count=st.integers(1, 5),
            half_open_max_calls=st.one_of(st.none(), st.integers(1, 3)),
        )
    )
    def configure(self, config):
        self.breaker = CircuitBreaker("prop", config, clock=self.clock)

    @rule(seconds=st.sampled_from([0.0, 0.4, 1.0, 3.0]))
    def advance(self, seconds):
        self.clock.advance(seconds)

    @rule()
    def start(self):
        before = self.breaker.state
        admitted = self.breaker.allow()
        if before in (S.OPEN, S.FORCED_OPEN):
            assert not admitted
        if before in (S.CLOSED, S.DISABLED):
            assert admitted
        if admitted:
            self.pending.append(self.breaker.generation)

    @precondition(lambda self: self.pending)
    @rule(
        outcome=st.sampled_from(["success", "failure", "release"]),
        which=st.integers(0, 7),
    )
    def finish(self, outcome, which):
        generation = self.pending.pop(which % len(self.pending))
        if outcome == "success":
            self.breaker.record_success(0.01, generation=generation)
        elif outcome == "failure":
            self.breaker.record_failure(RuntimeError("x"), generation=generation)
        else:
            self.breaker.release(generation=generation)

    @rule(command=st.sampled_from(["reset", "force_open", "disable"]))
    def manual(self, command):
        getattr(self.breaker, command)()

    @invariant()
    def consistent(self):
        snap = self.breaker.snapshot()
        json.dumps(snap)
        state = S(snap["state"])
        in_flight = snap["half_open_in_flight"]
        assert 0 <= in_flight <= self.breaker.config.trial_limit
        if state is S.HALF_OPEN:
            # Every trial slot taken belongs to a call of this generation still running.
            assert in_flight == self.pending.count(self.breaker.generation)
        else:
            assert in_flight == 0
        assert all(snap[key] >= 0 for key in COUNTERS)
        assert snap["window_failures"] <= snap["window_requests"]
        assert 0.0 <= snap["error_percentage"] <= 100.0
        assert (snap["retry_after"] is not None) == (state is S.OPEN)


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_breaker_machine = BreakerMachine.TestCase
