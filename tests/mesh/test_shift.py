"""``route shift`` on real services: a canary advancing, failing, held, interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator

from meshctl.core.canary import Action, weights
from meshctl.core.faults import fault_from_options
from meshctl.core.objectives import parse_slos
from meshctl.errors import MeshError
from meshctl.mesh import open_mesh
from meshctl.registry.faults import inject_fault
from meshctl.registry.routes import history, read_tables
from meshctl.registry.shift import ShiftPlan, Step, run_shift
from meshctl.testing import Platform


def plan(step: float, slo: str = "errors<1%,p99<1s", **overrides: object) -> ShiftPlan:
    options: dict[str, object] = {"every": 1.5, "min_requests": 20, "patience": 2, **overrides}
    return ShiftPlan("analytics", "v0.1.0", "v0.2.0", weights(step),
                     objectives=tuple(parse_slos(slo)), **options)  # type: ignore[arg-type]  # fmt: skip


@contextlib.asynccontextmanager
async def traffic(platform: Platform) -> AsyncIterator[Counter[str]]:
    """Calls to analytics from a mesh client while the body runs; versions that answered."""
    seen: Counter[str] = Counter()
    async with open_mesh(platform.settings, name="caller", registry=platform.registry,
                         events=False) as mesh:  # fmt: skip

        async def call() -> None:
            while True:
                try:
                    result = await mesh.call("analytics", "GetTrafficMetrics", {})
                    seen[result.endpoint.version or "?"] += 1
                except MeshError:
                    seen["failed"] += 1  # retries stay within the call's subset
                await asyncio.sleep(0.005)

        task = asyncio.create_task(call())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def until_faulted(platform: Platform) -> None:
    """Wait for the canary's server to hold the fault (its cache polls once a second)."""
    [canary] = [e for e in await platform.registry.discover_services("analytics")
                if e.version == "0.2.0"]  # fmt: skip
    async with open_mesh(platform.settings, name="probe", registry=platform.registry,
                         events=False) as mesh:  # fmt: skip
        for _ in range(500):
            try:
                await mesh.call("analytics", "GetTrafficMetrics", {}, endpoint=canary)
            except MeshError:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the fault never reached the canary")


async def split_now(platform: Platform) -> dict[str, float]:
    tables, _ = await read_tables(platform.registry.redis, platform.registry.prefix)
    [rule] = tables["analytics"].rules
    previous, shares = 0.0, {}
    for subset, upto in rule.splits:
        shares[subset], previous = upto - previous, upto
    return shares


async def test_a_healthy_canary_advances_to_every_call(platform: Platform) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    steps: list[Step] = []
    async with traffic(platform) as seen:
        outcome = await run_shift(platform.registry.redis, platform.registry.prefix,
                                  plan(50), notify=steps.append)  # fmt: skip
        before = seen["0.1.0"]
        await asyncio.sleep(1.5)  # clients pick the last table up within a second
        assert seen["0.1.0"] == before, "the stable version still served after promotion"
    assert outcome.promoted and outcome.reason == ""
    verdicts = [(s.share, s.action) for s in steps if s.action is not None]
    assert [v for v in verdicts if v[1] is Action.ADVANCE] == [
        (50, Action.ADVANCE), (100, Action.ADVANCE)
    ]  # fmt: skip
    assert all(s.requests >= 20 for s in steps if s.action is Action.ADVANCE)
    assert await split_now(platform) == {"v0.2.0": 100}
    actions = [r["action"] for r in await history(
        platform.registry.redis, platform.registry.prefix, "analytics")]  # fmt: skip
    assert actions[:2] == ["shift to v0.2.0: 100%", "shift to v0.2.0: 50%"]


async def test_a_canary_failing_calls_is_rolled_back(platform: Platform) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    fault = fault_from_options(
        "analytics", now=time.time(), abort="UNAVAILABLE", percent=30, version="0.2.0"
    )
    await inject_fault(platform.registry.redis, platform.registry.prefix, fault)
    await until_faulted(platform)
    steps: list[Step] = []
    async with traffic(platform) as seen:
        outcome = await run_shift(platform.registry.redis, platform.registry.prefix,
                                  plan(10), notify=steps.append)  # fmt: skip
    assert not outcome.promoted
    assert outcome.reason == "SLO broken at 10% (errors<1%)", outcome.reason
    [judged] = [s for s in steps if s.action is Action.ROLLBACK and s.share == 10]
    errors = next(c for c in judged.checks if c.slo == "errors<1%")
    assert 0.1 <= errors.actual <= 0.6, errors  # about 30 % of the canary's attempts
    assert await split_now(platform) == {"v0.1.0": 100}
    assert seen["0.1.0"] > 0 and seen["0.2.0"] > 0


async def test_a_canary_nobody_calls_is_held_then_rolled_back(platform: Platform) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    steps: list[Step] = []
    outcome = await run_shift(platform.registry.redis, platform.registry.prefix,
                              plan(10, every=1.0), notify=steps.append)  # fmt: skip
    assert [s.action for s in steps] == [None, Action.HOLD, Action.HOLD, Action.ROLLBACK,
                                         Action.ROLLBACK]  # fmt: skip
    assert "too few to judge" in outcome.reason
    assert await split_now(platform) == {"v0.1.0": 100}


async def test_an_interrupted_shift_rolls_back(platform: Platform) -> None:
    await platform.start("analytics", instance_version="0.1.0")
    await platform.start("analytics", instance_version="0.2.0")
    began = asyncio.Event()
    task = asyncio.create_task(
        run_shift(
            platform.registry.redis,
            platform.registry.prefix,
            plan(10, every=60.0),
            notify=lambda step: began.set(),
        )  # fmt: skip
    )
    await began.wait()
    assert await split_now(platform) == {"v0.1.0": 90, "v0.2.0": 10}
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await split_now(platform) == {"v0.1.0": 100}
