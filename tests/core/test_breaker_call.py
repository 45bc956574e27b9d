"""``CircuitBreaker.call``: admission, outcome classification, cancellation."""

import asyncio

import pytest

from meshctl.core.breaker import CircuitState
from meshctl.errors import CircuitBreakerOpenError, InvalidRequestError
from meshctl.testing import FakeClock
from tests.support.breakers import TABLE_CONFIG, into, make

S = CircuitState


class Remote:
    """An async callee that takes ``cost`` seconds of fake time and records its calls."""

    def __init__(self, clock: FakeClock, cost: float = 0.0) -> None:
        self.clock = clock
        self.cost = cost
        self.calls: list[tuple[object, ...]] = []

    async def ok(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        self.clock.advance(self.cost)
        return "answer"

    async def fail(self, exc: BaseException):
        self.calls.append((exc,))
        raise exc


async def test_admitted_call_returns_and_records_latency():
    clock = FakeClock()
    remote = Remote(clock, cost=0.125)
    breaker = make(clock)
    assert await breaker.call(remote.ok, 1, camera="cam-7") == "answer"
    assert remote.calls == [((1,), {"camera": "cam-7"})]
    snap = breaker.snapshot()
    assert snap["last_latency"] == 0.125 and snap["total_successes"] == 1
    assert snap["window_requests"] == 1


@pytest.mark.parametrize("state", [S.OPEN, S.FORCED_OPEN])
async def test_rejected_call_raises_without_calling(state):
    clock = FakeClock()
    remote = Remote(clock)
    breaker = into(state, clock, timeout_duration=30.0)
    with pytest.raises(CircuitBreakerOpenError) as info:
        await breaker.call(remote.ok)
    assert remote.calls == []
    assert info.value.name == "svc"
    assert info.value.retry_after == (30.0 if state is S.OPEN else None)


async def test_failures_trip_and_the_next_call_is_rejected():
    clock = FakeClock()
    remote = Remote(clock)
    breaker = make(clock, failure_threshold=2)
    for exc in (TimeoutError(), ConnectionError("refused")):
        with pytest.raises(type(exc)):
            await breaker.call(remote.fail, exc)
    assert breaker.state is S.OPEN
    with pytest.raises(CircuitBreakerOpenError):
        await breaker.call(remote.ok)
    assert len(remote.calls) == 2


@pytest.mark.parametrize("state", [S.CLOSED, S.HALF_OPEN, S.DISABLED])
async def test_ignored_exception_propagates_and_counts_as_nothing(state):
    clock = FakeClock()
    remote = Remote(clock)
    breaker = into(state, clock, **TABLE_CONFIG, half_open_max_calls=1)
    before = breaker.snapshot()
    with pytest.raises(InvalidRequestError):
        await breaker.call(remote.fail, InvalidRequestError("bad camera id"))
    after = breaker.snapshot()
    assert breaker.state is state
    for key in ("failure_count", "success_count", "window_requests", "total_failures"):
        assert after[key] == before[key]
    assert breaker.allow()  # the half-open trial slot was given back


@pytest.mark.parametrize("state", [S.CLOSED, S.HALF_OPEN, S.DISABLED])
async def test_cancellation_releases_the_slot_and_counts_as_nothing(state):
    clock = FakeClock()
    breaker = into(state, clock, **TABLE_CONFIG, half_open_max_calls=1)
    before = breaker.snapshot()
    started = asyncio.Event()

    async def hang():
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.call(hang))
    await started.wait()
    if state is S.HALF_OPEN:
        assert not breaker.allow()  # the hanging call holds the only slot
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is state
    after = breaker.snapshot()
    for key in ("failure_count", "success_count", "total_failures", "total_successes"):
        assert after[key] == before[key]
    assert breaker.allow()


async def test_custom_is_failure():
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1, is_failure=lambda exc: not isinstance(exc, KeyError))
    with pytest.raises(KeyError):
        await breaker.call(Remote(clock).fail, KeyError("cache miss"))
    assert breaker.state is S.CLOSED
    with pytest.raises(ValueError):
        await breaker.call(Remote(clock).fail, ValueError("boom"))
    assert breaker.snapshot()["state"] == "open"


async def test_half_open_trials_close_through_call():
    clock = FakeClock()
    breaker = into(S.HALF_OPEN, clock, success_threshold=2)
    remote = Remote(clock)
    await breaker.call(remote.ok)
    assert breaker.state is S.HALF_OPEN
    await breaker.call(remote.ok)
    assert breaker.snapshot()["state"] == "closed"


async def test_late_success_of_a_call_admitted_before_the_trip_does_not_close():
    clock = FakeClock()
    breaker = make(clock, failure_threshold=1, success_threshold=1, timeout_duration=1.0)
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow():
        entered.set()
        await gate.wait()
        return "late"

    task = asyncio.create_task(breaker.call(slow))
    await entered.wait()  # admitted while CLOSED
    breaker.record_failure()
    clock.advance(1.0)
    assert breaker.state is S.HALF_OPEN
    gate.set()
    assert await task == "late"
    assert breaker.state is S.HALF_OPEN and breaker.snapshot()["success_count"] == 0
