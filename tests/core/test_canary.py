"""The canary's steps and verdicts: known counts in, known decisions out."""

from __future__ import annotations

import math

import pytest

from meshctl.core.canary import (
    Action,
    CanaryError,
    Check,
    check_objectives,
    decide,
    describe_checks,
    judge,
    parse_step,
    quantile_ms,
    served_since,
    weights,
)
from meshctl.core.objectives import parse_slos
from meshctl.core.slo import LATENCY_EDGES, SliCounts

EDGE_MS = [edge * 1000 for edge in LATENCY_EDGES]


def counts(total: int, failed: int = 0, slower_than: dict[float, int] | None = None) -> SliCounts:
    """``total`` requests, ``slower_than[ms]`` of them slower than that edge."""
    slow = slower_than or {}
    within = []
    for edge in EDGE_MS:
        above = max((n for ms, n in slow.items() if ms >= edge), default=0)
        within.append(total - above)
    return SliCounts(total, failed, within)


@pytest.mark.parametrize(
    ("text", "step"), [("10%", 10.0), ("10", 10.0), ("100%", 100.0), (" 2.5% ", 2.5)]
)
def test_steps_are_percentages(text: str, step: float) -> None:
    assert parse_step(text) == step


@pytest.mark.parametrize("text", ["0%", "-5", "101%", "ten", "", "nan", "inf%"])
def test_steps_outside_0_to_100_are_refused(text: str) -> None:
    with pytest.raises(CanaryError, match="step"):
        parse_step(text)


@pytest.mark.parametrize(
    ("step", "shares"),
    [
        (10.0, (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)),
        (30.0, (30, 60, 90, 100)),
        (50.0, (50, 100)),
        (100.0, (100,)),  # blue-green
        (33.333333, (33.333333, 66.666666, 99.999999, 100)),
    ],
)
def test_weights_step_up_to_100(step: float, shares: tuple[float, ...]) -> None:
    assert weights(step) == pytest.approx(shares)
    assert weights(step)[-1] == 100.0


@pytest.mark.parametrize("slo", ["errors<1%", "p99<100ms", "p50<=25ms,rps>=5", "p99.9<1s"])
def test_objectives_a_canary_can_be_judged_on(slo: str) -> None:
    check_objectives(parse_slos(slo))


@pytest.mark.parametrize(
    ("slo", "says"),
    [
        ("p99<90ms", "servers count latency at"),
        ("mean<10ms", "judged on errors"),
        ("max<1s", "judged on errors"),
        ("p99>100ms", "judged on errors"),
    ],
)
def test_objectives_servers_cannot_measure_are_refused(slo: str, says: str) -> None:
    with pytest.raises(CanaryError, match=says):
        check_objectives(parse_slos(slo))


def test_served_since_takes_each_instances_difference() -> None:
    before = {"a": counts(100, 1), "b": counts(50), "gone": counts(999, 999)}
    after = {"a": counts(160, 3), "b": counts(80), "new": counts(7, 1)}
    served = served_since(before, after)
    assert (served.total, served.failed) == (60 + 30 + 7, 2 + 0 + 1)


def test_an_instance_that_restarted_counts_from_zero() -> None:
    served = served_since({"a": counts(500, 5)}, {"a": counts(20, 2)})
    assert (served.total, served.failed) == (20, 2)


def test_errors_objective_on_the_failed_share() -> None:
    [ok] = judge(parse_slos("errors<1%"), counts(1000, 9), 10)
    [broken] = judge(parse_slos("errors<1%"), counts(1000, 10), 10)
    assert (ok.met, ok.actual) == (True, 0.009)
    assert (broken.met, broken.actual) == (False, 0.01)


def test_latency_objective_allows_exactly_its_share_of_slow_requests() -> None:
    [met] = judge(parse_slos("p99<100ms"), counts(1000, slower_than={100: 10}), 10)
    [missed] = judge(parse_slos("p99<100ms"), counts(1000, slower_than={100: 11}), 10)
    assert met.met and not missed.met


def test_latency_actual_is_the_edge_the_quantile_falls_under() -> None:
    c = counts(1000, slower_than={25: 200, 50: 20, 100: 5})  # the rest within 1 ms
    assert quantile_ms(c, 0.5) == 1
    assert quantile_ms(c, 0.9) == 50
    assert quantile_ms(c, 0.99) == 75
    assert quantile_ms(c, 0.999) == 200
    assert math.isinf(quantile_ms(counts(10, slower_than={10_000: 5}), 0.9))


def test_rps_objective_over_the_steps_seconds() -> None:
    [check] = judge(parse_slos("rps>=5"), counts(50), 10)
    assert (check.met, check.actual) == (True, 5.0)
    assert not judge(parse_slos("rps>=5"), counts(49), 10)[0].met


def test_no_traffic_meets_error_objectives_but_is_never_judged() -> None:
    checks = judge(parse_slos("errors<1%,p99<100ms"), counts(0), 10)
    assert all(c.met for c in checks)
    assert decide(checks, 0, min_requests=10, holds=0, patience=3) is Action.HOLD


@pytest.mark.parametrize(
    ("met", "requests", "holds", "action"),
    [
        ((True, True), 10, 0, Action.ADVANCE),
        ((True, False), 10, 0, Action.ROLLBACK),
        ((False, False), 1000, 2, Action.ROLLBACK),
        ((True, True), 9, 0, Action.HOLD),
        ((True, True), 9, 2, Action.HOLD),
        ((True, True), 9, 3, Action.ROLLBACK),  # patience spent: a canary nobody called
        ((False, True), 9, 0, Action.HOLD),  # too few to judge either way
    ],
)
def test_decide(met: tuple[bool, ...], requests: int, holds: int, action: Action) -> None:
    checks = [Check(f"slo{i}", 0.0, m) for i, m in enumerate(met)]
    assert decide(checks, requests, min_requests=10, holds=holds, patience=3) is action


def test_describe_checks_shows_actual_values_and_which_broke() -> None:
    checks = judge(
        parse_slos("errors<1%,p99<100ms,rps>=1"), counts(200, 4, slower_than={250: 3}), 10
    )
    assert describe_checks(checks) == (
        "errors<1% (2.00%) BROKEN, p99<100ms (≤300ms) BROKEN, rps>=1 (20.0/s) ok"
    )
