"""``meshctl workflow``: list the registered workflows and run one through the mesh.

A workflow's parameters follow its name as ``--PARAM VALUE`` (or
``--PARAM=VALUE``), whatever workflow it is, so a new workflow needs no
change here. Exit codes: 0 completed, 1 degraded or failed (CI should not
pass a run that only half worked), 2 bad parameters, 3 Redis or Kafka
unreachable (including events left spooled because the broker was away).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import Column, OutputFormat, OutputOption, format_cell, render, use_color
from meshctl.cli.requestdata import seconds
from meshctl.cli.runner import EXIT_UNREACHABLE, report, run, state
from meshctl.cli.trace import kept_spans, show_trace
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.orchestrator import StepResult, WorkflowResult

app = typer.Typer(help="List and run multi-service workflows.", no_args_is_help=True)

CLIENT_NAME = "meshctl-workflow"

LIST_COLUMNS = (
    Column("name"),
    Column("description"),
    Column("parameters", format=lambda ps: " ".join(f"--{p['name']}" for p in ps) or "-"),
)
STEP_COLUMNS = (
    Column("name", "STEP"),
    Column("call"),
    Column("outcome"),
    Column("endpoint"),
    Column("duration", "MS", lambda s: f"{s * 1000:.1f}"),
    Column("detail"),
)


def parse_params(args: Sequence[str]) -> dict[str, str]:
    """``--name value`` and ``--name=value`` pairs as a mapping."""
    params: dict[str, str] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("--") or len(arg) == 2:
            raise InvalidRequestError(f"unexpected argument {arg!r}: parameters are --NAME VALUE")
        name, sep, value = arg[2:].partition("=")
        if not sep:
            if not rest:
                raise InvalidRequestError(f"--{name} needs a value")
            value = rest.pop(0)
        params[name] = value
    return params


def step_detail(step: Mapping[str, Any]) -> str:
    """The error of a step, else its summary."""
    return str(step["error"] or format_cell(step["summary"]))


def step_line(step: StepResult) -> str:
    """One progress line for a completed step."""
    where = f" @ {step.endpoint}" if step.endpoint else ""
    data = step.to_dict()
    return (
        f"{step.outcome:>8}  {step.name}  {step.service}/{step.method}{where}"
        f"  {step.duration * 1000:.1f}ms  {step_detail(data)}"
    )


def render_result(
    data: Mapping[str, Any], fmt: OutputFormat | str, *, color: bool = False, steps: bool = True
) -> str:
    """A run's result: every key for JSON/YAML; the steps (unless ``steps`` is
    false: they were shown as they ran) and a summary for a table."""
    if OutputFormat(fmt) is not OutputFormat.TABLE:
        return render(data, fmt)
    rows = [
        {**s, "call": f"{s['service']}/{s['method']}", "detail": step_detail(s)}
        for s in data["steps"]
    ]
    table = render(rows, fmt, columns=STEP_COLUMNS, color=color) if steps else ""
    events = ", ".join(e["event_type"] for e in data["events"]) or "none"
    summary = [
        f"workflow {data['workflow']}: {data['status']}"
        + (f" ({data['detail']})" if data["detail"] else ""),
        f"correlation id: {data['correlation_id']}  trace id: {data['trace_id']}",
        f"duration: {data['duration'] * 1000:.1f}ms  events: {events}",
    ]
    return table + "\n".join(summary) + "\n"


@app.command("list")
def list_workflows(output: OutputOption = OutputFormat.TABLE) -> None:
    """List the workflows that `run` knows, with their parameters."""
    from meshctl.orchestrator import workflows

    rows = [spec.to_dict() for spec in workflows()]
    typer.echo(render(rows, output, columns=LIST_COLUMNS, color=use_color()), nl=False)


async def _run_workflow(
    settings: MeshSettings,
    name: str,
    params: Mapping[str, str],
    timeout: float,
    progress: bool,
    trace: bool,
) -> WorkflowResult:
    from meshctl.mesh import open_mesh
    from meshctl.orchestrator import ServiceOrchestrator

    def show(step: StepResult) -> None:
        typer.echo(step_line(step), err=True)

    mesh = open_mesh(settings, name=CLIENT_NAME)
    try:
        await mesh.start()
        orchestrator = ServiceOrchestrator(mesh, call_timeout=timeout)
        # A run's own spans (its root, its calls, the events it publishes) are kept like
        # the services' are, so `meshctl trace` shows the whole run afterwards too.
        async with kept_spans(CLIENT_NAME, mesh.registry, trace or settings.trace_store):
            return await orchestrator.run(name, params, on_step=show if progress else None)
    finally:
        await mesh.aclose()


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run_workflow(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A workflow from `workflow list`.")],
    timeout: Annotated[
        float, typer.Option(help="Seconds each service call may take, retries included.")
    ] = 10.0,
    trace: Annotated[
        bool, typer.Option("--trace", help="Then print the run's spans as a waterfall on stderr.")
    ] = False,
    trace_wait: Annotated[
        float, typer.Option(help="Seconds --trace waits for the services' spans to arrive.")
    ] = 2.0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Run workflow NAME; its parameters follow as --PARAM VALUE.

    camera-frame takes --camera ID and --frame JSON|@FILE (default: a sample
    frame); alert-escalation takes --alert-id ID, --severity
    low|medium|high|critical, --ack-timeout 30s and --poll-interval 1s.
    Steps are printed as they complete on a terminal, then the result;
    --trace then shows the run's spans (every service's) as a waterfall.
    Exits 0 when the run completed, 1 when it was degraded or failed, 2 for
    bad parameters, 3 when Redis or Kafka is unreachable.
    """
    from meshctl.orchestrator import get_workflow

    seconds("--timeout", timeout)
    seconds("--trace-wait", trace_wait, zero=True)
    params = parse_params(ctx.args)
    get_workflow(name).parse(params)  # bad parameters fail before anything connects
    settings = state(ctx).resolve().settings
    progress = sys.stderr.isatty()  # quiet in pipes and under CI
    result = run(_run_workflow(settings, name, params, timeout, progress, trace))
    # Steps already printed on this terminal as they completed are not repeated.
    shown = progress and sys.stdout.isatty()
    text = render_result(result.to_dict(), output, color=use_color(), steps=not shown)
    typer.echo(text, nl=False)
    if trace:
        run(show_trace(settings, result.correlation_id, trace_wait))
    spooled = sum(1 for e in result.events if e["spooled"])
    if spooled:
        report(
            f"Kafka at {settings.kafka_bootstrap} unreachable: {spooled} events spooled, "
            "to be sent when it is back",
            "start one with `meshctl up`, or point at yours with --kafka or MESH_KAFKA_BOOTSTRAP",
        )
        raise typer.Exit(EXIT_UNREACHABLE)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
