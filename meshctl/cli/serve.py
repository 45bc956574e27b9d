"""``meshctl serve NAME``: run one reference service and register it in the mesh."""

from __future__ import annotations

from typing import Annotated

import typer

from meshctl.cli.runner import EXIT_USAGE, fail, run, state


def parse_labels(args: list[str]) -> dict[str, str]:
    """``--label k=v`` options as a mapping; exit 2 on one that is not ``K=V``."""
    labels: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key.strip() or not value:
            fail(f"invalid --label {arg!r}: expected KEY=VALUE, e.g. pool=gpu", code=EXIT_USAGE)
        labels[key.strip()] = value
    return labels


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
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Port of the Prometheus /metrics endpoint; 0 picks a free one. "
            "Default: MESH_METRICS_PORT, else a free one.",
            min=0,
            max=65535,
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            help="K=V registered with the instance (repeatable): route "
            "tables pick subsets by labels.",
        ),
    ] = None,
    zone: Annotated[
        str | None, typer.Option(help="The instance's zone. Default: MESH_ZONE.")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="The version the instance registers. Default: meshctl's."),
    ] = None,
    metrics: Annotated[
        bool | None,
        typer.Option(
            "--metrics/--no-metrics",
            help="Serve /metrics and announce it as metrics_url. Default: MESH_METRICS, else on.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run one reference service until SIGTERM or Ctrl-C, registered in the mesh.

    Settings come from flags, MESH_* variables, the config file's context and
    the mesh `meshctl up` runs, like every command's. On shutdown it
    deregisters first, then lets in-flight calls finish.
    """
    from meshctl.catalog import DEFAULT_PORTS, SERVICE_NAMES

    if name not in DEFAULT_PORTS:
        fail(f"unknown service {name!r}; choose one of {', '.join(SERVICE_NAMES)}", code=EXIT_USAGE)
    from meshctl.services.launch import run_service, service_settings

    cli = state(ctx)
    flags = {
        **cli.overrides,
        "redis_url": registry or cli.overrides.get("redis_url"),
        "prefix": prefix or cli.overrides.get("prefix"),
        "database_url": database_url,
        "metrics_port": metrics_port,
        "metrics": metrics,
        "labels": parse_labels(label or []) or None,
        "zone": zone,
        "instance_version": version,
    }
    settings = service_settings(flags, context=cli.context)
    chosen = DEFAULT_PORTS[name] if port is None else port
    try:
        run(run_service(name, settings, host=host, port=chosen, advertise_host=advertise_host,
                        grace=grace))  # fmt: skip
    except OSError as exc:
        fail(f"{name} cannot listen on {host}:{chosen}: {exc.strerror or exc}")
