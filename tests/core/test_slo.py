"""SLO arithmetic: targets, budgets, burn rates and alerts from known counts (no I/O)."""

from __future__ import annotations

import pytest

from meshctl.core.slo import (
    LATENCY_EDGES,
    LOOKBACKS,
    SliCounts,
    Slo,
    SloError,
    evaluate,
    parse_latency,
    prometheus_rules,
    served_counts,
)
from meshctl.core.stats import MethodStats

DAY = 86400.0
EDGE_100MS = LATENCY_EDGES.index(0.1)


def counts(total: int, failed: int = 0, slow: int = 0) -> SliCounts:
    """``total`` requests, ``failed`` of them failed, ``slow`` above 100 ms (the rest at 1 ms)."""
    within = [total - slow if i <= EDGE_100MS else total for i in range(len(LATENCY_EDGES))]
    return SliCounts(total, failed, within)


def lookbacks(**by_name: SliCounts) -> dict[float, SliCounts]:
    names = {"5m": 300.0, "30m": 1800.0, "1h": 3600.0, "6h": 21600.0}
    assert set(names.values()) == set(LOOKBACKS)
    return {names[n]: by_name.get(n, SliCounts()) for n in names}


@pytest.mark.parametrize(
    ("text", "percentile", "threshold"),
    [("p99<100ms", 99, 0.1), ("P99.9 < 250 ms", 99.9, 0.25), ("p50<1s", 50, 1.0),
     ("p95<2500us", 95, 0.0025)],
)  # fmt: skip
def test_latency_targets(text: str, percentile: float, threshold: float) -> None:
    target = parse_latency(text)
    assert (target.percentile, target.threshold) == (percentile, threshold)


@pytest.mark.parametrize(
    ("text", "why"),
    [("p99<90ms", "the nearest is 100ms"), ("p100<1s", r"in \(0, 100\)"),
     ("p0<1s", r"in \(0, 100\)"), ("p99>100ms", "expected e.g."), ("99<100ms", "expected e.g."),
     ("p99<100", "expected e.g."), ("p99<100ms,", "expected e.g.")],
)  # fmt: skip
def test_latency_targets_that_cannot_be_measured_are_refused(text: str, why: str) -> None:
    with pytest.raises(SloError, match=why):
        parse_latency(text)


@pytest.mark.parametrize(
    ("objective", "window", "why"),
    [(100, 30 * DAY, "in \\(0, 100\\)"), (0, 30 * DAY, "in \\(0, 100\\)"),
     (-5, 30 * DAY, "in \\(0, 100\\)"), (99.9, 600, "at least 1h")],
)  # fmt: skip
def test_impossible_objectives_are_refused(objective: float, window: float, why: str) -> None:
    with pytest.raises(SloError, match=why):
        Slo("analytics", objective, window)


def test_an_slo_round_trips_through_its_record() -> None:
    slo = Slo("analytics", 99.9, 30 * DAY, parse_latency("p99<100ms"), "ProcessDetections")
    assert Slo.from_json(slo.to_json()) == slo
    assert Slo("analytics", 99.5, 7 * DAY).budget == pytest.approx(0.005)


def test_burn_rate_is_the_bad_share_over_the_budget() -> None:
    slo = Slo("analytics", 99.9, 30 * DAY)
    status = evaluate(
        slo,
        counts(1_000_000, failed=250),
        lookbacks(**{"5m": counts(1000, 2), "30m": counts(6000, 3), "1h": counts(12000, 6),
                     "6h": counts(72000, 36)}),
    )  # fmt: skip
    [sli] = status.slis
    assert sli.name == "availability" and sli.target == "99.9%"
    assert sli.burn == pytest.approx({"5m": 2.0, "30m": 0.5, "1h": 0.5, "6h": 0.5})
    assert sli.bad_share == pytest.approx(0.00025)
    assert sli.budget_remaining == pytest.approx(0.75)  # a quarter of the budget spent
    assert status.alerts == [] and status.requests == 1_000_000


def test_a_fast_burn_needs_both_the_hour_and_the_last_five_minutes() -> None:
    slo = Slo("analytics", 99.9, 30 * DAY)
    hot = counts(10_000, failed=150)  # 1.5 % bad: burn 15 > 14.4
    cold = counts(10_000, failed=10)  # burn 1
    both = evaluate(slo, hot, lookbacks(**{"5m": hot, "1h": hot}))
    assert both.alerts == ["fast"] and both.fast_burn
    assert evaluate(slo, hot, lookbacks(**{"5m": cold, "1h": hot})).alerts == []  # it stopped
    assert evaluate(slo, hot, lookbacks(**{"5m": hot, "1h": cold})).alerts == []  # a blip
    at_factor = counts(10_000, failed=144)  # exactly 14.4: not above it
    assert evaluate(slo, hot, lookbacks(**{"5m": at_factor, "1h": at_factor})).alerts == []


