"""``meshctl route``: route tables that send a service's calls to subsets of its instances.

A table is validated before it is written (a malformed one gets exit 2 and
never reaches a client), every change is a revision, and mesh clients pick
changes up within a moment (``registry/routes.py``). The table format is in
docs/routing.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from meshctl.cli.output import Column, OutputFormat, OutputOption, emit
from meshctl.cli.runner import run, state
from meshctl.core.routing import RouteError, describe
from meshctl.core.units import format_age
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from meshctl.config import MeshSettings
    from meshctl.core.objectives import Objective
    from meshctl.core.routing import RouteTable
    from meshctl.registry import ServiceRegistry
    from meshctl.registry.shift import ShiftOutcome, ShiftPlan, Step

app = typer.Typer(
    help="Route a service's calls to subsets of its instances: splits, canaries, pins.",
    no_args_is_help=True,
)

T = TypeVar("T")
Service = Annotated[str, typer.Argument(help="The service whose calls are routed.")]


async def with_registry(
    settings: MeshSettings, work: Callable[[ServiceRegistry], Awaitable[T]]
) -> T:
    """Run ``work`` on the registry; route errors become exit 2, Redis errors exit 3."""
    from meshctl.core.canary import CanaryError
    from meshctl.registry import open_registry
    from meshctl.registry.connection import translated

    registry = open_registry(settings)
    try:
        with translated(settings.redis_url):
            try:
                return await work(registry)
            except (RouteError, CanaryError) as exc:
                raise InvalidRequestError(str(exc)) from None
    finally:
        await registry.aclose()


async def with_redis(settings: MeshSettings, work: Callable[[Redis], Awaitable[T]]) -> T:
    """``with_registry`` for work that needs only the registry's Redis."""
    return await with_registry(settings, lambda registry: work(registry.redis))


def table_json(table: RouteTable) -> dict[str, Any]:
    return {"service": table.service, "revision": table.revision, "table": dict(table.document)}


