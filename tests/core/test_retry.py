import random

import pytest

from meshctl.core.retry import (
    IDEMPOTENT_VERBS,
    Retry,
    RetryBudget,
    RetryPolicy,
    idempotent_method,
)
from meshctl.errors import (
    CallTimeoutError,
    CircuitBreakerOpenError,
    ConnectionFailedError,
    ConnectionLostError,
    InvalidRequestError,
    NoEndpointsError,
    RemoteCallError,
)
from meshctl.testing import FakeClock


def test_backoff_is_jittered_under_an_exponential_cap():
    policy = RetryPolicy(base_delay=0.1, max_delay=0.5, multiplier=2)
    rng = random.Random(7)
    for retry, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (10, 0.5)]:
        delays = [policy.backoff(retry, rng) for _ in range(500)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.9  # full jitter spans the whole range


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base_delay": -1},
        {"base_delay": 2, "max_delay": 1},
        {"multiplier": 0.5},
    ],
)
def test_policy_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_budget_limits_retries_to_a_ratio_of_requests():
    clock = FakeClock()
    budget = RetryBudget(ratio=0.1, min_per_second=0, capacity=5, clock=clock)
    spent = sum(budget.try_spend() for _ in range(100))
    assert spent == 5  # the initial capacity, then nothing
    for _ in range(100):
        budget.record_request()
    assert sum(budget.try_spend() for _ in range(100)) == 5  # 100 requests x 0.1, capped at 5
    for _ in range(30):
        budget.record_request()
    assert sum(budget.try_spend() for _ in range(100)) == 3


def test_budget_refills_with_time():
    clock = FakeClock()
    budget = RetryBudget(ratio=0, min_per_second=2, capacity=4, clock=clock)
    assert sum(budget.try_spend() for _ in range(10)) == 4
    clock.now += 1.0
    assert sum(budget.try_spend() for _ in range(10)) == 2
    clock.now += 100.0
    assert budget.available == 4  # capped


# -- what is retried ---------------------------------------------------------

NEVER_SENT = [
    ConnectionFailedError("a:1"),
    CircuitBreakerOpenError("svc@a:1"),
    NoEndpointsError("s"),
]
MAY_HAVE_RUN = [CallTimeoutError("svc/M", 1.0), ConnectionLostError("a:1", "reset")]
ANSWERED = [
    RemoteCallError("svc/M", "INTERNAL"),
    InvalidRequestError("bad"),
]


def _budget(tokens: float) -> RetryBudget:
    return RetryBudget(ratio=0, min_per_second=0, capacity=max(tokens, 1), clock=FakeClock())


@pytest.mark.parametrize("error", NEVER_SENT + MAY_HAVE_RUN + ANSWERED, ids=repr)
@pytest.mark.parametrize("idempotent", [False, True])
@pytest.mark.parametrize("sent", [0, 1, 2, 3])
@pytest.mark.parametrize("remaining", [-0.1, 0.0, 0.5])
@pytest.mark.parametrize("tokens", [0, 1])
def test_retry_decisions_follow_the_rules(error, idempotent, sent, remaining, tokens):
    budget = _budget(1)
    if tokens == 0:
        assert budget.try_spend()  # empty it
    before = budget.available
    decision = RetryPolicy(max_attempts=3).decide(
        error, idempotent=idempotent, sent=sent, remaining=remaining, budget=budget
    )
    if remaining <= 0:
        expected = Retry.STOP
    elif error in NEVER_SENT:
        expected = Retry.SIBLING  # free: whatever the method, the attempts and the budget
    elif error in MAY_HAVE_RUN and idempotent and sent < 3 and tokens:
        expected = Retry.BACKOFF
    else:
        expected = Retry.STOP
    assert decision is expected
    spent = before - budget.available
    assert spent == (1 if expected is Retry.BACKOFF else 0)


def test_an_attempt_of_a_repeatable_method_gets_a_share_of_the_time_left():
    policy = RetryPolicy(max_attempts=3)
    assert policy.attempt_timeout_for(3.0, 0, idempotent=True) == 1.0
    assert policy.attempt_timeout_for(2.0, 1, idempotent=True) == 1.0
    assert policy.attempt_timeout_for(1.0, 2, idempotent=True) == 1.0
    assert policy.attempt_timeout_for(1.0, 5, idempotent=True) == 1.0  # never below the rest
    # Cutting a method that cannot be repeated short would only fail it sooner.
    assert policy.attempt_timeout_for(3.0, 0, idempotent=False) == 3.0
    capped = RetryPolicy(max_attempts=3, attempt_timeout=0.25)
    assert capped.attempt_timeout_for(3.0, 0, idempotent=True) == 0.25
    assert capped.attempt_timeout_for(0.3, 0, idempotent=True) == pytest.approx(0.1)
    assert capped.attempt_timeout_for(3.0, 0, idempotent=False) == 3.0


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan")])
def test_attempt_timeout_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="attempt_timeout"):
        RetryPolicy(attempt_timeout=bad)


@pytest.mark.parametrize(
    ("name", "declared", "expected"),
    [
        ("GetTrafficMetrics", None, True),
        ("ListAlerts", None, True),
        ("Check", None, True),
        ("HealthCheck", None, True),
        ("ProcessDetections", None, False),
        ("SendAlert", None, False),
        ("Getaway", None, False),  # "Get" must start a word
        ("Get", None, False),
        ("GetTrafficMetrics", False, False),  # a declaration wins over the name
        ("SendAlert", True, True),
    ],
)
def test_which_grpc_methods_are_safe_to_repeat(name, declared, expected):
    assert idempotent_method(name, declared) is expected


def test_idempotent_http_verbs_are_rfc_9110s():
    assert frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}) == IDEMPOTENT_VERBS
