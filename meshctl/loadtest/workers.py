"""Run a load test in this process, or spread over worker processes and merge.

Each worker process (spawned, so no inherited event loop or sockets) runs
its own event loop and caller, waits at a shared start line so all begin
together, sends progress every ``PROGRESS_EVERY`` seconds and finally its
result with the encoded latency histogram, which the parent merges.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
from collections.abc import Callable
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

from meshctl.config import MeshSettings
from meshctl.core import heap
from meshctl.core.breaker import CircuitBreakerConfig
from meshctl.core.stats import LatencyHistogram
from meshctl.errors import InvalidRequestError, MeshError
from meshctl.loadtest.plan import LoadPlan
from meshctl.loadtest.result import RunResult

PROGRESS_EVERY = 0.5
Progress = Callable[[RunResult, bool], None]
"""Called with the results so far and whether the warm-up is over."""


async def run_local(
    plan: LoadPlan,
    settings: MeshSettings,
    progress: Progress | None = None,
    *,
    breaker_config: CircuitBreakerConfig | None = None,
) -> RunResult:
    """Run ``plan`` on this event loop (one worker)."""
    from meshctl.loadtest.callers import open_caller
    from meshctl.loadtest.engine import LoadRun

    async with open_caller(plan, settings, breaker_config=breaker_config) as caller:
        run = LoadRun(plan, caller)
        task = asyncio.ensure_future(run.run())
        while progress is not None and not task.done():
            await asyncio.wait([task], timeout=PROGRESS_EVERY)
            progress(run.result, run.measuring)
        result = await task
    result.meta["workers"] = 1
    return result


def run_processes(
    plan: LoadPlan, settings: MeshSettings, progress: Progress | None = None
) -> RunResult:
    """Run ``plan`` in ``plan.workers`` spawned processes and merge what they measured."""
    ctx = multiprocessing.get_context("spawn")
    messages: multiprocessing.Queue[tuple[str, int, Any]] = ctx.Queue()
    go = ctx.Event()
    procs = [
        ctx.Process(target=_worker_main, args=(plan, settings, i, messages, go), daemon=True)
        for i in range(plan.workers)
    ]
    for proc in procs:
        proc.start()
    try:
        return _collect(plan, procs, messages, go, progress)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=5)


def _collect(
    plan: LoadPlan,
    procs: list[Any],
    messages: multiprocessing.Queue[tuple[str, int, Any]],
    go: MpEvent,
    progress: Progress | None,
) -> RunResult:
    ready: set[int] = set()
    live: dict[int, tuple[RunResult, bool]] = {}
    finished: dict[int, RunResult] = {}
    while len(finished) < len(procs):
        try:
            kind, worker, payload = messages.get(timeout=PROGRESS_EVERY)
        except queue.Empty:
            if any(not p.is_alive() and i not in finished for i, p in enumerate(procs)):
                raise MeshError(
                    "a load generator worker died; run with --workers 1 to see why"
                ) from None
            continue
        if kind == "ready":
            ready.add(worker)
            if len(ready) == len(procs):
                go.set()
        elif kind == "error":
            error_class = InvalidRequestError if payload[0] == 2 else MeshError
            raise error_class(f"worker {worker}: {payload[1]}")
        elif kind == "progress":
            ok, errors, encoded, measuring = payload
            part = RunResult(ok=ok, errors=errors, latency=LatencyHistogram.decode(encoded))
            live[worker] = (part, measuring)
            if progress is not None:
                merged = RunResult()
                for part, _ in live.values():
                    merged.merge(part)
                progress(merged, all(m for _, m in live.values()))
        elif kind == "done":
            finished[worker] = RunResult.from_json(payload)
    result = RunResult()
    for part in finished.values():
        result.merge(part)
    result.meta["workers"] = plan.workers
    return result


def _worker_main(
    plan: LoadPlan,
    settings: MeshSettings,
    worker: int,
    messages: multiprocessing.Queue[tuple[str, int, Any]],
    go: MpEvent,
) -> None:
    """A worker process: run its share and report back; errors travel as messages."""
    heap.settle()  # the worker's own collections would add to the latencies it measures
    try:
        result = asyncio.run(_worker(plan, settings, worker, messages, go))
    except MeshError as exc:
        messages.put(("error", worker, (exc.exit_code, str(exc))))
        return
    except Exception as exc:  # anything else still ends as one line in the parent
        messages.put(("error", worker, (1, f"{type(exc).__name__}: {exc}")))
        return
    messages.put(("done", worker, result.to_json()))


async def _worker(
    plan: LoadPlan,
    settings: MeshSettings,
    worker: int,
    messages: multiprocessing.Queue[tuple[str, int, Any]],
    go: MpEvent,
) -> RunResult:
    from meshctl.loadtest.callers import open_caller
    from meshctl.loadtest.engine import LoadRun

    async with open_caller(plan, settings, name=f"meshctl-loadtest-{worker}") as caller:
        messages.put(("ready", worker, None))
        await asyncio.to_thread(go.wait)
        run = LoadRun(plan, caller, worker=worker)
        task = asyncio.ensure_future(run.run())
        while not task.done():
            await asyncio.wait([task], timeout=PROGRESS_EVERY)
            live = run.result
            payload = (live.ok, dict(live.errors), live.latency.encode(), run.measuring)
            messages.put(("progress", worker, payload))
        return await task
