"""``meshctl breakers``: every breaker of every mesh client, and commands to steer them.

Reads the reports mesh clients publish in Redis (one round trip) and sends
commands on the control channel, printing what each client changed. A
command's service and ``--instance`` prefix are checked first
(``breaker_target``). Row building and change lines are pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from meshctl.cli.breaker_target import check_service, read_targets, resolve_instance
from meshctl.cli.output import Column, OutputFormat, OutputOption, emit, render
from meshctl.cli.requestdata import seconds
from meshctl.cli.runner import fail, run
from meshctl.cli.services import command_registry
from meshctl.core.units import format_age
from meshctl.errors import InvalidRequestError

app = typer.Typer(
    help="Show every mesh client's circuit breakers; reset, open or close them.",
    invoke_without_command=True,
)

COLUMNS = (
    Column("client"),
    Column("service"),
    Column("instance_id", "INSTANCE"),
    Column("endpoint"),
    Column("state"),
    Column("failures"),
    Column("error_percentage", "ERROR %"),
    Column("trips"),
    Column("open_for", "OPENED", lambda s: "-" if s is None else f"{format_age(s)} ago"),
    Column("half_open_in", "HALF-OPEN IN", lambda s: "-" if s is None else f"{s:.0f}s"),
)


def breaker_rows(
    reports: Sequence[dict[str, Any]], now: float, service: str | None = None
) -> list[dict[str, Any]]:
    """One row per breaker of every client, optionally of one service only.

    Reports carry each client's monotonic clock, so the opening time is
    rebuilt from ``published_at`` (wall clock) and the time left until half-open.
    """
    rows = []
    for report in reports:
        published = float(report.get("published_at") or now)
        for snap in report.get("breakers", ()):
            if service is not None and snap.get("service") != service:
                continue
            retry_after = snap.get("retry_after")
            opened_at = half_open_in = None
            if snap.get("state") == "open" and retry_after is not None:
                timeout = float(snap.get("config", {}).get("timeout_duration", 0.0))
                opened_at = published - (timeout - retry_after)
                half_open_in = max(retry_after - (now - published), 0.0)
            rows.append(
                {
                    "client": report.get("name"),
                    "client_id": report.get("client_id"),
                    "service": snap.get("service"),
                    "scope": snap.get("scope"),
                    "instance_id": snap.get("instance_id"),
                    "endpoint": snap.get("address") or "(service)",
                    "state": snap.get("state"),
                    "failures": snap.get("failure_count"),
                    "error_percentage": snap.get("error_percentage"),
                    "window_requests": snap.get("window_requests"),
                    "trips": snap.get("trip_count"),
                    "opened_at": opened_at,
                    "open_for": None if opened_at is None else max(now - opened_at, 0.0),
                    "half_open_in": half_open_in,
                }
            )
    return sorted(rows, key=lambda r: (r["service"] or "", r["scope"] != "service", r["client"]))


def change_lines(answers: Sequence[dict[str, Any]]) -> list[str]:
    """``client: breaker from → to`` per change, ``client: no change`` for a client unmoved."""
    lines = []
    for answer in answers:
        client = answer.get("client_id") or answer.get("name")
        changes = answer.get("changes") or []
        if not changes:
            lines.append(f"{client}: no change")
        lines += [f"{client}: {c['breaker']} {c['from']} → {c['to']}" for c in changes]
    return lines


async def _reports(ctx: typer.Context, service: str | None = None) -> list[dict[str, Any]]:
    """Every client's report; first, when ``service`` is named, check that it is known."""
    from meshctl.registry.control import read_reports

    async with command_registry(ctx) as registry:
        if service is not None:
            check_service(service, (await read_targets(registry, None)).services)
        return await read_reports(registry.redis, registry.prefix)


