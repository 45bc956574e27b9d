import random
from collections import Counter

import pytest

from meshctl.core.balancer import HealthAwareWeights, LoadBalancer, LoadBalancingStrategy
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.errors import NoEndpointsError, NoHealthyEndpointsError

S = LoadBalancingStrategy


def endpoints(n: int, service: str = "analytics", **fields) -> tuple[ServiceEndpoint, ...]:
    fields.setdefault("health_status", HealthStatus.HEALTHY)
    return tuple(
        ServiceEndpoint(service, "10.0.0.1", 50000 + i, instance_id=f"i{i}", **fields)
        for i in range(n)
    )


def balancer(strategy: S, seed: int = 7, **kwargs) -> LoadBalancer:
    return LoadBalancer(strategy, rng=random.Random(seed), **kwargs)


def ids(picked) -> Counter[str]:
    return Counter(ep.instance_id for ep in picked)


def test_default_strategy_is_health_aware():
    assert LoadBalancer().strategy is S.HEALTH_AWARE
    assert LoadBalancer("round_robin").strategy is S.ROUND_ROBIN


def test_round_robin_is_exactly_even_and_cycles():
    eps = endpoints(5)
    lb = balancer(S.ROUND_ROBIN)
    picks = [lb.select(eps) for _ in range(500)]
    assert set(ids(picks).values()) == {100}
    for start in range(0, 500, 5):
        assert len(set(picks[start : start + 5])) == 5


def test_round_robin_skips_ineligible_and_stays_even():
    eps = endpoints(6)
    lb = balancer(S.ROUND_ROBIN)
    open_breakers = {"i1", "i4"}
    picks = [
        lb.select(eps, eligible=lambda e: e.instance_id not in open_breakers) for _ in range(400)
    ]
    assert ids(picks) == {"i0": 100, "i2": 100, "i3": 100, "i5": 100}


def test_weighted_random_is_proportional_to_weight():
    eps = tuple(
        ServiceEndpoint(
            "s", "h", 1 + i, instance_id=f"w{w}", weight=w, health_status=HealthStatus.HEALTHY
        )
        for i, w in enumerate([1, 2, 3, 4])
    )
    lb = balancer(S.WEIGHTED_RANDOM)
    n = 40_000
    counts = ids(lb.select(eps) for _ in range(n))
    for w in (1, 2, 3, 4):
        assert counts[f"w{w}"] / n == pytest.approx(w / 10, abs=0.01)


def test_weighted_random_stays_proportional_among_eligible():
    eps = tuple(
        ServiceEndpoint("s", "h", 1 + i, instance_id=f"w{w}", weight=w)
        for i, w in enumerate([1, 3, 96])
    )
    lb = balancer(S.WEIGHTED_RANDOM)
    n = 20_000
    # The heavy one is excluded, so most draws miss and the scan fallback runs too.
    counts = ids(lb.select(eps, eligible=lambda e: e.instance_id != "w96") for _ in range(n))
    assert set(counts) == {"w1", "w3"}
    assert counts["w3"] / n == pytest.approx(0.75, abs=0.015)


@pytest.mark.parametrize("strategy", list(S))
def test_zero_weight_endpoints_only_serve_when_nothing_else_can(strategy):
    eps = endpoints(3) + (
        ServiceEndpoint(
            "analytics",
            "h",
            9,
            instance_id="draining",
            weight=0,
            health_status=HealthStatus.HEALTHY,
        ),
    )
    lb = balancer(strategy)
    assert all(lb.select(eps, f"k{i}").instance_id != "draining" for i in range(200))
    only_drain = lb.select(eps, "k", eligible=lambda e: e.instance_id == "draining")
    assert only_drain.instance_id == "draining"


def test_least_connections_never_picks_the_busiest():
    eps = endpoints(4)
    lb = balancer(S.LEAST_CONNECTIONS)
    lb.select(eps)
    for _ in range(5):
        lb.on_start(eps[2])
    assert "i2" not in ids(lb.select(eps) for _ in range(500))


