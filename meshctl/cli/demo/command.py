"""``meshctl demo``: the main job in one shot, on a throwaway mesh, for a newcomer.

Brings up a mesh of its own (embedded registry and broker unless
``MESH_REDIS_URL``/``MESH_KAFKA_BOOTSTRAP`` say otherwise; the four services
with analytics twice), tells the story in ``meshctl.cli.demo.scenario``, tears
everything down and prints the report. Exit 0 when every step succeeded,
1 otherwise.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import OutputFormat, OutputOption, render, use_color
from meshctl.cli.runner import EXIT_FAILED, run, state
from meshctl.cli.up import planned_infra
from meshctl.embedded.state import keep_files_private

if TYPE_CHECKING:
    from meshctl.cli.demo.mesh import Say
    from meshctl.embedded.plan import InfraPlan

MAX_CAMERAS = 20


def demo(
    ctx: typer.Context,
    cameras: Annotated[
        int,
        typer.Option(
            "--cameras",
            help="Cameras whose frames go through the workflow.",
            min=1,
            max=MAX_CAMERAS,
        ),
    ] = 3,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the run directory (service logs, database).")
    ] = False,
    no_tls: Annotated[
        bool, typer.Option("--no-tls", help="Plain text instead of mTLS (as MESH_TLS=off).")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Run the main job end to end on a mesh of its own, then tear it all down.

    Starts a registry, a broker and the four services (analytics twice), then:
    camera-frame workflows, a crashed analytics instance whose breaker opens
    and closes again, a short load test, and one workflow's events tailed by
    correlation id. Prints a report (-o json for scripts); exits 0 when every
    step succeeded, 1 otherwise.
    """
    started = time.monotonic()
    # The event bus probes for idempotent producers and aiokafka logs the broker's refusal
    # as an error; the report states every failure that matters.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    overrides = state(ctx).overrides
    prefix = (
        overrides.get("prefix") or os.environ.get("MESH_PREFIX") or f"demo-{uuid.uuid4().hex[:8]}"
    )
    say = _progress() if sys.stderr.isatty() else _quiet
    keep_files_private()
    run_dir = Path(tempfile.mkdtemp(prefix="meshctl-demo-"))
    try:
        tls = state(ctx).resolve().settings.tls and not no_tls
        infra = planned_infra(overrides)
        sections, mesh = run(_demo(infra, prefix, run_dir, cameras, say, tls))
    finally:
        if keep:
            typer.echo(f"run directory kept: {run_dir}", err=True)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    from meshctl.cli.demo.render import render_report
    from meshctl.cli.demo.report import build_report

    report = build_report(sections, mesh=mesh, elapsed=time.monotonic() - started)
    if OutputFormat(output) is OutputFormat.TABLE:
        typer.echo(render_report(report, color=use_color()), nl=False)
    else:
        typer.echo(render(report, output), nl=False)
    if not report["ok"]:
        raise typer.Exit(EXIT_FAILED)


async def _demo(
    infra: InfraPlan, prefix: str, run_dir: Path, cameras: int, say: Say, tls: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    from meshctl.cli.demo.mesh import demo_mesh
    from meshctl.cli.demo.scenario import run_story
    from meshctl.embedded.sink import WebhookReceiver

    # The city's operations centre: alerts are delivered to this local webhook.
    async with WebhookReceiver() as webhook:
        async with demo_mesh(
            infra,
            prefix=prefix,
            run_dir=run_dir,
            # The demo leaves nothing in Redis: no spans kept, no SLI buckets counted.
            service_env={
                "MESH_WEBHOOK_URL": webhook.url,
                "MESH_TRACE_STORE": "false",
                "MESH_SLI": "false",
            },
            say=say,
            python=sys.executable,
            tls=tls,
        ) as mesh:
            say("mesh ready")
            sections, info = await run_story(mesh, cameras=cameras, say=say)
            say("tearing the mesh down")
        info["webhook_deliveries"] = len(webhook.requests)
    return sections, info


def _progress() -> Say:
    started = time.monotonic()

    def say(line: str) -> None:
        typer.echo(f"[{time.monotonic() - started:5.1f}s] {line}", err=True)

    return say


def _quiet(line: str) -> None:
    """Progress in pipes and under CI: none (the report says it all)."""
