"""Run one reference service by name: what ``meshctl serve NAME`` and
``python -m meshctl.services.NAME`` both do.

Settings come from the one resolver (flag > ``MESH_*`` environment > config
file context > ``meshctl up`` context > defaults), the catalog builds the
app, and the host serves it, registered in the mesh, until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from meshctl.catalog import DEFAULT_PORTS, builder
from meshctl.config import resolve_settings
from meshctl.core import heap
from meshctl.errors import MeshError
from meshctl.registry import open_registry
from meshctl.registry.spanstore import SpanStore
from meshctl.services.base import ServiceSettings
from meshctl.services.host import serve
from meshctl.transport.tls import tls_files


def service_settings(flags: Mapping[str, Any], *, context: str | None = None) -> ServiceSettings:
    """The services' settings from every layer; a flag given as None counts as not given.

    Args:
        flags: Values from the command line, e.g. ``redis_url``, ``prefix``, ``database_url``.
        context: The config-file context to use instead of its current-context.

    Raises:
        ConfigFileError: a file is malformed, the context is unknown or a value is invalid.
    """
    return resolve_settings(flags, model=ServiceSettings, context=context).settings


async def run_service(
    name: str,
    settings: ServiceSettings,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    advertise_host: str | None = None,
    grace: float = 5.0,
) -> None:
    """Serve service ``name`` until SIGTERM or SIGINT, registered in the mesh.

    Prints ``NAME listening on HOST:PORT`` on stderr once it serves.

    Args:
        name: A service of the catalog.
        settings: Its settings, e.g. from ``service_settings``.
        host: Interface to listen on.
        port: Port; 0 picks a free one, None the service's default.
        advertise_host: Host other services should dial (default: ``host``).
        grace: Seconds in-flight calls get to finish on shutdown.

    Raises:
        KeyError: there is no such service.
        OSError: the port cannot be bound.
    """
    tls = tls_files(settings)
    app = builder(name)(settings)
    registry = open_registry(settings)
    spans = None
    if settings.trace_store:
        spans = SpanStore(registry.redis, settings.prefix, ttl=settings.trace_ttl_seconds)

    def ready(bound: int) -> None:
        print(f"{app.name} listening on {host}:{bound}", file=sys.stderr, flush=True)
        heap.settle()  # serving from here on: start-up's objects stay out of collections

    try:
        await serve(
            app,
            host=host,
            port=DEFAULT_PORTS[name] if port is None else port,
            registry=registry,
            advertise_host=advertise_host,
            ready=ready,
            grace=grace,
            metrics_port=settings.metrics_port if settings.metrics else None,
            span_store=spans,
            labels=settings.labels,
            zone=settings.zone,
            version=settings.instance_version,
            sli=settings.sli,
            tls=tls,
        )
    finally:
        await registry.aclose()


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not in 0..65535")
    return port


def main(name: str, argv: Sequence[str] | None = None) -> int:
    """``python -m meshctl.services.NAME [OPTIONS]``, with the options of ``meshctl serve``.

    Returns:
        The exit code: 0 after a clean shutdown, else that of the error.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m meshctl.services.{name}",
        description=f"Run the {name} service until SIGTERM or Ctrl-C, registered in the mesh.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Interface to listen on.")
    parser.add_argument("--port", type=_port, help="Port; 0 picks a free one.")
    parser.add_argument("--registry", help="Redis registry URL. Default: the mesh's redis_url.")
    parser.add_argument("--prefix", help="Key prefix of the mesh in Redis.")
    parser.add_argument("--database-url", help="Where the service keeps its data.")
    parser.add_argument("--advertise-host", help="Host other services should dial.")
    parser.add_argument("--grace", type=float, default=5.0, help="Seconds to drain on shutdown.")
    parser.add_argument("--metrics-port", type=_port, help="Port of /metrics; 0 picks a free one.")
    parser.add_argument(
        "--no-metrics", dest="metrics", action="store_const", const=False, help="No /metrics."
    )
    parser.add_argument(
        "--context",
        default=os.environ.get("MESH_CONTEXT"),
        help="Config-file context to use instead of its current-context.",
    )
    args = parser.parse_args(argv)
    flags = {
        "redis_url": args.registry,
        "prefix": args.prefix,
        "database_url": args.database_url,
        "metrics_port": args.metrics_port,
        "metrics": args.metrics,
    }
    port = DEFAULT_PORTS[name] if args.port is None else args.port
    try:
        settings = service_settings(flags, context=args.context)
        asyncio.run(
            run_service(
                name,
                settings,
                host=args.host,
                port=port,
                advertise_host=args.advertise_host,
                grace=args.grace,
            )
        )
    except MeshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        hint = getattr(exc, "hint", None)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: {name} cannot listen on {args.host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0
