"""``meshctl prometheus sd``: the mesh's /metrics endpoints as Prometheus service discovery.

Every service instance announces its ``/metrics`` URL in its registry record
(``metadata.metrics_url``); this prints them in Prometheus's HTTP service
discovery format, so one ``http_sd_configs`` entry (or a file written by
this command for ``file_sd_configs``) scrapes the whole mesh.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import typer

from meshctl.cli.runner import run, state
from meshctl.core.endpoint import ServiceEndpoint

app = typer.Typer(help="Prometheus integration: scrape targets of the mesh.", no_args_is_help=True)


def scrape_targets(services: Mapping[str, Sequence[ServiceEndpoint]]) -> list[dict[str, Any]]:
    """One target group per /metrics URL, labelled with the services and instances behind it.

    Services of one process share its URL; their names and instance ids are joined
    with commas. Records without a well-formed ``http`` URL are left out.
    """
    groups: dict[tuple[str, str, str], list[ServiceEndpoint]] = {}
    for endpoints in services.values():
        for ep in endpoints:
            url = urlsplit(ep.metadata.get("metrics_url", ""))
            if url.scheme in ("http", "https") and url.netloc:
                groups.setdefault((url.scheme, url.netloc, url.path or "/metrics"), []).append(ep)
    out = []
    for (scheme, netloc, path), eps in sorted(groups.items()):
        out.append(
            {
                "targets": [netloc],
                "labels": {
                    "__scheme__": scheme,
                    "__metrics_path__": path,
                    "service": ",".join(sorted({ep.service_name for ep in eps})),
                    "instance_id": ",".join(sorted(ep.instance_id for ep in eps)),
                },
            }
        )
    return out


@app.command("sd")
def service_discovery(ctx: typer.Context) -> None:
    """Print every live instance's /metrics endpoint as Prometheus HTTP SD JSON."""
    from meshctl.registry import open_registry

    async def fetch() -> Mapping[str, Sequence[ServiceEndpoint]]:
        registry = open_registry(state(ctx).resolve().settings)
        try:
            return await registry.snapshot()
        finally:
            await registry.aclose()

    typer.echo(json.dumps(scrape_targets(run(fetch())), indent=2))
