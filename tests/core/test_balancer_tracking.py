import math
import random

import pytest

from meshctl.core.balancer import RECENT_LISTS, LoadBalancer, LoadBalancingStrategy
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.endpoint_stats import EWMA_ALPHA

S = LoadBalancingStrategy


def endpoint(iid: str, service: str = "alert", **fields) -> ServiceEndpoint:
    fields.setdefault("health_status", HealthStatus.HEALTHY)
    return ServiceEndpoint(service, "10.0.0.2", 50053, instance_id=iid, **fields)


def test_stats_track_calls_with_moving_averages():
    eps = (endpoint("a"), endpoint("b"))
    lb = LoadBalancer(rng=random.Random(1))
    picked = lb.select(eps)
    lb.on_start(picked)
    lb.on_start(picked)
    assert lb.stats(picked) | {"score": None} == {
        "active": 2,
        "ewma_latency": None,
        "success_rate": 1.0,
        "picks": 1,
        "score": None,
    }
    lb.on_finish(picked, 0.100, True)
    lb.on_finish(picked, 0.200, False)
    stats = lb.stats(picked)
    assert stats["active"] == 0
    assert stats["ewma_latency"] == pytest.approx(0.100 + EWMA_ALPHA * 0.100)
    assert stats["success_rate"] == pytest.approx(1 - EWMA_ALPHA)
    assert 0.0 < stats["score"] <= 1.0


def test_finishing_more_than_started_does_not_go_negative():
    eps = (endpoint("a"),)
    lb = LoadBalancer()
    lb.select(eps)
    lb.on_finish(eps[0], 0.01, True)
    assert lb.stats(eps[0])["active"] == 0


def test_unknown_endpoints_are_ignored_not_remembered():
    lb = LoadBalancer()
    stranger = endpoint("x", service="nobody")
    lb.on_start(stranger)
    lb.on_finish(stranger, 0.5, True)
    assert lb.tracked_endpoints == 0
    assert lb.stats(stranger)["active"] == 0


@pytest.mark.parametrize("latency", [-0.1, math.nan, math.inf, "fast", True])
def test_bad_latency_is_a_value_error(latency):
    lb = LoadBalancer()
    eps = (endpoint("a"),)
    lb.select(eps)
    with pytest.raises(ValueError, match="latency"):
        lb.on_finish(eps[0], latency, True)


@pytest.mark.parametrize("strategy", list(S))
def test_a_new_list_replaces_the_cached_view(strategy):
    first = (endpoint("a"), endpoint("b"), endpoint("c"))
    lb = LoadBalancer(strategy, rng=random.Random(2))
    assert {lb.select(first, f"k{i}").instance_id for i in range(200)} == {"a", "b", "c"}
    second = (endpoint("a", health_status=HealthStatus.UNHEALTHY), endpoint("c"), endpoint("d"))
    assert {lb.select(second, f"k{i}").instance_id for i in range(200)} == {"c", "d"}
    assert lb.tracked_endpoints == 4  # b's stats stay while the first list is a recent one
    for generation in range(RECENT_LISTS - 1):
        lb.select((endpoint("c"), endpoint("d"), endpoint(f"new{generation}")))
    assert lb.stats(endpoint("b"))["picks"] == 0
    assert lb.tracked_endpoints == len({"a", "c", "d"}) + RECENT_LISTS - 1  # a: in the second


def test_alternating_lists_keep_the_endpoints_stats():
    """A route's subsets alternate call by call: neither forgets the other's calls."""
    stable, canary = (endpoint("a"), endpoint("b")), (endpoint("c"),)
    whole = (*stable, *canary)
    lb = LoadBalancer(S.LEAST_CONNECTIONS, rng=random.Random(5))
    busy = lb.select(stable)
    lb.on_start(busy)
    lb.on_start(lb.select(canary))
    lb.select(whole)
    assert lb.stats(busy)["active"] == 1
    assert lb.stats(canary[0])["active"] == 1


def test_alternating_lists_keep_their_own_rotation():
    stable, canary = (endpoint("a"), endpoint("b")), (endpoint("c"),)
    lb = LoadBalancer(S.ROUND_ROBIN, rng=random.Random(6))
    picks = []
    for _ in range(6):
        picks.append(lb.select(stable).instance_id)
        assert lb.select(canary).instance_id == "c"
    assert picks in (["a", "b"] * 3, ["b", "a"] * 3)


def test_stats_survive_a_fresh_list_with_the_same_members():
    lb = LoadBalancer(S.LEAST_CONNECTIONS)
    lb.select((endpoint("a"), endpoint("b")))
    lb.on_start(endpoint("a"))
    # A new object holding the same instances (e.g. after a registry refresh).
    assert lb.select([endpoint("a"), endpoint("b")]).instance_id == "b"
    assert lb.stats(endpoint("a"))["active"] == 1


def test_consistent_hash_keeps_keys_when_the_same_members_come_in_a_new_list():
    lb = LoadBalancer(S.CONSISTENT_HASH)
    eps = [endpoint(f"n{i}") for i in range(6)]
    before = [lb.select(tuple(eps), f"cam-{i}") for i in range(100)]
    after = [lb.select(list(reversed(eps)), f"cam-{i}") for i in range(100)]
    assert before == after


def test_memory_stays_bounded_as_endpoints_churn():
    lb = LoadBalancer(S.HEALTH_AWARE, rng=random.Random(3))
    for generation in range(300):
        eps = tuple(endpoint(f"g{generation}-{i}") for i in range(10))
        picked = lb.select(eps)
        lb.on_start(picked)
        lb.on_finish(picked, 0.01, True)
    assert lb.tracked_endpoints == 10 * RECENT_LISTS


def test_services_are_tracked_apart():
    lb = LoadBalancer(S.ROUND_ROBIN)
    alerts = (endpoint("a1"), endpoint("a2"))
    auth = (endpoint("u1", service="auth"),)
    for _ in range(3):
        assert lb.select(alerts).service_name == "alert"
        assert lb.select(auth).instance_id == "u1"
    assert lb.tracked_endpoints == 3
    assert lb.stats(auth[0])["picks"] == 3


def test_forget_drops_stats_and_a_later_pick_starts_afresh():
    eps = (endpoint("a"), endpoint("b"))
    lb = LoadBalancer(S.LEAST_CONNECTIONS, rng=random.Random(4))
    lb.select(eps)
    lb.on_start(eps[0])
    lb.forget(eps[0])
    assert lb.tracked_endpoints == 1
    lb.select(eps)
    assert lb.tracked_endpoints == 2
    assert lb.stats(eps[0])["active"] == 0
    lb.forget(endpoint("z", service="nobody"))
