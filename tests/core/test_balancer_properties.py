"""Whatever the endpoints and the eligibility mask: an eligible pick, or an error iff none."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshctl.core.balancer import LoadBalancer, LoadBalancingStrategy
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.errors import NoHealthyEndpointsError

endpoint_spec = st.tuples(
    st.sampled_from(list(HealthStatus)),
    st.sampled_from([0.0, 0.25, 1.0, 3.0]),
    st.booleans(),  # eligible
)
# Sizes drawn uniformly, so that pools large enough to be sampled (not scanned) are common.
endpoint_specs = st.integers(0, 40).flatmap(
    lambda n: st.lists(endpoint_spec, min_size=n, max_size=n)
)


@settings(max_examples=200, deadline=None)
@given(
    strategy=st.sampled_from(list(LoadBalancingStrategy)),
    specs=endpoint_specs,
    keys=st.lists(st.none() | st.text(max_size=8), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    starts=st.lists(st.integers(0, 39), max_size=10),
)
def test_select_returns_an_eligible_endpoint_or_raises_iff_none(
    strategy, specs, keys, seed, starts
):
    eps = tuple(
        ServiceEndpoint("svc", "h", 1 + i, instance_id=f"i{i}", health_status=h, weight=w)
        for i, (h, w, _) in enumerate(specs)
    )
    allowed = {f"i{i}" for i, (_, _, ok) in enumerate(specs) if ok}
    usable = {
        f"i{i}" for i, (h, _, ok) in enumerate(specs) if ok and h is not HealthStatus.UNHEALTHY
    }
    lb = LoadBalancer(strategy, rng=random.Random(seed), virtual_nodes=5)
    for index in starts:
        if index < len(eps):
            lb.on_start(eps[index])
    for key in keys:
        if usable:
            picked = lb.select(eps, key, eligible=lambda e: e.instance_id in allowed)
            assert picked.instance_id in usable
            lb.on_start(picked)
        else:
            with pytest.raises(NoHealthyEndpointsError):
                lb.select(eps, key, eligible=lambda e: e.instance_id in allowed)
