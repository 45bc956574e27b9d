"""``meshctl fault``: inject server-side faults into a service's calls, list and clear them.

A fault is validated before it is written (bad options get exit 2 and never
reach a server), its service must be registered, and it lasts ``--for`` (5m
by default, 24h at most): a fault nobody clears still ends. Servers pick
changes up within a second (``registry/faults.py``). docs/faults.md has
the details.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from meshctl.cli.output import Column, OutputFormat, OutputOption, emit
from meshctl.cli.runner import run, state
from meshctl.core.faults import FaultError, describe, fault_from_options
from meshctl.core.units import format_age
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.core.faults import Fault
    from meshctl.registry import ServiceRegistry

app = typer.Typer(
    help="Inject faults (delays, aborts) into a service's calls, server-side; list, clear.",
    no_args_is_help=True,
)

T = TypeVar("T")


async def with_registry(
    settings: MeshSettings, work: Callable[[ServiceRegistry], Awaitable[T]]
) -> T:
    """Run ``work`` on the registry; fault errors become exit 2, Redis errors exit 3."""
    from meshctl.registry import open_registry
    from meshctl.registry.connection import translated

    registry = open_registry(settings)
    try:
        with translated(settings.redis_url):
            try:
                return await work(registry)
            except FaultError as exc:
                raise InvalidRequestError(str(exc)) from None
    finally:
        await registry.aclose()


def expiry(fault: Fault, now: float) -> str:
    """``in 2m (21:07:00 UTC)``."""
    at = datetime.fromtimestamp(fault.expires_at, UTC).strftime("%H:%M:%S UTC")
    return f"in {left(fault.expires_at - now)} ({at})"


def left(seconds: float) -> str:
    """Time left, rounded up to the second below an hour: ``2m``, ``1m59s``, ``45s``."""
    whole = math.ceil(seconds)
    if whole >= 3600:
        return format_age(whole)
    minutes, rest = divmod(max(whole, 0), 60)
    if not minutes:
        return f"{rest}s"
    return f"{minutes}m" if not rest else f"{minutes}m{rest:02d}s"


def fault_row(fault: Fault, now: float) -> dict[str, Any]:
    scope, action = describe(fault)
    return {**fault.record(), "scope": scope, "action": action,
            "expires_in": round(fault.expires_at - now, 3)}  # fmt: skip


async def _inject(registry: ServiceRegistry, fault: Fault) -> Fault:
    from meshctl.registry.faults import inject_fault

    endpoints = await registry.discover_services(fault.service)
    if not endpoints:
        raise InvalidRequestError(
            f"unknown service {fault.service}: no instance is registered (`meshctl services list`)"
        )
    protocols = {e.protocol for e in endpoints}
    if fault.abort is not None and ("http" if fault.http else "grpc") not in protocols:
        wanted = "a gRPC status such as UNAVAILABLE" if fault.http else "an HTTP code 4xx/5xx"
        raise InvalidRequestError(
            f"{fault.service} serves {'/'.join(sorted(protocols))}: "
            f"--abort takes {wanted}, not {fault.abort}"
        )
    return await inject_fault(registry.redis, registry.prefix, fault)


@app.command("inject")
def inject(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service whose servers inject the fault.")],
    delay: Annotated[
        str | None, typer.Option(help="Delay each call hit this long, e.g. 200ms.")
    ] = None,
    jitter: Annotated[
        str | None, typer.Option(help="Vary the delay uniformly by up to this much, e.g. 50ms.")
    ] = None,
    abort: Annotated[
        str | None,
        typer.Option(help="Fail each call hit: a gRPC status (UNAVAILABLE) or an HTTP code."),
    ] = None,
    percent: Annotated[
        float, typer.Option(help="Share of the calls in scope that are hit (0 < p <= 100).")
    ] = 100.0,
    ttl: Annotated[
        str, typer.Option("--for", help="How long the fault lasts (at most 24h).")
    ] = "5m",
    method: Annotated[str | None, typer.Option(help="Only this method.")] = None,
    instance: Annotated[
        str | None, typer.Option(help="Only instances whose id starts with this.")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Only instances of this version.")] = None,
    zone: Annotated[str | None, typer.Option(help="Only instances in this zone.")] = None,
    caller: Annotated[
        str | None, typer.Option(help="Only calls from this mesh client (x-mesh-caller).")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", help="Only calls with this header, NAME=VALUE (repeatable)."),
    ] = None,
) -> None:
    """Make SERVICE's servers delay or fail a share of their calls for a while.

    At least one of --delay and --abort; both delay a call, then fail it.
    """
    now = time.time()
    try:
        fault = fault_from_options(
            service, now=now, ttl=ttl, delay=delay, jitter=jitter, abort=abort,
            percent=percent, headers=header or (), method=method, instance=instance,
            version=version, zone=zone, caller=caller,
        )  # fmt: skip
    except FaultError as exc:
        raise InvalidRequestError(str(exc)) from None
    settings = state(ctx).resolve().settings
    stored = run(with_registry(settings, lambda r: _inject(r, fault)))
    scope, action = describe(stored)
    typer.echo(f"fault {stored.id} injected into {stored.service}: {scope}, {action}")
    typer.echo(f"  expires {expiry(stored, time.time())}; `meshctl fault clear {stored.id}`")


@app.command("list")
def list_faults(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """The faults in force, oldest first (expired ones are not shown)."""
    from meshctl.registry.faults import read_faults

    settings = state(ctx).resolve().settings
    faults, problems = run(with_registry(settings, lambda r: read_faults(r.redis, r.prefix)))
    for line in problems:
        typer.echo(f"warning: {line}", err=True)
    now = time.time()
    rows = [fault_row(f, now) for f in faults]
    if output is not OutputFormat.TABLE:
        emit({"faults": rows}, output)
        return
    if not rows:
        typer.echo("no fault injected")
        return
    columns = ("id", "service", "scope", "action",
               Column("expires_in", "EXPIRES IN", left))  # fmt: skip
    emit(rows, output, columns=columns)


@app.command("clear")
def clear(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="Faults by id.")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Every fault of this service.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every fault.")] = False,
) -> None:
    """Remove faults: by id, every one of a service, or all of them."""
    from meshctl.registry.faults import clear_faults

    chosen = [bool(ids), service is not None, everything]
    if sum(chosen) != 1:
        raise InvalidRequestError("name fault ids, or --service SERVICE, or --all (one of them)")
    settings = state(ctx).resolve().settings
    removed = run(
        with_registry(
            settings,
            lambda r: clear_faults(
                r.redis, r.prefix, ids or (), service=service, everything=everything
            ),
        )
    )
    for missing in sorted(set(ids or ()) - set(removed)):
        typer.echo(f"warning: no fault {missing} in force", err=True)
    if removed:
        typer.echo(f"cleared {len(removed)} fault(s): {', '.join(removed)}")
    else:
        typer.echo("no fault matched: nothing cleared")