def test_least_connections_spreads_long_running_calls_evenly():
    eps = endpoints(20)
    lb = balancer(S.LEAST_CONNECTIONS)
    for _ in range(2000):
        lb.on_start(lb.select(eps))
    active = [lb.stats(ep)["active"] for ep in eps]
    assert sum(active) == 2000
    assert max(active) - min(active) <= 3


def test_least_connections_prefers_idle_among_many():
    eps = endpoints(50)
    lb = balancer(S.LEAST_CONNECTIONS)
    lb.select(eps)
    busy = eps[:25]
    for ep in busy:
        lb.on_start(ep)
    picks = ids(lb.select(eps) for _ in range(4000))
    busy_share = sum(picks[ep.instance_id] for ep in busy) / 4000
    # Two random candidates are both busy with probability ~0.24.
    assert busy_share < 0.3


def test_health_aware_prefers_healthy_over_unknown():
    eps = endpoints(5) + endpoints(10, health_status=HealthStatus.UNKNOWN)[5:]
    lb = balancer(S.HEALTH_AWARE)
    picks = ids(lb.select(eps) for _ in range(4000))
    healthy = sum(picks[f"i{i}"] for i in range(5))
    assert healthy / 4000 > 0.7
    assert (
        lb.select(eps[:2] + eps[-1:], eligible=lambda e: e.instance_id != "i0").instance_id == "i1"
    )


@pytest.mark.parametrize(
    ("rounds", "outcomes", "winner"),
    [
        pytest.param(5, [(0.010, True), (0.100, True)], "i0", id="prefers-the-faster"),
        pytest.param(10, [(0.001, False), (0.050, True)], "i1", id="no-reward-for-failing-fast"),
    ],
)
def test_health_aware_weighs_latency_and_outcome(rounds, outcomes, winner):
    eps = endpoints(2)
    lb = balancer(S.HEALTH_AWARE)
    lb.select(eps)
    for _ in range(rounds):
        for ep, (latency, ok) in zip(eps, outcomes, strict=True):
            lb.on_start(ep)
            lb.on_finish(ep, latency, ok)
    assert set(ids(lb.select(eps) for _ in range(50))) == {winner}


def test_health_aware_prefers_the_idle():
    eps = endpoints(2)
    lb = balancer(S.HEALTH_AWARE)
    lb.select(eps)
    lb.on_start(eps[0])
    assert set(ids(lb.select(eps) for _ in range(50))) == {"i1"}


def test_health_aware_weights_change_the_preference():
    eps = endpoints(1) + endpoints(2, health_status=HealthStatus.UNKNOWN)[1:]
    only_connections = HealthAwareWeights(health=0, response_time=0, connections=1)
    lb = balancer(S.HEALTH_AWARE, weights=only_connections)
    lb.select(eps)
    lb.on_start(eps[0])
    assert lb.select(eps).instance_id == "i1"


def test_consistent_hash_is_sticky_across_processes_and_orders():
    eps = endpoints(10)
    shuffled = list(eps)
    random.Random(1).shuffle(shuffled)
    one, other = balancer(S.CONSISTENT_HASH, seed=1), balancer(S.CONSISTENT_HASH, seed=2)
    for i in range(300):
        key = f"camera-{i}"
        first = one.select(eps, key)
        assert one.select(eps, key) is first
        assert other.select(tuple(shuffled), key) == first


def test_consistent_hash_remaps_about_one_nth_on_removal():
    eps = endpoints(10)
    lb = balancer(S.CONSISTENT_HASH)
    keys = [f"camera-{i}" for i in range(5000)]
    before = {k: lb.select(eps, k).instance_id for k in keys}
    survivors = eps[:3] + eps[4:]
    after = {k: lb.select(survivors, k).instance_id for k in keys}
    moved = {k for k in keys if before[k] != after[k]}
    assert moved == {k for k in keys if before[k] == "i3"}
    assert 0.05 < len(moved) / len(keys) < 0.15