@app.command("list")
def list_routes(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """Every service's route table, a line per rule."""
    from meshctl.registry.routes import read_tables

    settings = state(ctx).resolve().settings
    tables, problems = run(with_redis(settings, lambda r: read_tables(r, settings.prefix)))
    for line in problems:
        typer.echo(f"warning: {line}", err=True)
    ordered = [tables[name] for name in sorted(tables)]
    if output is not OutputFormat.TABLE:
        emit({"routes": [table_json(t) for t in ordered]}, output)
        return
    rows = [
        {"service": t.service if i == 0 else "", "revision": t.revision if i == 0 else "",
         "rule": line}
        for t in ordered for i, line in enumerate(describe(t))
    ]  # fmt: skip
    if not rows:
        typer.echo("no route table: every call may go to any instance")
        return
    emit(rows, output, columns=("service", "revision", Column("rule", "RULES")))


@app.command("show")
def show(ctx: typer.Context, service: Service, output: OutputOption = OutputFormat.YAML) -> None:
    """SERVICE's current table, as `route set -f` takes it."""
    from meshctl.registry.routes import read_tables

    settings = state(ctx).resolve().settings
    tables, _ = run(with_redis(settings, lambda r: read_tables(r, settings.prefix)))
    table = tables.get(service)
    if table is None:
        raise InvalidRequestError(f"{service} has no route table (`meshctl route list`)")
    emit(table_json(table) if output is not OutputFormat.YAML else dict(table.document), output)


def read_document(path: str) -> Any:
    """A table from a YAML or JSON file, or ``-`` for stdin."""
    import yaml

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise InvalidRequestError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise InvalidRequestError(f"{path} is not YAML or JSON{line}") from None


def _written(table: RouteTable, verb: str) -> None:
    typer.echo(f"route table of {table.service} {verb}: revision {table.revision}")
    for line in describe(table):
        typer.echo(f"  {line}")


@app.command("set")
def set_route(
    ctx: typer.Context,
    file: Annotated[
        str, typer.Option("-f", "--file", help="The table: YAML or JSON, - for stdin.")
    ],
) -> None:
    """Write a service's route table from FILE (validated first)."""
    from meshctl.registry.routes import set_table

    document = read_document(file)
    settings = state(ctx).resolve().settings
    _written(run(with_redis(settings, lambda r: set_table(r, settings.prefix, document))), "set")


def parse_weights(args: list[str]) -> dict[str, int | float]:
    """``v0.1.0=95 v0.2.0=5`` → {"v0.1.0": 95, "v0.2.0": 5}."""
    weights: dict[str, float] = {}
    for arg in args:
        name, sep, number = arg.partition("=")
        try:
            weight = float(number) if sep and name else -1.0
        except ValueError:
            weight = -1.0
        if weight < 0:
            raise InvalidRequestError(
                f"invalid split {arg!r}: expected VERSION=PERCENT, e.g. v0.2.0=5"
            )
        if name in weights:
            raise InvalidRequestError(f"version {name} is named twice")
        weights[name] = weight
    return {name: int(w) if w.is_integer() else w for name, w in weights.items() if w > 0}


@app.command("split")
def split(
    ctx: typer.Context,
    service: Service,
    weights: Annotated[
        list[str], typer.Argument(help="VERSION=PERCENT pairs adding up to 100, e.g. v0.1.0=95.")
    ],
) -> None:
    """Split SERVICE's calls between versions of it by weight (blue-green: one at 100)."""
    from meshctl.core.routing import split_document
    from meshctl.registry.routes import set_table

    document = split_document(service, parse_weights(weights))
    settings = state(ctx).resolve().settings
    _written(run(with_redis(settings, lambda r: set_table(r, settings.prefix, document))), "set")


@app.command("delete")
def delete(ctx: typer.Context, service: Service) -> None:
    """Remove SERVICE's table: its calls go to any instance again."""
    from meshctl.registry.routes import delete_table

    settings = state(ctx).resolve().settings
    revision = run(with_redis(settings, lambda r: delete_table(r, settings.prefix, service)))
    if revision is None:
        typer.echo(f"{service} has no route table: nothing to delete")
    else:
        typer.echo(f"route table of {service} deleted: revision {revision}")


@app.command("history")
def history_cmd(
    ctx: typer.Context, service: Service, output: OutputOption = OutputFormat.TABLE
) -> None:
    """SERVICE's revisions, newest first (the last 50)."""
    import time

    from meshctl.registry.routes import history

    settings = state(ctx).resolve().settings
    revisions = run(with_redis(settings, lambda r: history(r, settings.prefix, service)))
    if output is not OutputFormat.TABLE:
        emit({"service": service, "revisions": revisions}, output)
        return
    now = time.time()
    rows = [
        {"revision": r.get("revision"), "age": format_age(now - float(r.get("at") or now)),
         "action": r.get("action"),
         "table": json.dumps(r.get("document"), separators=(",", ":"))[:80]}
        for r in revisions
    ]  # fmt: skip
    if not rows:
        typer.echo(f"{service} has no route history")
        return
    emit(rows, output, columns=("revision", "age", "action", "table"))


@app.command("rollback")
def rollback_cmd(
    ctx: typer.Context,
    service: Service,
    to: Annotated[
        int | None, typer.Option("--to", help="The revision to return to (default: the previous).")
    ] = None,
) -> None:
    """Make an earlier revision of SERVICE's table current again (as a new revision)."""
    from meshctl.registry.routes import rollback

    settings = state(ctx).resolve().settings
    table = run(with_redis(settings, lambda r: rollback(r, settings.prefix, service, to)))
    if not table.rules:
        typer.echo(f"route table of {service} removed again: revision {table.revision}")
    else:
        _written(table, "rolled back")


def _versions(endpoints: list[Any]) -> set[str]:
    return {ep.version for ep in endpoints if ep.version}


def _stable(service: str, canary: str, table: RouteTable | None, versions: set[str]) -> str:
    """The version a shift moves calls from: the other subset of a split, or the one other
    version registered."""
    if table is not None:
        names = {subset for rule in table.rules for subset, _ in rule.splits} - {canary}
        if len(names) == 1:
            return names.pop()
    others = sorted(versions - {canary.removeprefix("v")})
    if len(others) != 1:
        found = ", ".join(others) or "none"
        raise InvalidRequestError(
            f"cannot tell which version {service} shifts from (other versions: {found}): "
            "name it with --from"
        )
    return f"v{others[0]}"


async def plan_shift(
    registry: ServiceRegistry, service: str, canary: str, stable: str | None, plan: ShiftPlan
) -> ShiftPlan:
    """``plan`` with its stable version found and checked against what is registered."""
    from dataclasses import replace

    from meshctl.registry.routes import read_tables

    endpoints = await registry.discover_services(service)
    if not endpoints:
        raise InvalidRequestError(f"no instance of {service} is registered")
    versions = _versions(endpoints)
    tables, _ = await read_tables(registry.redis, registry.prefix)
    table = tables.get(service)
    if table is not None and any(r.method or r.headers or r.caller for r in table.rules):
        raise InvalidRequestError(
            f"{service}'s route table matches on method, headers or caller; a shift writes "
            "a plain split over it: `meshctl route delete` it first, or shift by hand with "
            "`route split`"
        )

    def check(name: str) -> str:
        if name.removeprefix("v") not in versions:
            known = ", ".join(sorted(versions)) or "none"
            raise InvalidRequestError(
                f"no instance of {service} runs version {name.removeprefix('v')} "
                f"(registered versions: {known})"
            )
        return name

    check(canary)
    stable = check(stable or _stable(service, canary, table, versions))
    if stable == canary:
        raise InvalidRequestError("--from and --to name the same version")
    return replace(plan, stable=stable)


def step_line(step: Step, plan: ShiftPlan, index: int) -> str:
    """How a human reads one thing the shift did."""
    from meshctl.core.canary import Action, describe_checks

    if step.action is None:
        return (
            f"step {index}/{len(plan.shares)}: {step.share:g}% of {plan.service} calls "
            f"to {plan.canary} (revision {step.revision})"
        )
    if step.share == 0:
        return (
            f"rolled back: every call of {plan.service} goes to {plan.stable} "
            f"(revision {step.revision}): {step.note}"
        )
    served = f"  {plan.canary} served {step.requests} requests in {step.seconds:.0f}s"
    if step.action is Action.HOLD:
        return f"{served}, fewer than {plan.min_requests}: held for another interval"
    return f"{served}: {describe_checks(step.checks)}"


def outcome_json(outcome: ShiftOutcome, plan: ShiftPlan) -> dict[str, Any]:
    return {
        "service": plan.service,
        "from": plan.stable,
        "to": plan.canary,
        "promoted": outcome.promoted,
        "revision": outcome.revision,
        "reason": outcome.reason,
        "steps": [
            {
                "share": s.share,
                "revision": s.revision,
                "action": s.action.value if s.action else "step",
                "requests": s.requests,
                "seconds": round(s.seconds, 3),
                "checks": [{"slo": c.slo, "actual": c.actual, "met": c.met} for c in s.checks],
            }
            for s in outcome.steps
        ],  # fmt: skip
    }


def _objectives(text: str) -> tuple[Objective, ...]:
    from meshctl.core.canary import CanaryError, check_objectives
    from meshctl.core.objectives import parse_slos

    objectives = parse_slos(text)
    try:
        check_objectives(objectives)
    except CanaryError as exc:
        raise InvalidRequestError(f"invalid --slo {exc}") from None
    return tuple(objectives)


@app.command("shift")
def shift(
    ctx: typer.Context,
    service: Service,
    to: Annotated[str, typer.Option("--to", help="The canary version, e.g. v0.2.0.")],
    slo: Annotated[
        str,
        typer.Option(
            "--slo",
            help="What the canary must hold each step, e.g. 'errors<1%,p99<100ms' "
            "(errors, rps, p50..p99.9).",
        ),
    ],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", help="The version calls move from (default: the one other version)."
        ),
    ] = None,
    step: Annotated[
        str, typer.Option("--step", help="The canary's share added each step; 100% is blue-green.")
    ] = "10%",
    every: Annotated[
        str, typer.Option("--every", help="How long each step runs before it is judged.")
    ] = "1m",
    min_requests: Annotated[
        int,
        typer.Option("--min-requests", min=1, help="Fewest requests a step is judged on."),
    ] = 10,
    patience: Annotated[
        int,
        typer.Option(
            "--patience",
            min=0,
            help="Intervals a step waits for traffic before rolling back.",
        ),
    ] = 3,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Move SERVICE's calls to a canary version step by step while the SLO holds; roll back
    by itself when it breaks (exit 1) or on Ctrl-C."""
    from meshctl.core.canary import CanaryError, parse_step, weights
    from meshctl.core.units import parse_duration
    from meshctl.registry.shift import ShiftPlan, run_shift

    try:
        shares = weights(parse_step(step))
        seconds = parse_duration(every)
    except (CanaryError, ValueError) as exc:
        raise InvalidRequestError(str(exc)) from None
    if seconds < 1:
        raise InvalidRequestError(f"--every {every} is too short to judge a step: at least 1s")
    to = to if to.startswith("v") else f"v{to}"
    source = from_ if from_ is None or from_.startswith("v") else f"v{from_}"
    draft = ShiftPlan(service, source or "", to, shares, seconds, _objectives(slo),
                      min_requests, patience)  # fmt: skip
    settings = state(ctx).resolve().settings
    err = output is not OutputFormat.TABLE  # progress on stderr when stdout is a document
    plan = draft
    index = 0

    def notify(event: Step) -> None:
        nonlocal index
        index += event.action is None
        typer.echo(step_line(event, plan, index), err=err)

    async def go(registry: ServiceRegistry) -> ShiftOutcome:
        nonlocal plan
        plan = await plan_shift(registry, service, to, source, draft)
        return await run_shift(registry.redis, registry.prefix, plan, notify=notify)

    try:
        outcome = run(with_registry(settings, go))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if err:
        emit(outcome_json(outcome, plan), output)
    elif outcome.promoted:
        typer.echo(f"{plan.canary} takes every call of {service} (revision {outcome.revision})")
    if not outcome.promoted:
        raise typer.Exit(1)
