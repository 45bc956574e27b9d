"""``meshctl route shift``: a service's calls moved to a canary version step by step.

Each step writes the service's route table as a split (stable N %, canary
100 - N %; a revision like any other, so ``route history`` shows the shift),
waits an interval, and judges the canary on what its instances served since
the step began, from their served reports (``core.canary``). The SLO holding
advances the shift; breaking it, or the canary getting too little traffic to
judge, rolls every call back to the stable version. So does an interrupted
shift (Ctrl-C): a canary half shifted is not left behind unverified.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from meshctl.core.canary import Action, Check, decide, judge, served_since
from meshctl.core.objectives import Objective
from meshctl.core.routing import split_document
from meshctl.core.slo import LATENCY_EDGES, SliCounts
from meshctl.registry.control import read_reports
from meshctl.registry.routes import set_table


@dataclass(frozen=True, slots=True)
class ShiftPlan:
    """``stable`` and ``canary`` are subsets as ``route split`` names them (``v0.2.0``)."""

    service: str
    stable: str
    canary: str
    shares: tuple[float, ...]  # the canary's share at each step, the last 100
    every: float  # seconds per step
    objectives: tuple[Objective, ...]
    min_requests: int = 10
    patience: int = 3


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a shift did: ``action`` None when a step began, else the verdict on it."""

    share: float
    revision: int
    action: Action | None = None
    requests: int = 0
    seconds: float = 0.0
    checks: tuple[Check, ...] = ()
    note: str = ""  # a rollback's reason


@dataclass(slots=True)
class ShiftOutcome:
    promoted: bool
    revision: int  # of the table the shift left
    reason: str  # why it rolled back; empty when promoted
    steps: list[Step] = field(default_factory=list)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def instance_counts(reports: Sequence[Mapping[str, Any]], service: str,
                    version: str) -> dict[str, SliCounts]:  # fmt: skip
    """Instance id → what it served so far, for ``service``'s instances of ``version``."""
    counts: dict[str, SliCounts] = {}
    for report in reports:
        if report.get("name") != service or report.get("version") != version:
            continue
        served, within = report.get("served"), report.get("within")
        if not isinstance(served, Mapping) or not isinstance(within, Mapping):
            continue
        total = counts.setdefault(str(report.get("instance_id")), SliCounts())
        for method, stats in served.items():
            edges = within.get(method)
            if not isinstance(stats, Mapping) or not isinstance(edges, list):
                continue
            if len(edges) != len(LATENCY_EDGES):
                continue  # an instance counting other edges: not comparable
            total.add(SliCounts(_int(stats.get("requests")), _int(stats.get("failures")),
                                [_int(n) for n in edges]))  # fmt: skip
    return counts


def split_of(plan: ShiftPlan, share: float) -> dict[str, Any]:
    """The route table putting ``share`` % of the service's calls on the canary."""
    weights = {plan.stable: round(100 - share, 6), plan.canary: share}
    return split_document(plan.service, {name: w for name, w in weights.items() if w > 0})


async def run_shift(
    redis: Redis,
    prefix: str,
    plan: ShiftPlan,
    *,
    notify: Callable[[Step], None] = lambda step: None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ShiftOutcome:
    """Run the shift to its end: promoted (the canary takes every call) or rolled back."""
    version = plan.canary.removeprefix("v")

    async def served() -> dict[str, SliCounts]:
        return instance_counts((await read_reports(redis, prefix)).servers, plan.service, version)

    async def roll_back(reason: str) -> ShiftOutcome:
        table = await set_table(
            redis, prefix, split_of(plan, 0), f"shift to {plan.canary} rolled back: {reason}"
        )
        steps.append(Step(0.0, table.revision, Action.ROLLBACK, note=reason))
        notify(steps[-1])
        return ShiftOutcome(False, table.revision, reason, steps)

    steps: list[Step] = []
    try:
        for share in plan.shares:
            table = await set_table(
                redis, prefix, split_of(plan, share), f"shift to {plan.canary}: {share:g}%"
            )
            steps.append(Step(share, table.revision))
            notify(steps[-1])
            before, began, holds = await served(), clock(), 0
            while True:
                await sleep(plan.every)
                counts, seconds = served_since(before, await served()), clock() - began
                checks = judge(plan.objectives, counts, seconds)
                action = decide(checks, counts.total, plan.min_requests, holds, plan.patience)
                steps.append(
                    Step(share, table.revision, action, counts.total, seconds, tuple(checks))
                )
                notify(steps[-1])
                if action is not Action.HOLD:
                    break
                holds += 1
            if action is Action.ROLLBACK:
                if counts.total < plan.min_requests:
                    reason = f"{plan.canary} served {counts.total} requests in {seconds:.0f}s"
                    return await roll_back(f"{reason}, too few to judge")
                broken = ", ".join(c.slo for c in checks if not c.met)
                return await roll_back(f"SLO broken at {share:g}% ({broken})")
        return ShiftOutcome(True, steps[-1].revision if steps else 0, "", steps)
    except asyncio.CancelledError:
        await roll_back("interrupted")
        raise
