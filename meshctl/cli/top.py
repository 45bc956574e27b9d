"""``meshctl top``: the live terminal view of the mesh, or one snapshot of it with ``--once``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.alerts import SERVICE
from meshctl.cli.output import Column, OutputFormat, OutputOption, emit
from meshctl.cli.requestdata import seconds
from meshctl.cli.runner import run, state
from meshctl.cli.top_web import DEFAULT_PORT
from meshctl.cli.top_web import serve as serve_web
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.mesh import ServiceMeshClient
    from meshctl.tui.model import MeshView

CLIENT_NAME = "meshctl-top"

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
    """Watch the mesh live: topology, golden metrics, breakers, events, alerts, routing, SLOs.

    With --once, print one snapshot without the UI: two fetches one interval
    apart, so request rates are known. The table shows what the services
    served, then any route tables and SLOs; JSON and YAML also hold what
    long-lived callers saw.

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
            from meshctl.tui.routing import once_text

            emit(table_rows(view), output, columns=ONCE_COLUMNS)
            routing = once_text(view.routing)
            if routing:
                typer.echo(f"\n{routing}")
        else:
            emit(view.to_json(), output)
        return
    import getpass

    from meshctl.events import open_bus
    from meshctl.mesh import open_mesh
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
    mesh = open_mesh(
        settings, name=CLIENT_NAME, registry=reader.registry, events=False, control=False,
        watch=False,
    )  # fmt: skip
    alerts = MeshAlerts(mesh, getpass.getuser())  # who acknowledges, as ``alerts ack``
    app = MeshTopApp(reader.fetch, command=command, events=bus, interval=interval, alerts=alerts)

    async def main() -> None:
        async with mesh:
            await app.run_async()

    run(main())


class MeshAlerts:
    """The alerts pane's calls of the alert service, through a long-lived mesh client.

    Args:
        mesh: a started mesh client.
        operator: who acknowledges.
        limit: how many recent alerts the pane lists.
        timeout: seconds each call may take (the pane retries on its next refresh).
    """

    def __init__(
        self, mesh: ServiceMeshClient, operator: str, *, limit: int = 100, timeout: float = 5.0
    ) -> None:
        self.mesh = mesh
        self.operator = operator
        self.limit = limit
        self.timeout = timeout

    async def _call(self, method: str, request: dict[str, Any]) -> Mapping[str, Any]:
        reply: Mapping[str, Any] = await self.mesh.call_service(
            SERVICE, method, request, timeout=self.timeout
        )
        return reply

    async def list(self) -> Mapping[str, Any]:
        return await self._call("ListAlerts", {"limit": self.limit})

    async def stats(self) -> Mapping[str, Any]:
        return await self._call("GetAlertStatistics", {})

    async def ack(self, alert_id: str) -> Mapping[str, Any]:
        request = {"alert_id": alert_id, "acknowledged_by": self.operator}
        alert: Mapping[str, Any] = (await self._call("AcknowledgeAlert", request))["alert"]
        return alert

    async def retry(self, alert_id: str) -> Mapping[str, Any]:
        return await self._call("RetryFailedAlerts", {"alert_id": alert_id})


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
