"""``meshctl top``: the live terminal view of the mesh, or one snapshot of it with ``--once``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import Column, OutputFormat, OutputOption, emit
from meshctl.cli.requestdata import seconds
from meshctl.cli.runner import run, state
from meshctl.cli.top_web import DEFAULT_PORT
from meshctl.cli.top_web import serve as serve_web
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.tui.model import MeshView

ONCE_COLUMNS = (
    Column("name", "NAME"),
    Column("address"),
    Column("health"),
    Column("breaker"),
    Column("rps", "RPS"),
    Column("success_rate", "SUCCESS"),
    Column("p99_ms", "P99 MS"),
    Column("active"),
    Column("errors"),
)


def table_rows(view: MeshView) -> list[dict[str, Any]]:
    """A service row followed by its instances' rows, as ``--once -o table`` prints them:
    the served metrics (JSON has the callers' view too)."""
    rows: list[dict[str, Any]] = []
    for service in view.to_json()["services"]:
        health = f"{service['healthy']}/{service['total']}"
        rows.append(
            {**service, **service["served"], "name": service["service"], "health": health,
             "address": None}
        )  # fmt: skip
        rows.extend(
            {**i, **i["served"], "name": f"  {i['instance_id']}"} for i in service["instances"]
        )
    return rows


def top(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Print one snapshot (after one interval) and exit.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 1.0,
    output: OutputOption = OutputFormat.TABLE,
    web: Annotated[
        bool, typer.Option("--web", help="Serve the UI to browsers instead of this terminal.")
    ] = False,
    host: Annotated[
        str, typer.Option(help="With --web: the address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --web: the port to listen on.")] = DEFAULT_PORT,
    public_url: Annotated[
        str | None,
        typer.Option(help="With --web: the URL browsers use, when behind a reverse proxy."),
    ] = None,
) -> None:
    """Watch the mesh live: topology, golden metrics, breakers and events.

    With --once, print one snapshot without the UI: two fetches one interval
    apart, so request rates are known. The table shows what the services
    served; JSON and YAML also hold what long-lived callers saw.

    With --web, serve the same UI to browsers (one live view per tab) on
    --host:--port, loopback by default.
    """
    seconds("--interval", interval)
    if once and web:
        raise InvalidRequestError("--once and --web cannot be combined")
    settings = state(ctx).resolve().settings
    if web:
        serve_web(settings, host=host, port=port, interval=interval, public_url=public_url)
        return
    if once:
        view = run(snapshot(settings, interval))
        if output is OutputFormat.TABLE:
            emit(table_rows(view), output, columns=ONCE_COLUMNS)
        else:
            emit(view.to_json(), output)
        return
    from meshctl.events import open_bus
    from meshctl.registry import open_registry
    from meshctl.registry.control import send_command
    from meshctl.tui.app import MeshTopApp
    from meshctl.tui.data import MeshReader

    reader = MeshReader(open_registry(settings))

    async def command(action: str, service: str, instance: str | None) -> list[dict[str, Any]]:
        return await send_command(
            reader.registry.redis, settings.prefix, action, service=service, instance_id=instance
        )

    bus = open_bus(settings) if settings.kafka_bootstrap else None
    MeshTopApp(reader.fetch, command=command, events=bus, interval=interval).run()


async def snapshot(settings: MeshSettings, interval: float) -> MeshView:
    """Two fetches ``interval`` apart, computed into one view."""
    import asyncio

    from meshctl.registry import open_registry
    from meshctl.tui.data import MeshReader
    from meshctl.tui.model import compute

    reader = MeshReader(open_registry(settings))
    try:
        first = await reader.fetch()
        await asyncio.sleep(interval)
        return compute(first, await reader.fetch())
    finally:
        await reader.aclose()
