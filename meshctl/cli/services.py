"""``meshctl services``: list, discover, register, deregister and health-check services.

Commands parse and validate their input, fetch through the Redis registry
and hand plain rows to ``render``; the row builders here are pure.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import Column, OutputFormat, OutputOption, emit
from meshctl.cli.runner import fail, run, state
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.units import format_age
from meshctl.errors import InvalidRequestError, NoEndpointsError

if TYPE_CHECKING:
    from meshctl.registry import ServiceRegistry
    from meshctl.registry.snapshot import MeshSnapshot

app = typer.Typer(help="List, discover, register and health-check services.", no_args_is_help=True)


class Protocol(StrEnum):
    GRPC = "grpc"
    HTTP = "http"


NO_BREAKER = "-"


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (IPv6 hosts in brackets) as a host and a port."""
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidRequestError(
            f"invalid address {text!r}: expected HOST:PORT with a port in 1-65535"
        )
    return host, int(port_text)


def parse_meta(pairs: Sequence[str]) -> dict[str, str]:
    """``k=v`` strings as a mapping."""
    meta: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidRequestError(f"invalid --meta {pair!r}: expected KEY=VALUE")
        meta[key.strip()] = value
    return meta


DISCOVER_COLUMNS = (
    Column("instance_id", "INSTANCE"),
    Column("address"),
    Column("protocol"),
    Column("health"),
    Column("breaker"),
    Column("weight"),
    Column("zone"),
    Column("version"),
    Column("age_seconds", "AGE", format_age),
)


def endpoint_row(endpoint: ServiceEndpoint, breaker: str | None, now: float) -> dict[str, Any]:
    """One instance as ``discover`` shows it."""
    registered = endpoint.registered_at
    return {
        "service": endpoint.service_name,
        "instance_id": endpoint.instance_id,
        "host": endpoint.host,
        "port": endpoint.port,
        "address": endpoint.address,
        "protocol": endpoint.protocol,
        "health": endpoint.health_status.value,
        "breaker": breaker or NO_BREAKER,
        "weight": endpoint.weight,
        "zone": endpoint.zone,
        "version": endpoint.version,
        "metadata": dict(endpoint.metadata),
        "registered_at": registered,
        "last_check": endpoint.last_check,
        "age_seconds": None if registered is None else round(max(now - registered, 0.0), 3),
    }


def health_row(service: str, endpoints: Sequence[ServiceEndpoint]) -> dict[str, Any]:
    """A service's healthy/total count; ``down`` when no instance is known to be healthy."""
    healthy = sum(1 for e in endpoints if e.health_status is HealthStatus.HEALTHY)
    total = len(endpoints)
    status = "down" if healthy == 0 else "ok" if healthy == total else "degraded"
    return {"service": service, "healthy": healthy, "total": total, "status": status}


# Most alarming first: when several clients hold a breaker of one instance, show the worst.
STATE_SEVERITY = ("forced_open", "open", "half_open", "disabled", "closed")


def worst_state(states: Sequence[str]) -> str:
    """The most alarming of several clients' states of one breaker."""
    ranked = [s for s in STATE_SEVERITY if s in states]
    return ranked[0] if ranked else (states[0] if states else NO_BREAKER)


def endpoint_breaker_states(reports: Sequence[dict[str, Any]], service: str) -> dict[str, str]:
    """Breaker state by instance id of ``service``, the worst any client reports."""
    seen: dict[str, list[str]] = {}
    for report in reports:
        for snap in report.get("breakers", ()):
            if snap.get("service") == service and snap.get("instance_id"):
                seen.setdefault(str(snap["instance_id"]), []).append(str(snap.get("state")))
    return {instance_id: worst_state(states) for instance_id, states in seen.items()}


async def fetch_breaker_states(registry: ServiceRegistry, service: str) -> dict[str, str]:
    """Breaker state by instance id, from the reports running mesh clients publish in Redis.

    Instances no client has called have no breaker and are absent.
    """
    from meshctl.registry.control import read_reports

    return endpoint_breaker_states(await read_reports(registry.redis, registry.prefix), service)


@asynccontextmanager
async def command_registry(ctx: typer.Context) -> AsyncIterator[ServiceRegistry]:
    """The registry the effective settings point at, closed afterwards."""
    from meshctl.registry import open_registry

    registry = open_registry(state(ctx).resolve().settings)
    try:
        yield registry
    finally:
        await registry.aclose()


NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The service name.")]