def test_consistent_hash_moves_only_the_ineligible_owners_keys():
    eps = endpoints(8)
    lb = balancer(S.CONSISTENT_HASH)
    keys = [f"camera-{i}" for i in range(3000)]
    before = {k: lb.select(eps, k).instance_id for k in keys}
    after = {
        k: lb.select(eps, k, eligible=lambda e: e.instance_id != "i5").instance_id for k in keys
    }
    assert {k for k in keys if before[k] != after[k]} == {k for k in keys if before[k] == "i5"}
    # The ejected owner's keys spread over its ring neighbours, not onto one instance.
    assert len({after[k] for k in keys if before[k] == "i5"}) >= 3


def test_consistent_hash_respects_weight():
    eps = tuple(
        ServiceEndpoint("s", "h", 1 + i, instance_id=f"n{i}", weight=3.0 if i == 0 else 1.0)
        for i in range(5)
    )
    lb = balancer(S.CONSISTENT_HASH, virtual_nodes=200)
    counts = ids(lb.select(eps, f"camera-{i}") for i in range(10_000))
    assert counts["n0"] / 10_000 == pytest.approx(3 / 7, abs=0.06)


def test_consistent_hash_without_key_is_a_weighted_random_pick():
    eps = endpoints(4)
    lb = balancer(S.CONSISTENT_HASH)
    counts = ids(lb.select(eps) for _ in range(4000))
    assert set(counts) == {"i0", "i1", "i2", "i3"}
    assert min(counts.values()) > 600


@pytest.mark.parametrize("strategy", list(S))
def test_unhealthy_is_never_picked_while_another_is_usable(strategy):
    eps = endpoints(6, health_status=HealthStatus.UNHEALTHY)[:5] + (
        ServiceEndpoint("analytics", "h", 9, instance_id="ok", health_status=HealthStatus.UNKNOWN),
    )
    lb = balancer(strategy)
    assert {lb.select(eps, f"k{i}").instance_id for i in range(100)} == {"ok"}


@pytest.mark.parametrize("strategy", list(S))
def test_nothing_eligible_raises_naming_the_service(strategy):
    lb = balancer(strategy)
    eps = endpoints(20)
    with pytest.raises(NoHealthyEndpointsError, match="analytics") as err:
        lb.select(eps, "k", eligible=lambda e: False)
    assert err.value.service == "analytics"
    unhealthy = endpoints(3, health_status=HealthStatus.UNHEALTHY)
    with pytest.raises(NoHealthyEndpointsError, match="analytics"):
        lb.select(unhealthy, "k")
    with pytest.raises(NoEndpointsError):
        lb.select((), "k")


@pytest.mark.parametrize("strategy", list(S))
def test_picks_exactly_the_one_eligible_endpoint_among_many(strategy):
    eps = endpoints(1000)
    lb = balancer(strategy)
    for _ in range(20):
        assert lb.select(eps, "k", eligible=lambda e: e.instance_id == "i617").instance_id == "i617"


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="round_robin"):
        LoadBalancer("fastest")
    with pytest.raises(ValueError, match="virtual_nodes"):
        LoadBalancer(virtual_nodes=0)
    with pytest.raises(ValueError, match="HealthAwareWeights"):
        LoadBalancer(weights=(0.4, 0.3, 0.3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="string"):
        LoadBalancer(S.CONSISTENT_HASH).select(endpoints(2), 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"health": -0.1},
        {"response_time": float("nan")},
        {"connections": float("inf")},
        {"health": 0, "response_time": 0, "connections": 0},
        {"health": "0.4"},
    ],
)
def test_health_aware_weights_are_validated(fields):
    with pytest.raises(ValueError):
        HealthAwareWeights(**fields)


def test_round_robin_keeps_rotating_over_fresh_lists_of_the_same_members():
    eps = endpoints(4)
    lb = balancer(S.ROUND_ROBIN)
    assert set(ids(lb.select(list(eps)) for _ in range(400)).values()) == {100}
