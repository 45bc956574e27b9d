"""``meshctl serve NAME``: run one reference service and register it in the mesh."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.runner import fail, run, state

if TYPE_CHECKING:
    from meshctl.services.base import ServiceApp, ServiceSettings

EXIT_USAGE = 2


def serve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="streaming, analytics, alert or auth.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            help="Port; 0 picks a free one. Default: the service's own.", min=0, max=65535
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option("--registry", help="Redis registry URL. Default: the mesh's redis_url."),
    ] = None,
    prefix: Annotated[str | None, typer.Option(help="Key prefix of the mesh in Redis.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Where the service keeps its data (SQLite or PostgreSQL).")
    ] = None,
    advertise_host: Annotated[
        str | None, typer.Option(help="Host other services should dial. Default: --host.")
    ] = None,
    grace: Annotated[
        float, typer.Option(help="Seconds in-flight calls get to finish on shutdown.", min=0)
    ] = 5.0,
) -> None:
    """Run one reference service until SIGTERM or Ctrl-C, registered in the mesh.

    On shutdown it deregisters first, then lets in-flight calls finish.
    """
    from meshctl.services.catalog import DEFAULT_PORTS, SERVICE_NAMES, builder

    if name not in DEFAULT_PORTS:
        fail(f"unknown service {name!r}; choose one of {', '.join(SERVICE_NAMES)}", code=EXIT_USAGE)
    from pydantic import ValidationError

    from meshctl.services.base import ServiceSettings

    cli = state(ctx)
    flags: dict[str, Any] = {
        "redis_url": registry or cli.overrides.get("redis_url"),
        "prefix": prefix or cli.overrides.get("prefix"),
        "database_url": database_url,
    }
    try:
        settings = ServiceSettings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        fail(f"invalid service settings: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
             code=EXIT_USAGE)  # fmt: skip
    app = builder(name)(settings)
    chosen = DEFAULT_PORTS[name] if port is None else port
    try:
        run(_serve(app, settings, host, chosen, advertise_host, grace))
    except OSError as exc:
        fail(f"{name} cannot listen on {host}:{chosen}: {exc.strerror or exc}")


async def _serve(
    app: ServiceApp,
    settings: ServiceSettings,
    host: str,
    port: int,
    advertise: str | None,
    grace: float,
) -> None:
    from meshctl.registry import ServiceRegistry
    from meshctl.services.host import serve as host_serve

    registry = ServiceRegistry(settings.redis_url, prefix=settings.prefix)

    def ready(bound: int) -> None:
        print(f"{app.name} listening on {host}:{bound}", file=sys.stderr, flush=True)

    try:
        await host_serve(
            app,
            host=host,
            port=port,
            registry=registry,
            advertise_host=advertise,
            ready=ready,
            grace=grace,
        )
    finally:
        await registry.aclose()
