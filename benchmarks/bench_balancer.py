"""Per-pick cost of each load-balancing strategy against naive baselines, in one run.

    .venv/bin/python benchmarks/bench_balancer.py

For every size the same endpoint tuple is reused (as the registry client does),
so the one-off build of a strategy's structures is measured apart ("build").
Each figure is the best of ROUNDS rounds of picks, a round lasting at least
ROUND_SECONDS of this process's CPU time (``process_time``, so that time the
shared machine spends on other processes is not counted). "filtered" passes an ``eligible`` callback
that rejects 1 % of the endpoints (at least one), as open breakers would.
Baselines: ``random.choice`` (filtered: over a list comprehension of the
eligible ones) and a full scan taking the best health-aware score.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable

from meshctl.core.balancer import LoadBalancer, LoadBalancingStrategy
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.endpoint_stats import EndpointStats, HealthAwareWeights, health_aware_score

SIZES = (10, 100, 1_000, 10_000)
ROUNDS = 9
ROUND_SECONDS = 0.01
KEYS = [f"camera-{i}" for i in range(1024)]


def make_endpoints(n: int) -> tuple[ServiceEndpoint, ...]:
    rng = random.Random(n)
    return tuple(
        ServiceEndpoint(
            "analytics",
            "10.0.0.1",
            1 + i % 65000,
            instance_id=f"inst-{i:05d}",
            weight=rng.choice([1.0, 1.0, 2.0]),
            health_status=rng.choice([HealthStatus.HEALTHY] * 4 + [HealthStatus.UNKNOWN]),
        )
        for i in range(n)
    )


def per_pick_us(pick: Callable[[str], object]) -> float:
    """Best-of-ROUNDS microseconds per call of ``pick``."""
    best = float("inf")
    for _ in range(ROUNDS):
        calls, start = 0, time.process_time()
        while (elapsed := time.process_time() - start) < ROUND_SECONDS:
            for key in KEYS[:64]:
                pick(key)
            calls += 64
        best = min(best, elapsed / calls * 1e6)
    return best


def time_picks(
    lb: LoadBalancer, eps: tuple[ServiceEndpoint, ...], eligible: Callable[[ServiceEndpoint], bool]
) -> tuple[float, float]:
    """(µs/pick, µs/pick with the ``eligible`` filter) for one balancer."""
    return (
        per_pick_us(lambda key: lb.select(eps, key)),
        per_pick_us(lambda key: lb.select(eps, key, eligible=eligible)),
    )


def measure(n: int) -> dict[str, tuple[float, float, float | None]]:
    """Row name -> (µs/pick, µs/pick filtered, build ms)."""
    eps = make_endpoints(n)
    rejected = {ep.instance_id for ep in eps[::100]}

    def eligible(ep: ServiceEndpoint) -> bool:
        return ep.instance_id not in rejected

    rows: dict[str, tuple[float, float, float | None]] = {}
    for strategy in LoadBalancingStrategy:
        lb = LoadBalancer(strategy, rng=random.Random(1))
        start = time.process_time()
        lb.select(eps, "warm-up")
        build_ms = (time.process_time() - start) * 1e3
        for i, ep in enumerate(eps[::7]):  # some calls in flight, some latency known
            lb.on_start(ep)
            lb.on_finish(ep, 0.005 + (i % 10) / 1000, True)
            lb.on_start(ep)
        rows[strategy.value] = (*time_picks(lb, eps, eligible), build_ms)

    rng = random.Random(2)
    rows["baseline random.choice"] = (
        per_pick_us(lambda key: rng.choice(eps)),
        per_pick_us(lambda key: rng.choice([ep for ep in eps if eligible(ep)])),
        None,
    )
    stats = {ep.instance_id: EndpointStats() for ep in eps}
    weights = HealthAwareWeights()

    def scan(key: str, only: Callable[[ServiceEndpoint], bool] | None = None) -> ServiceEndpoint:
        return max(
            (ep for ep in eps if only is None or only(ep)),
            key=lambda ep: health_aware_score(ep, stats[ep.instance_id], 0.01, weights),
        )

    rows["baseline full-scan best score"] = (
        per_pick_us(scan),
        per_pick_us(lambda key: scan(key, eligible)),
        None,
    )
    return rows


def main() -> None:
    print(f"Python {sys.version.split()[0]}; best of {ROUNDS} rounds of >= {ROUND_SECONDS}s CPU")
    results = {n: measure(n) for n in SIZES}
    names = list(results[SIZES[0]])
    head = " | ".join(f"{n:,}" for n in SIZES)
    print(f"\n| µs/pick (plain / filtered) | {head} |")
    print("|---" * (len(SIZES) + 1) + "|")
    for name in names:
        cells = " | ".join(f"{results[n][name][0]:.2f} / {results[n][name][1]:.2f}" for n in SIZES)
        print(f"| {name} | {cells} |")
    print(f"\n| build on a new list, ms | {head} |")
    print("|---" * (len(SIZES) + 1) + "|")
    for name in names:
        if results[SIZES[0]][name][2] is not None:
            cells = " | ".join(f"{results[n][name][2]:.1f}" for n in SIZES)
            print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
