"""``meshctl loadtest SERVICE METHOD``: generate load through the mesh and judge it.

Options are parsed into a ``LoadPlan`` (bad input: exit 2, before any load),
the plan runs in this process or in worker processes, and the merged result
is rendered, saved, compared and checked against SLOs (missed: exit 1).
``--all`` runs the same plan for each method of the service in turn and
reports one line per method (see ``meshctl.loadtest.suite``).
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import emit, render, use_color
from meshctl.cli.requestdata import seconds
from meshctl.cli.runner import EXIT_FAILED, fail, run, state
from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.core.objectives import Objective
    from meshctl.loadtest.plan import LoadPlan
    from meshctl.loadtest.result import RunResult
    from meshctl.loadtest.suite import MethodOutcome


class LoadOutput(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def loadtest(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service to load, e.g. analytics.")],
    method: Annotated[
        str | None,
        typer.Argument(help="Method (or HTTP route name) to call; none with --all."),
    ] = None,
    all_methods: Annotated[
        bool,
        typer.Option(
            "--all", help="Load every method of SERVICE in turn, the same way; one line each."
        ),
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", help="Closed loop: callers in parallel [default: 10]."),
    ] = None,
    rps: Annotated[
        float | None, typer.Option("--rps", help="Open loop: requests per second, constant.")
    ] = None,
    ramp: Annotated[
        str | None,
        typer.Option(
            "--ramp",
            help="Open loop with a changing rate: FROM:TO:OVER (linear, e.g. 100:1000:30s) "
            "or step:R1,R2,...@EVERY (e.g. step:100,200,400@10s); the last rate is held.",
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option("--duration", help="Measured length, e.g. 30s, 500ms, 2m [default: 10s]."),
    ] = None,
    requests: Annotated[
        int | None, typer.Option("--requests", "-n", help="Stop after this many requests.")
    ] = None,
    warmup: Annotated[
        str, typer.Option("--warmup", help="Load before measuring, excluded from results.")
    ] = "0s",
    workers: Annotated[int, typer.Option("--workers", "-w", help="Load generator processes.")] = 1,
    max_in_flight: Annotated[
        int,
        typer.Option("--max-in-flight", help="Open loop: most outstanding requests per worker."),
    ] = 1000,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per call.")] = 10.0,
    direct: Annotated[
        bool,
        typer.Option(
            "--direct", help="Bypass the mesh: bare calls to one endpoint, to see the mesh's cost."
        ),
    ] = False,
    strategy: Annotated[
        LoadBalancingStrategy | None,
        typer.Option(help="Load-balancing strategy of the mesh's calls (not with --direct)."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="Request JSON with placeholders {{n}} {{worker}} {{uuid}} {{randint A B}} "
            "{{choice X Y}} {{now}} [default: a sample request].",
        ),
    ] = None,
    data_file: Annotated[
        Path | None, typer.Option("--data-file", help="Requests as JSON lines, cycled.")
    ] = None,
    slo: Annotated[
        str | None,
        typer.Option(
            "--slo", help="Objectives, e.g. 'p99<100ms,errors<0.1%,rps>=1000'; missed: exit 1."
        ),
    ] = None,
    save: Annotated[
        Path | None, typer.Option("--save", help="Write the result (with histogram) as JSON.")
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare", help="A result saved with --save: show changes, flag regressions."
        ),
    ] = None,
    output: Annotated[
        LoadOutput, typer.Option("--output", "-o", help="table, json or csv.")
    ] = LoadOutput.TABLE,
) -> None:
    """Load-test a method (or, with --all, each of a service's) and report throughput and latency.

    Closed loop by default (--concurrency callers); --rps or --ramp run an open
    loop whose latencies count from each request's intended send time, so
    server stalls show as queueing delay. Exit 1 when an --slo is missed.

    Durations: 30s, 500ms, 2m, 1h (a bare number is seconds). Ramps:
    100:1000:30s rises linearly from 100 to 1000 rps over 30 s;
    step:100,200,400@10s holds each rate for 10 s; both then hold the last
    rate for the rest of --duration. SLOs: METRIC OP VALUE joined by commas,
    METRIC one of p50 p90 p95 p99 p99.9 min mean max (us, ms or s; default
    ms), errors (a % or a fraction of failed plus never-started requests) or
    rps (successful requests per second over the measured time), OP one of
    < <= > >=. Late requests went out more than 10 ms after their intended
    time; not-started ones were still held back by --max-in-flight when the
    run ended. Each worker has its own event loop and mesh client; their
    histograms are merged.

    --all loads each method of SERVICE (its gRPC methods or HTTP routes) one
    after another with its sample request and the same options, and prints
    one line per method: requests, rps, p50, p99, errors, SLO verdict. A
    method whose request is refused as the caller's error (a login without
    real credentials, say) is skipped with the reason, after one request.
    Exit 1 when a method misses an --slo or none of its requests succeeds.
    """
    from meshctl.core.objectives import evaluate, misses, parse_slos
    from meshctl.loadtest.result import compare as compare_results

    if all_methods:
        _refuse_with_all(method, data=data, data_file=data_file, save=save, compare=compare)
    elif method is None:
        raise InvalidRequestError("missing METHOD: name one, or give --all for every method")
    plan = build_plan(
        service,
        method or "",
        concurrency=concurrency,
        rps=rps,
        ramp=ramp,
        duration=duration,
        requests=requests,
        warmup=warmup,
        workers=workers,
        max_in_flight=max_in_flight,
        timeout=timeout,
        direct=direct,
        strategy=strategy,
        data=data,
        data_file=data_file,
    )
    objectives = parse_slos(slo) if slo is not None else []
    if all_methods:
        _load_all(ctx, plan, objectives, output)
        return
    baseline = _load_baseline(compare) if compare is not None else None
    settings = state(ctx).resolve().settings
    run(_preflight(ctx, service))
    result = _execute(plan, settings)
    summary = result.summary()
    checks = evaluate(objectives, summary)
    comparison = compare_results(baseline.summary(), summary) if baseline else None
    if save is not None:
        _write(save, json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n")
    _emit(result, summary, checks, comparison, output)
    regressions = [row["metric"] for row in comparison or () if row["regression"]]
    if regressions:  # flagged, not failed: --slo is the gate
        typer.echo(f"warning: worse than the baseline: {', '.join(regressions)}", err=True)
    missed = misses(checks)
    if missed:
        fail(f"SLO missed: {missed}")
    if result.ok == 0:
        fail(f"no request to {service}/{method} succeeded", code=EXIT_FAILED)


def _refuse_with_all(method: str | None, **one_method_options: Any) -> None:
    """Raise InvalidRequestError for what --all cannot take."""
    if method is not None:
        raise InvalidRequestError(f"give METHOD ({method}) or --all, not both")
    flags = {"data": "-d", "data_file": "--data-file", "save": "--save", "compare": "--compare"}
    given = [flags[k] for k, v in one_method_options.items() if v is not None]
    if given:
        raise InvalidRequestError(
            f"{', '.join(given)} apply to one METHOD; --all sends each method its sample request"
        )


async def _preflight(ctx: typer.Context, service: str) -> None:
    """Refuse to load what cannot answer: Redis away (exit 3), an unknown name (2), no
    instance (1); otherwise every request would fail and the run would say only that."""
    from meshctl.cli.lookup import service_endpoints
    from meshctl.cli.services import command_registry

    async with command_registry(ctx) as registry:
        await service_endpoints(registry, service)


def _execute(plan: LoadPlan, settings: MeshSettings, label: str = "") -> RunResult:
    """Run ``plan`` here or in worker processes (a live line on a terminal); meta filled in."""
    progress = _Progress(label) if sys.stderr.isatty() else None
    try:
        if plan.workers == 1:
            from meshctl.core import heap
            from meshctl.loadtest.workers import run_local

            heap.settle()  # its own collections would add to the latencies it measures
            result = run(run_local(plan, settings, progress.update if progress else None))
        else:
            from meshctl.loadtest.workers import run_processes

            result = run_processes(plan, settings, progress.update if progress else None)
    finally:
        if progress is not None:
            progress.stop()
    result.meta.update(_describe(plan))
    return result


def _load_all(
    ctx: typer.Context, base: LoadPlan, objectives: list[Objective], output: LoadOutput
) -> None:
    """Load each method of ``base.service`` in turn with ``base``'s options; one line each."""
    from dataclasses import replace

    from meshctl.core.objectives import evaluate
    from meshctl.loadtest.callers import refusal
    from meshctl.loadtest.suite import MethodOutcome, failure

    settings = state(ctx).resolve().settings
    outcomes: list[MethodOutcome] = []
    for method, unfit in run(_methods(ctx, base.service)):
        plan = replace(base, method=method)
        refused = None if unfit else run(refusal(plan, settings))
        if unfit or refused:
            why = unfit or f"needs real input: {refused}"
            outcomes.append(MethodOutcome(base.service, method, skipped=why))
            continue
        result = _execute(plan, settings, label=method)
        summary = result.summary()
        checks = evaluate(objectives, summary)
        outcomes.append(MethodOutcome(base.service, method, summary, checks, result.meta))
    _emit_all(outcomes, output)
    problem = failure(base.service, outcomes)
    if problem is not None:
        fail(problem)