@app.callback()
def _default(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show every mesh client's circuit breakers; reset, open or close them.

    With no command, `meshctl breakers` is `meshctl breakers status`.
    """
    if ctx.invoked_subcommand is None:
        status(ctx, output=output)
    elif getattr(ctx.get_parameter_source("output"), "name", None) == "COMMANDLINE":
        raise InvalidRequestError(
            f"-o goes after the command: `meshctl breakers {ctx.invoked_subcommand} -o {output}`"
        )


@app.command("status")
def status(
    ctx: typer.Context,
    service: Annotated[
        str | None, typer.Argument(metavar="[SERVICE]", help="One service (default: all).")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh live until Ctrl-C.")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between --watch refreshes.")] = 1.0,
    count: Annotated[
        int, typer.Option(help="Stop --watch after this many refreshes (0: never).")
    ] = 0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Every breaker of every running mesh client: state, failures, error %, trips, timings."""
    import time

    if watch:
        if count < 0:
            raise InvalidRequestError(f"invalid --count {count}: must not be negative")
        _watch(ctx, service, seconds("--interval", interval), count, output)
        return
    rows = breaker_rows(run(_reports(ctx, service)), time.time(), service)
    emit(rows, output, columns=COLUMNS)


def _watch(
    ctx: typer.Context, service: str | None, interval: float, count: int, output: OutputFormat
) -> None:
    """Redraw the breakers every ``interval`` seconds in place (rich Live)."""
    import asyncio
    import time

    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from meshctl.cli.output import use_color

    async def loop(live: Live) -> None:
        done = 0
        while True:
            named = service if done == 0 else None  # the name is checked once
            rows = breaker_rows(await _reports(ctx, named), time.time(), service)
            stamp = time.strftime("%H:%M:%S")
            body = render(rows, output, columns=COLUMNS, color=use_color())
            live.update(Text.from_ansi(f"breakers at {stamp} (Ctrl-C to stop)\n{body}"))
            done += 1
            if count and done >= count:
                return
            await asyncio.sleep(interval)

    console = Console(highlight=False, no_color=not use_color())
    try:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            run(loop(live))
            live.refresh()
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _command(
    ctx: typer.Context,
    action: str,
    service: str | None,
    instance: str | None,
    wait: float,
    output: OutputFormat,
) -> None:
    """Check the names, send one command to every client and print what changed."""
    from meshctl.registry.control import send_command

    seconds("--wait", wait)

    async def send() -> tuple[str, list[dict[str, Any]]]:
        async with command_registry(ctx) as registry:
            targets = await read_targets(registry, service)
            instance_id = None
            if service is not None:
                check_service(service, targets.services)
                if instance is not None:
                    instance_id = resolve_instance(service, instance, targets.instances)
            answers = await send_command(
                registry.redis, registry.prefix, action,
                service=service, instance_id=instance_id, wait=wait,
            )  # fmt: skip
            return registry.prefix, answers

    prefix, answers = run(send())
    if not answers:
        _no_client(action, service, instance, prefix, output)
    elif output is OutputFormat.TABLE:
        typer.echo("\n".join(change_lines(answers)))
    else:
        emit(answers, output)


def _no_client(
    action: str, service: str | None, instance: str | None, prefix: str, output: OutputFormat
) -> None:
    """No client answered: what still holds, and whether that is what was asked."""
    if action == "force_open" and instance is not None:
        fail(
            f"no mesh client answered the force_open command under prefix {prefix!r}",
            hint="only running mesh clients hold endpoint breakers; see `meshctl breakers status`",
        )
    if action == "force_open":
        # The mark is in Redis all the same: every client obeys it when it starts.
        message = (
            f"no mesh client is running under prefix {prefix!r}; {service} stays forced open "
            "for every client that starts, until `meshctl breakers reset` or `close`"
        )
    else:
        # No client holds a breaker, and the forced mark went with the command.
        message = (
            f"nothing to {action}: no mesh client is running under prefix {prefix!r}, "
            "so every breaker is closed"
        )
    typer.echo(message, err=True)
    if output is not OutputFormat.TABLE:
        emit([], output)


ServiceArgument = Annotated[str, typer.Argument(metavar="SERVICE", help="The service.")]
InstanceOption = Annotated[
    str | None,
    typer.Option(
        "--instance", help="Only this instance's endpoint breaker (any unique prefix of its id)."
    ),
]
WaitOption = Annotated[float, typer.Option(help="Seconds to wait for clients to answer.")]


@app.command("reset")
def reset(
    ctx: typer.Context,
    service: Annotated[
        str | None, typer.Argument(metavar="[SERVICE]", help="The service (or --all).")
    ] = None,
    all_services: Annotated[
        bool, typer.Option("--all", help="Reset every breaker of every client.")
    ] = False,
    instance: InstanceOption = None,
    wait: WaitOption = 2.0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Close SERVICE's breakers (or every breaker with --all) in every mesh client."""
    if (service is None) == (not all_services):
        raise InvalidRequestError("name a SERVICE or give --all (not both)")
    if instance is not None and service is None:
        raise InvalidRequestError("--instance needs a SERVICE")
    _command(ctx, "reset", service, instance, wait, output)


@app.command("open")
def force_open(
    ctx: typer.Context,
    service: ServiceArgument,
    instance: InstanceOption = None,
    wait: WaitOption = 2.0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Force SERVICE's breaker open in every mesh client (calls fail fast until closed)."""
    _command(ctx, "force_open", service, instance, wait, output)


@app.command("close")
def close(
    ctx: typer.Context,
    service: ServiceArgument,
    instance: InstanceOption = None,
    wait: WaitOption = 2.0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Close SERVICE's breakers in every mesh client (a forced open included)."""
    _command(ctx, "close", service, instance, wait, output)