@app.command("list")
def list_services(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """List services with live instances, how many are healthy, and what they served."""

    from meshctl.cli.served import served_line, served_totals

    async def fetch() -> tuple[MeshSnapshot, list[str]]:
        from meshctl.registry.connection import translated
        from meshctl.registry.faults import read_faults
        from meshctl.registry.snapshot import SnapshotReader

        async with command_registry(ctx) as registry:
            snapshot = await SnapshotReader(registry).read()
            with translated(registry.url):
                faults, _ = await read_faults(registry.redis, registry.prefix)
            return snapshot, [f.service for f in faults]

    snapshot, faulted = run(fetch())
    served = served_totals(snapshot.reports)
    rows = [
        {
            "service": name,
            "instances": r["total"],
            "healthy": r["healthy"],
            "served": served.get(name),
            **({"faults": faulted.count(name)} if name in faulted else {}),
        }
        for name, r in ((n, health_row(n, e)) for n, e in snapshot.services.items())
    ]
    columns: tuple[str | Column, ...] = (
        "service",
        "instances",
        "healthy",
        Column("served", "SERVED (SINCE START)", served_line),
    )
    if faulted:  # marked only while a fault is injected somewhere (`meshctl fault`)
        columns += (Column("faults", "FAULTS"),)
    emit(rows, output, columns=columns)


@app.command("discover")
def discover(
    ctx: typer.Context, name: NameArgument, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Show a service's live instances; exits 1 when there are none."""

    async def fetch() -> tuple[list[ServiceEndpoint], dict[str, str]]:
        async with command_registry(ctx) as registry:
            endpoints = await registry.discover_services(name)
            return endpoints, await fetch_breaker_states(registry, name)

    endpoints, breakers = run(fetch())
    if not endpoints:
        raise NoEndpointsError(name)
    now = time.time()
    rows = [endpoint_row(e, breakers.get(e.instance_id), now) for e in endpoints]
    emit(rows, output, columns=DISCOVER_COLUMNS)


@app.command("register")
def register(
    ctx: typer.Context,
    name: NameArgument,
    address: Annotated[
        str, typer.Argument(metavar="HOST:PORT", help="Where the instance listens.")
    ],
    protocol: Annotated[Protocol, typer.Option(help="Protocol it speaks.")] = Protocol.GRPC,
    weight: Annotated[float, typer.Option(help="Load-balancing weight (>= 0).")] = 1.0,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Metadata KEY=VALUE (repeatable).")
    ] = None,
    zone: Annotated[str | None, typer.Option(help="Availability zone.")] = None,
    version: Annotated[str | None, typer.Option(help="Version the instance runs.")] = None,
    ttl: Annotated[
        float, typer.Option(help="Seconds the instance stays registered without a heartbeat.")
    ] = 60.0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Register an instance of NAME at HOST:PORT; prints its instance id."""
    host, port = parse_address(address)
    if not ttl > 0:
        raise InvalidRequestError(f"invalid --ttl {ttl:g}: must be more than 0 seconds")
    try:
        endpoint = ServiceEndpoint(
            name, host, port, protocol=protocol.value, weight=weight,
            metadata=parse_meta(meta or []), zone=zone, version=version,
        )  # fmt: skip
    except ValueError as exc:
        raise InvalidRequestError(f"invalid endpoint: {exc}") from None

    async def register_it() -> str:
        async with command_registry(ctx) as registry:
            return await registry.register_service(name, endpoint, ttl)

    instance_id = run(register_it())
    row = {"service": name, "instance_id": instance_id, "address": endpoint.address, "ttl": ttl}
    emit([row], output, columns=("service", "instance_id", "address", "ttl"))


@app.command("deregister")
def deregister(
    ctx: typer.Context,
    name: NameArgument,
    instance_id: Annotated[str, typer.Argument(metavar="ID", help="The instance id.")],
) -> None:
    """Remove instance ID of NAME; exits 1 when it is not registered."""

    async def deregister_it() -> bool:
        async with command_registry(ctx) as registry:
            return await registry.deregister_service(name, instance_id)

    if not run(deregister_it()):
        fail(f"no instance {instance_id!r} of service {name!r} is registered")
    typer.echo(f"Deregistered {name}/{instance_id}.")


@app.command("health")
def health(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="One service (default: all).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show healthy/total instances per service; exits 1 when one has no healthy instance."""

    async def fetch() -> dict[str, list[ServiceEndpoint]]:
        async with command_registry(ctx) as registry:
            if name is None:
                return await registry.snapshot()
            return {name: await registry.discover_services(name)}

    views = run(fetch())
    if name is not None and not views[name]:
        raise NoEndpointsError(name)
    rows = [health_row(service, endpoints) for service, endpoints in views.items()]
    emit(rows, output, columns=("service", "healthy", "total", "status"))
    down = [row["service"] for row in rows if row["status"] == "down"]
    if down:
        fail(f"no healthy instance of {', '.join(down)}")
