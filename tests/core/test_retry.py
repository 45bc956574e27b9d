import random

import pytest

from meshctl.core.retry import RetryBudget, RetryPolicy
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
