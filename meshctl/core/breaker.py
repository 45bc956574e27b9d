"""Circuit breaker: a sans-IO state machine driven by outcomes and an injected clock.

Rules
-----
CLOSED admits every call. It trips to OPEN on either of:
  (a) ``failure_threshold`` consecutive failures, whatever the volume;
  (b) within the rolling window (``rolling_window`` seconds in ``bucket_count``
      buckets), at least ``request_volume_threshold`` calls with an error
      percentage >= ``error_threshold_percentage``.
  A success resets the consecutive count.
OPEN rejects every call. Once ``timeout_duration`` has passed since it opened,
  the next look at the breaker (``allow``, ``state``) moves it to HALF_OPEN.
HALF_OPEN admits at most ``half_open_max_calls`` trial calls at a time and
  rejects the rest. ``success_threshold`` successes close it; any failure
  re-opens it and restarts the timer.
FORCED_OPEN rejects every call until ``reset()``.
DISABLED admits every call and never trips; outcomes still feed the statistics.
``reset()`` (from any state) gives CLOSED, ``force_open()`` FORCED_OPEN and
``disable()`` DISABLED.

Every transition opens a new *generation*, entering a state starts it afresh
(no trial calls in flight, no half-open successes) and entering CLOSED also
empties the window. An outcome carries the generation its call was admitted
in; an outcome from an earlier generation (a late answer to a call admitted
before the breaker opened, say) counts in the lifetime totals but is not an
input to the state machine, so it can neither close, re-open nor trip the
breaker. An outcome of a call the caller ignores (``is_failure`` false) or
that was cancelled is neither success nor failure: ``release()`` only gives
back its half-open trial slot.

The transitions are the table ``_TRANSITIONS`` below; a (state, event) pair
absent from it leaves the state alone. The hot path (``allow``, ``record_*``)
decides with plain counters and consults the table only when a guard fires.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ParamSpec, TypeVar

from meshctl.errors import CircuitBreakerOpenError

from .window import RollingWindow

__all__ = [
    "BreakerListener",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitState",
    "default_is_failure",
]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_LATENCY_SMOOTHING = 0.2  # weight of the newest sample in the latency average


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


# Module-level aliases: reading a member off the enum class costs ~100 ns, a global ~10 ns,
# and the hot path compares states several times per call.
_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN
_FORCED_OPEN = CircuitState.FORCED_OPEN
_DISABLED = CircuitState.DISABLED


class _Event(Enum):
    TRIP = "trip"  # a CLOSED trip trigger fired
    TIMEOUT = "timeout"  # timeout_duration passed while OPEN
    TRIAL_FAILED = "trial_failed"
    TRIALS_PASSED = "trials_passed"  # success_threshold half-open successes
    RESET = "reset"
    FORCE_OPEN = "force_open"
    DISABLE = "disable"


_TRANSITIONS: dict[tuple[CircuitState, _Event], CircuitState] = {
    (_CLOSED, _Event.TRIP): _OPEN,
    (_OPEN, _Event.TIMEOUT): _HALF_OPEN,
    (_HALF_OPEN, _Event.TRIAL_FAILED): _OPEN,
    (_HALF_OPEN, _Event.TRIALS_PASSED): _CLOSED,
    **{(state, _Event.RESET): _CLOSED for state in CircuitState},
    **{
        (state, _Event.FORCE_OPEN): _FORCED_OPEN
        for state in CircuitState
        if state is not _FORCED_OPEN
    },
    **{(state, _Event.DISABLE): _DISABLED for state in CircuitState if state is not _DISABLED},
}


def default_is_failure(exc: BaseException) -> bool:
    """meshctl errors say whether they trip breakers; any other exception does."""
    return bool(getattr(exc, "trips_breaker", True))


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


def _number(name: str, value: object, *, low: float, high: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if value < low or (strict and value == low) or value > high:
        bound = f"> {low:g}" if strict else f">= {low:g}"
        if math.isinf(high):
            raise ValueError(f"{name} must be {bound}, not {value!r}")
        raise ValueError(f"{name} must be {bound} and <= {high:g}, not {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """When a breaker trips and how it recovers (validated on construction).

    Args:
        failure_threshold: consecutive failures that trip a CLOSED breaker.
        timeout_duration: seconds an OPEN breaker waits before trying again.
        success_threshold: half-open successes needed to close.
        request_volume_threshold: calls in the rolling window before the error
            percentage is considered.
        error_threshold_percentage: error percentage (0-100] that trips.
        rolling_window: seconds of history the error percentage covers.
        bucket_count: buckets the window is cut into (its aging granularity).
        half_open_max_calls: trial calls admitted at once in HALF_OPEN;
            ``None`` means ``success_threshold``.
        is_failure: whether an exception raised by a call counts as a failure.
    """

    failure_threshold: int = 5
    timeout_duration: float = 60.0
    success_threshold: int = 3
    request_volume_threshold: int = 20
    error_threshold_percentage: float = 50.0
    rolling_window: float = 10.0
    bucket_count: int = 10
    half_open_max_calls: int | None = None
    is_failure: Callable[[BaseException], bool] = default_is_failure

    def __post_init__(self) -> None:
        _positive_int("failure_threshold", self.failure_threshold)
        _positive_int("success_threshold", self.success_threshold)
        _positive_int("request_volume_threshold", self.request_volume_threshold)
        _positive_int("bucket_count", self.bucket_count)
        if self.half_open_max_calls is not None:
            _positive_int("half_open_max_calls", self.half_open_max_calls)
        inf = math.inf
        _number("timeout_duration", self.timeout_duration, low=0, high=inf, strict=False)
        _number("rolling_window", self.rolling_window, low=0, high=inf, strict=True)
        if math.isinf(self.rolling_window) or math.isinf(self.timeout_duration):
            raise ValueError("timeout_duration and rolling_window must be finite")
        _number(
            "error_threshold_percentage",
            self.error_threshold_percentage,
            low=0,
            high=100,
            strict=True,
        )
        if not callable(self.is_failure):
            raise ValueError(f"is_failure must be callable, not {self.is_failure!r}")

    @property
    def trial_limit(self) -> int:
        """Trial calls HALF_OPEN admits at once."""
        return self.half_open_max_calls or self.success_threshold

    def summary(self) -> dict[str, int | float]:
        """The numeric settings, JSON-ready."""
        return {
            "failure_threshold": self.failure_threshold,
            "timeout_duration": self.timeout_duration,
            "success_threshold": self.success_threshold,
            "request_volume_threshold": self.request_volume_threshold,
            "error_threshold_percentage": self.error_threshold_percentage,
            "rolling_window": self.rolling_window,
            "bucket_count": self.bucket_count,
            "half_open_max_calls": self.trial_limit,
        }


BreakerListener = Callable[["CircuitBreaker", CircuitState, CircuitState], object]


class CircuitBreaker:
    """A circuit breaker for one service or endpoint.

    Args:
        name: what the breaker guards (shown in errors and snapshots).
        config: thresholds and timers.
        clock: monotonic seconds; injected so tests step time by hand.
    """

    __slots__ = (
        "name",
        "config",
        "_clock",
        "_listeners",
        "_state",
        "_generation",
        "_window",
        "_failure_count",
        "_success_count",
        "_in_flight",
        "_opened_at",
        "_trip_count",
        "_failure_threshold",
        "_success_threshold",
        "_volume_threshold",
        "_error_percentage",
        "_timeout",
        "_trial_limit",
        "_total_successes",
        "_total_failures",
        "_total_rejections",
        "_last_failure",
        "_last_latency",
        "_mean_latency",
    )

    def __init__(
        self,
        name: str,
        config: CircuitBreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"breaker name must be a non-empty string, not {name!r}")
        config = CircuitBreakerConfig() if config is None else config
        if not isinstance(config, CircuitBreakerConfig):
            raise ValueError(f"config must be a CircuitBreakerConfig, not {config!r}")
        self.name = name
        self.config = config
        self._clock = clock
        self._listeners: list[BreakerListener] = []
        # Copies of the config on the instance: the hot path reads them on every call.
        self._failure_threshold = config.failure_threshold
        self._success_threshold = config.success_threshold
        self._volume_threshold = config.request_volume_threshold
        self._error_percentage = config.error_threshold_percentage
        self._timeout = config.timeout_duration
        self._trial_limit = config.trial_limit
        self._window = RollingWindow(config.rolling_window, config.bucket_count)
        self._state = _CLOSED
        self._generation = 0
        self._failure_count = 0
        self._success_count = 0
        self._in_flight = 0
        self._opened_at: float | None = None
        self._trip_count = 0
        self._total_successes = 0
        self._total_failures = 0
        self._total_rejections = 0
        self._last_failure: str | None = None
        self._last_latency: float | None = None
        self._mean_latency: float | None = None

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} {self._state.value}>"

    # -- reading ---------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state; an OPEN breaker whose timeout has passed becomes HALF_OPEN."""
        if self._state is _OPEN:
            now = self._clock()
            if self._timeout_passed(now):
                self._fire(_Event.TIMEOUT, now)
        return self._state

    @property
    def generation(self) -> int:
        """Bumped on every transition; pass it to ``record_*`` to mark an outcome's era."""
        return self._generation

    def retry_after(self) -> float | None:
        """Seconds until an OPEN breaker admits a trial call; ``None`` in other states."""
        if self._state is not _OPEN or self._opened_at is None:
            return None
        return max(0.0, self._opened_at + self._timeout - self._clock())

    def snapshot(self) -> dict[str, Any]:
        """Everything an operator wants to see, as JSON-ready values."""
        state = self.state
        window = self._window
        window.rotate(self._clock())
        return {
            "name": self.name,
            "state": state.value,
            "generation": self._generation,
            "failure_count": self._failure_count,
            "success_count": self._success_count,
            "half_open_in_flight": self._in_flight,
            "window_requests": window.requests,
            "window_failures": window.failures,
            "error_percentage": round(window.error_percentage, 2),
            "opened_at": self._opened_at,
            "trip_count": self._trip_count,
            "retry_after": self.retry_after(),
            "total_successes": self._total_successes,
            "total_failures": self._total_failures,
            "total_rejections": self._total_rejections,
            "last_failure": self._last_failure,
            "last_latency": self._last_latency,
            "mean_latency": self._mean_latency,
            "config": self.config.summary(),
        }

    # -- the hot path ----------------------------------------------------------

    def allow(self) -> bool:
        """Whether a call may go ahead now; in HALF_OPEN an admitted call takes a trial slot.

        Read :attr:`generation` right after a ``True`` and hand it back to
        ``record_success`` / ``record_failure`` / ``release``.
        """
        state = self._state
        if state is _CLOSED or state is _DISABLED:
            return True
        if state is _OPEN:
            now = self._clock()
            if not self._timeout_passed(now):
                self._total_rejections += 1
                return False
            self._fire(_Event.TIMEOUT, now)
            state = self._state
        if state is _HALF_OPEN and self._in_flight < self._trial_limit:
            self._in_flight += 1
            return True
        self._total_rejections += 1
        return False

    def record_success(
        self, latency: float | None = None, *, generation: int | None = None
    ) -> None:
        """Count a successful call (``latency`` in seconds, if measured)."""
        self._success(self._clock(), latency, generation)

    def record_failure(
        self, exc: BaseException | None = None, *, generation: int | None = None
    ) -> None:
        """Count a failed call; ``exc`` is kept (as text) for the snapshot."""
        self._failure(self._clock(), exc, generation)

    def release(self, *, generation: int | None = None) -> None:
        """Give back an admitted call's slot without an outcome (ignored error, cancellation)."""
        if (
            self._state is _HALF_OPEN
            and self._in_flight
            and (generation is None or generation == self._generation)
        ):
            self._in_flight -= 1

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` through the breaker.

        Raises:
            CircuitBreakerOpenError: the breaker did not admit the call (``fn``
                was not called).
        """
        state = self._state
        if state is not _CLOSED and state is not _DISABLED and not self.allow():
            raise CircuitBreakerOpenError(self.name, self.retry_after())
        generation = self._generation
        clock = self._clock
        start = clock()
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            if self.config.is_failure(exc):
                self._failure(clock(), exc, generation)
            else:
                self.release(generation=generation)
            raise
        except BaseException:  # cancellation or interpreter exit: no outcome
            self.release(generation=generation)
            raise
        end = clock()
        self._success(end, end - start, generation)
        return result

    def _success(self, now: float, latency: float | None, generation: int | None) -> None:
        self._total_successes += 1
        if latency is not None:
            self._last_latency = latency
            mean = self._mean_latency
            self._mean_latency = (
                latency if mean is None else mean + _LATENCY_SMOOTHING * (latency - mean)
            )
        if generation is not None and generation != self._generation:
            return  # a late answer from an earlier era
        state = self._state
        if state is _CLOSED or state is _DISABLED:
            self._failure_count = 0
            self._window.add(now, False)
        elif state is _HALF_OPEN:
            if self._in_flight:
                self._in_flight -= 1
            self._success_count += 1
            if self._success_count >= self._success_threshold:
                self._fire(_Event.TRIALS_PASSED, now)
        # OPEN and FORCED_OPEN admit nothing, so an outcome there belongs to no call of theirs.

    def _failure(self, now: float, exc: BaseException | None, generation: int | None) -> None:
        self._total_failures += 1
        if exc is not None:
            self._last_failure = f"{type(exc).__name__}: {exc}"
        if generation is not None and generation != self._generation:
            return
        state = self._state
        if state is _CLOSED:
            self._failure_count += 1
            window = self._window
            window.add(now, True)
            if self._failure_count >= self._failure_threshold or (
                window.requests >= self._volume_threshold
                and window.failures * 100.0 >= self._error_percentage * window.requests
            ):
                self._fire(_Event.TRIP, now)
        elif state is _HALF_OPEN:
            self._failure_count += 1
            self._fire(_Event.TRIAL_FAILED, now)
        elif state is _DISABLED:
            self._failure_count += 1
            self._window.add(now, True)

    def _timeout_passed(self, now: float) -> bool:
        return self._opened_at is None or now - self._opened_at >= self._timeout

    # -- manual control --------------------------------------------------------

    def reset(self) -> None:
        """Back to CLOSED with a fresh window and counters."""
        self._fire(_Event.RESET, self._clock())

    def force_open(self) -> None:
        """Reject every call until :meth:`reset`."""
        self._fire(_Event.FORCE_OPEN, self._clock())

    def disable(self) -> None:
        """Admit every call and never trip, until :meth:`reset` or :meth:`force_open`."""
        self._fire(_Event.DISABLE, self._clock())

    # -- transitions -----------------------------------------------------------

    def _fire(self, event: _Event, now: float) -> None:
        """Apply ``event`` through the transition table and run the new state's entry actions."""
        old = self._state
        new = _TRANSITIONS.get((old, event))
        if new is None:
            return
        self._state = new
        self._generation += 1
        self._in_flight = 0
        self._success_count = 0
        if new is _OPEN:
            self._opened_at = now
            self._trip_count += 1
        elif new is _FORCED_OPEN:
            self._opened_at = now
        elif new is _CLOSED:
            self._opened_at = None
            self._failure_count = 0
            self._window.reset()
        if new is not old:
            self._notify(old, new)

    # -- observers -------------------------------------------------------------

    def add_listener(self, callback: BreakerListener) -> None:
        """Call ``callback(breaker, old_state, new_state)`` on every state change."""
        self._listeners.append(callback)

    def remove_listener(self, callback: BreakerListener) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _notify(self, old: CircuitState, new: CircuitState) -> None:
        for callback in tuple(self._listeners):
            try:
                callback(self, old, new)
            except Exception:
                logger.exception(
                    "breaker %s: listener %r failed on %s -> %s",
                    self.name,
                    callback,
                    old.value,
                    new.value,
                )
