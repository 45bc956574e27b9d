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
from meshctl.core.routing import RouteError
from meshctl.core.units import format_age
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from meshctl.config import MeshSettings
    from meshctl.core.routing import RouteTable

app = typer.Typer(
    help="Route a service's calls to subsets of its instances: splits, canaries, pins.",
    no_args_is_help=True,
)

T = TypeVar("T")
Service = Annotated[str, typer.Argument(help="The service whose calls are routed.")]


async def with_redis(settings: MeshSettings, work: Callable[[Redis], Awaitable[T]]) -> T:
    """Run ``work`` on the registry's Redis; route errors become exit 2, Redis errors exit 3."""
    from meshctl.registry import open_registry
    from meshctl.registry.connection import translated

    registry = open_registry(settings)
    try:
        with translated(settings.redis_url):
            try:
                return await work(registry.redis)
            except RouteError as exc:
                raise InvalidRequestError(str(exc)) from None
    finally:
        await registry.aclose()


def describe(table: RouteTable) -> list[str]:
    """One line per rule: ``match -> subset (weight) ...``."""
    lines = []
    for rule in table.rules:
        match = [f"method={rule.method}"] if rule.method else []
        match += [f"{k}={v}" for k, v in rule.headers]
        match += [f"caller={rule.caller}"] if rule.caller else []
        previous, parts = 0.0, []
        for subset, upto in rule.splits:
            parts.append(f"{subset} {upto - previous:g}%")
            previous = upto
        extra = f" timeout {rule.timeout:g}s" if rule.timeout else ""
        extra += f" attempts {rule.attempts}" if rule.attempts else ""
        lines.append(f"{' '.join(match) or 'any call'} -> {', '.join(parts)}{extra}")
    return lines


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