def test_a_slow_burn_is_six_hours_and_thirty_minutes_above_six() -> None:
    slo = Slo("analytics", 99.0, 30 * DAY)
    warm = counts(1000, failed=70)  # 7 % bad of a 1 % budget: burn 7
    status = evaluate(slo, warm, lookbacks(**{"6h": warm, "30m": warm, "1h": warm, "5m": warm}))
    assert status.alerts == ["slow"]  # 7 < 14.4: not fast
    assert status.slis[0].alerts == ["slow"]
    assert status.slis[0].budget_remaining == pytest.approx(-6.0)  # overspent


def test_the_latency_objective_has_its_own_budget() -> None:
    slo = Slo("analytics", 99.9, 30 * DAY, parse_latency("p99<100ms"))
    slow = counts(1000, failed=0, slow=200)  # 20 % above 100 ms of a 1 % budget: burn 20
    status = evaluate(slo, slow, lookbacks(**{"5m": slow, "1h": slow}))
    availability, latency = status.slis
    assert availability.burn["5m"] == 0 and availability.alerts == []
    assert latency.target == "p99<100ms" and latency.burn["5m"] == pytest.approx(20.0)
    assert latency.alerts == ["fast"] and status.alerts == ["fast"]


def test_no_traffic_has_no_rates_and_fires_nothing() -> None:
    status = evaluate(Slo("alert", 99.9, 30 * DAY), SliCounts(), lookbacks())
    assert status.slis[0].bad_share is None and status.slis[0].budget_remaining is None
    assert set(status.slis[0].burn.values()) == {None} and status.alerts == []


def test_served_counts_are_cumulative_per_method() -> None:
    served = MethodStats()
    for latency, failed in ((0.004, False), (0.06, False), (0.3, True)):
        served.of("ProcessDetections").start()
        served.of("ProcessDetections").finish(latency, "INTERNAL" if failed else None)
    served.of("GetTrafficMetrics").start()  # still running: not counted
    [(method, got)] = [(m, c) for m, c in served_counts(served).items() if c.total]
    assert method == "ProcessDetections" and (got.total, got.failed) == (3, 1)
    assert got.within[LATENCY_EDGES.index(0.005)] == 1
    assert got.within[EDGE_100MS] == 2 and got.slow(0.1) == 1
    assert got.within[-1] == 3


def test_counts_subtract_and_add() -> None:
    later, earlier = counts(10, 2, 1), counts(4, 1, 0)
    delta = later.minus(earlier)
    assert (delta.total, delta.failed, delta.slow(0.1)) == (6, 1, 1)
    earlier.add(delta)
    assert earlier == later


def test_prometheus_rules_record_each_lookback_and_alert_on_both_windows() -> None:
    slo = Slo("analytics", 99.9, 30 * DAY, parse_latency("p99<100ms"), "ProcessDetections")
    [group] = prometheus_rules([slo], ["INTERNAL", "UNAVAILABLE"])["groups"]
    assert group["name"] == "meshctl-slo-analytics/ProcessDetections"
    records = {r["record"]: r for r in group["rules"] if "record" in r}
    assert set(records) == {
        f"meshctl:slo_{sli}_errors:ratio_rate{w}"
        for sli in ("availability", "latency") for w in ("5m", "30m", "1h", "6h")
    }  # fmt: skip
    five = records["meshctl:slo_availability_errors:ratio_rate5m"]["expr"]
    assert 'code=~"INTERNAL|UNAVAILABLE|HTTP 5.."' in five and "[5m]" in five
    assert 'method="ProcessDetections"' in five
    latency = records["meshctl:slo_latency_errors:ratio_rate1h"]["expr"]
    assert 'le="0.1"' in latency and "[1h]" in latency
    alerts = {r["alert"]: r for r in group["rules"] if "alert" in r}
    fast = alerts["MeshSloAvailabilityFastBurn"]
    assert fast["labels"]["severity"] == "page"
    assert "ratio_rate1h" in fast["expr"] and "ratio_rate5m" in fast["expr"]
    assert fast["expr"].count("> 0.0144") == 2  # 14.4 x a 0.1 % budget
    assert alerts["MeshSloLatencySlowBurn"]["expr"].count("> 0.06") == 2  # 6 x 1 %