async def _methods(ctx: typer.Context, service: str) -> list[tuple[str, str | None]]:
    """SERVICE's methods as a live instance lists them, with why one cannot be loaded."""
    from meshctl.cli.describe import list_methods, live_endpoint
    from meshctl.loadtest.suite import callable_methods

    return callable_methods(await list_methods(ctx, service, await live_endpoint(ctx, service)))


def _emit_all(outcomes: list[MethodOutcome], output: LoadOutput) -> None:
    from meshctl.loadtest.suite import TABLE_COLUMNS, table_rows, to_csv

    if output is LoadOutput.JSON:
        emit([o.to_json() for o in outcomes], "json")
    elif output is LoadOutput.CSV:
        typer.echo(to_csv(outcomes), nl=False)
    else:
        emit(table_rows(outcomes), "table", columns=TABLE_COLUMNS)


def build_plan(service: str, method: str, **opts: Any) -> LoadPlan:
    """A validated plan from the command's options (raises InvalidRequestError)."""
    from meshctl.loadtest.plan import LoadPlan
    from meshctl.loadtest.schedule import Schedule, parse_duration, parse_ramp
    from meshctl.loadtest.template import load_lines

    seconds("--timeout", opts["timeout"])
    if opts["rps"] is not None and opts["ramp"] is not None:
        raise InvalidRequestError("give --rps or --ramp, not both")
    schedule = None
    if opts["rps"] is not None:
        if not opts["rps"] > 0:
            raise InvalidRequestError("--rps must be positive")
        schedule = Schedule.constant(opts["rps"])
    elif opts["ramp"] is not None:
        schedule = parse_ramp(opts["ramp"])
    if schedule is not None and opts["concurrency"] is not None:
        raise InvalidRequestError(
            "--concurrency is for the closed loop; --rps and --ramp run an open loop"
        )
    duration = None
    if opts["duration"] is not None:
        duration = parse_duration(opts["duration"])
    elif opts["requests"] is None:
        duration = 10.0
    lines = None
    if opts["data_file"] is not None:
        path: Path = opts["data_file"]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidRequestError(f"cannot read --data-file {path}: {exc}") from None
        lines = tuple(load_lines(text.splitlines(), str(path)))
    return LoadPlan(
        service=service,
        method=method,
        concurrency=opts["concurrency"] if opts["concurrency"] is not None else 10,
        schedule=schedule,
        duration=duration,
        requests=opts["requests"],
        warmup=parse_duration(opts["warmup"]),
        max_in_flight=opts["max_in_flight"],
        timeout=opts["timeout"],
        direct=opts["direct"],
        strategy=opts["strategy"],
        template=opts["data"],
        lines=lines,
        workers=opts["workers"],
    )


