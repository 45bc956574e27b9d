"""Progressive canaries: the steps of a shift and the verdict on each (pure).

``meshctl route shift analytics --to v0.2.0 --step 10% --every 1m --slo
'errors<1%,p99<100ms'`` moves a service's calls to a new version a step at a
time. After each step's interval the canary is judged on what its instances
served in that interval, by the load-test engine's SLO syntax:

    errors     the share of requests the canary's servers failed (their own
               faults, as ``top`` counts them: not callers' mistakes)
    pNN<T      at most (100 - NN) % of requests slower than T; T is one of the
               latency edges every server counts exactly (``LATENCY_EDGES``)
    rps        requests the canary served per second

A step whose canary served fewer than ``min_requests`` is not judged but held
for another interval, up to ``patience`` times; the shift then gives up and
rolls back, since a canary nobody called has not been shown to work.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from meshctl.core.objectives import Objective
from meshctl.core.slo import LATENCY_EDGES, SliCounts

_QUANTILES = ("p50", "p90", "p95", "p99", "p99.9")


class CanaryError(ValueError):
    """A shift that cannot be run as asked; the message says why."""


def parse_step(text: str) -> float:
    """``10%`` or ``10`` → 10.0, a share of calls in (0, 100]."""
    number = text.strip().removesuffix("%")
    try:
        step = float(number)
    except ValueError:
        raise CanaryError(f"invalid step {text!r}: expected a percentage, e.g. 10%") from None
    if not 0 < step <= 100 or not math.isfinite(step):
        raise CanaryError(f"invalid step {text!r}: a percentage above 0 and at most 100")
    return step


def weights(step: float) -> tuple[float, ...]:
    """The canary's share at each step: 10 → 10, 20, … 100; 30 → 30, 60, 90, 100."""
    shares, share = [], step
    while share < 100 and not math.isclose(share, 100):
        shares.append(round(share, 6))
        share += step
    return (*shares, 100.0)


def check_objectives(objectives: Sequence[Objective]) -> None:
    """Refuse objectives a canary cannot be judged on from the servers' counts."""
    for objective in objectives:
        if objective.metric in ("errors", "rps"):
            continue
        if objective.metric not in _QUANTILES or not objective.op.startswith("<"):
            raise CanaryError(
                f"{objective.text!r}: a canary is judged on errors, rps and pNN<T "
                f"({', '.join(_QUANTILES)})"
            )
        if not any(math.isclose(edge * 1000, objective.threshold) for edge in LATENCY_EDGES):
            edges = ", ".join(f"{edge * 1000:g}ms" for edge in LATENCY_EDGES)
            raise CanaryError(
                f"{objective.text!r}: servers count latency at {edges}; use one of these"
            )


def served_since(before: Mapping[str, SliCounts], after: Mapping[str, SliCounts]) -> SliCounts:
    """What the instances in ``after`` served since ``before`` (instance id → cumulative
    counts). An instance new since ``before``, or whose counts went back (it restarted),
    counts from zero; one gone since is left out, as its last counts are unknown."""
    served = SliCounts()
    for instance, now in after.items():
        then = before.get(instance)
        restarted = then is not None and now.total < then.total
        served.add(now if then is None or restarted else now.minus(then))
    return served


def quantile_ms(counts: SliCounts, quantile: float) -> float:
    """The smallest latency edge (ms) at or below which ``quantile`` of requests were;
    infinity when that is beyond the last edge."""
    needed = quantile * counts.total
    for edge, within in zip(LATENCY_EDGES, counts.within, strict=True):
        if within >= needed:
            return edge * 1000
    return math.inf


@dataclass(frozen=True, slots=True)
class Check:
    slo: str
    actual: float  # errors as a fraction, latency in ms, rps
    met: bool


def judge(objectives: Sequence[Objective], counts: SliCounts, seconds: float) -> list[Check]:
    """Each objective's verdict on what the canary served in ``seconds``."""
    checks = []
    for objective in objectives:
        if objective.metric in ("errors", "rps"):
            met, actual = objective.check({
                "error_rate": counts.failed / counts.total if counts.total else 0.0,
                "rps": counts.total / seconds if seconds > 0 else 0.0,
            })  # fmt: skip
        else:
            share = float(objective.metric[1:]) / 100
            edge = next(e for e in LATENCY_EDGES if math.isclose(e * 1000, objective.threshold))
            met = counts.slow(edge) <= (1 - share) * counts.total + 1e-9
            actual = quantile_ms(counts, share)
        checks.append(Check(objective.text, actual, met))
    return checks


class Action(enum.Enum):
    ADVANCE = "advance"  # the SLO held: next step (or done, after the last)
    HOLD = "hold"  # too little traffic to judge: same step, another interval
    ROLLBACK = "rollback"  # the SLO broke, or the canary was never called enough


def decide(checks: Sequence[Check], requests: int, min_requests: int, holds: int,
           patience: int) -> Action:  # fmt: skip
    """What a shift does after a step's interval; ``holds`` is how often this step was held."""
    if requests < min_requests:
        return Action.HOLD if holds < patience else Action.ROLLBACK
    return Action.ADVANCE if all(c.met for c in checks) else Action.ROLLBACK


def describe_checks(checks: Sequence[Check]) -> str:
    """``errors<1% (0.5%) ok, p99<100ms (250ms) BROKEN``."""
    parts = []
    for check in checks:
        if check.slo.startswith("errors"):
            actual = f"{check.actual * 100:.2f}%"
        elif check.slo.startswith("rps"):
            actual = f"{check.actual:.1f}/s"
        else:
            actual = "over 10s" if math.isinf(check.actual) else f"≤{check.actual:g}ms"
        parts.append(f"{check.slo} ({actual}) {'ok' if check.met else 'BROKEN'}")
    return ", ".join(parts)