def _describe(plan: LoadPlan) -> dict[str, Any]:
    return {
        "service": plan.service,
        "method": plan.method,
        "mode": "open" if plan.open_loop else "closed",
        "path": "direct" if plan.direct else "mesh",
        "strategy": plan.strategy,  # None: the mesh client's default
        "concurrency": None if plan.open_loop else plan.concurrency,
        "schedule": [list(p) for p in plan.schedule.points] if plan.schedule else None,
        "workers": plan.workers,
        "saved_at": time.time(),
    }


def _load_baseline(path: Path) -> RunResult:
    from meshctl.loadtest.result import RunResult

    try:
        return RunResult.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError(f"cannot use --compare {path}: {exc}") from None


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidRequestError(f"cannot write --save {path}: {exc}") from None


def _emit(
    result: RunResult,
    summary: dict[str, Any],
    checks: list[dict[str, Any]],
    comparison: list[dict[str, Any]] | None,
    output: LoadOutput,
) -> None:
    from meshctl.loadtest.report import endpoint_rows, histogram_lines, summary_rows, to_csv

    if output is LoadOutput.JSON:
        data = {"meta": result.meta, "summary": summary, "slos": checks, "comparison": comparison}
        emit(data, "json")
        return
    if output is LoadOutput.CSV:
        typer.echo(to_csv(summary, checks), nl=False)
        return
    color = use_color()
    sections = [
        render(summary_rows(summary), "table", columns=("key", "value"), color=color),
        "\n".join(["LATENCY HISTOGRAM", *histogram_lines(result.latency)]) + "\n",
        render(
            endpoint_rows(summary), "table", columns=("instance", "requests", "share"), color=color
        ),
    ]
    if checks:
        sections.append(render(checks, "table", columns=("slo", "actual", "met"), color=color))
    if comparison is not None:
        sections.append(
            render(
                comparison,
                "table",
                columns=("metric", "baseline", "current", "change_pct", "regression"),
                color=color,
            )
        )
    typer.echo("\n".join(sections), nl=False)


class _Progress:
    """A one-line live view on stderr: rate, errors and percentiles so far."""

    def __init__(self, label: str = "") -> None:
        from rich.console import Console
        from rich.live import Live

        self.label = f"{label}  " if label else ""
        self.started = time.monotonic()
        self.live = Live(console=Console(stderr=True), transient=True, auto_refresh=False)
        self.live.start()

    def update(self, result: RunResult, measuring: bool) -> None:
        elapsed = time.monotonic() - self.started
        hist = result.latency
        phase = "" if measuring else "  (warming up)"
        self.live.update(
            f"{self.label}{elapsed:6.1f}s  ok {result.ok}  errors {result.failed}  "
            f"p50 {hist.percentile(50) * 1000:.2f} ms  p99 {hist.percentile(99) * 1000:.2f} ms"
            f"{phase}",
            refresh=True,
        )

    def stop(self) -> None:
        self.live.stop()
