"""``meshctl slo``: service-level objectives, their error budgets and burn rates.

SLOs live in the registry's Redis; every service instance adds what it
served to per-minute and per-hour buckets there (``registry/sli.py``), so a
status is computed from what the services served, whoever called them. The
arithmetic is ``core/slo.py``'s.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import Column, OutputFormat, OutputOption, emit
from meshctl.cli.runner import run, state
from meshctl.core.slo import LOOKBACKS, SloError, lookback_name, slo_label
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.core.slo import Slo, SloStatus

app = typer.Typer(
    help="Service-level objectives: set them, watch their error budgets burn.",
    no_args_is_help=True,
)

MethodOption = Annotated[
    str | None, typer.Option("--method", help="Only this method (default: all of the service's).")
]

LIST_COLUMNS = (
    Column("slo", "SLO"),
    Column("objective", format=lambda v: f"{v:g}%"),
    Column("window"),
    Column("latency", format=lambda v: v or "-"),
)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3g}%"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


STATUS_COLUMNS = (
    Column("slo", "SLO"),
    Column("sli", "SLI"),
    Column("target"),
    Column("requests"),
    Column("bad", format=_share),
    Column("budget_left", "BUDGET LEFT", format=_percent),
    *(Column(f"burn_{lookback_name(s)}", f"BURN {lookback_name(s)}", format=_rate)
      for s in LOOKBACKS),
    Column("alert", format=lambda v: v or "-"),
)  # fmt: skip


def _window(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d" if days and not rest else lookback_name(seconds)


def parse_window(text: str) -> float:
    """``30d``, ``7d``, ``12h``: seconds."""
    from meshctl.core.units import parse_duration

    value = text.strip().lower()
    try:
        if value.endswith("d") and value[:-1].replace(".", "", 1).isdigit():
            return float(value[:-1]) * 86400
        return parse_duration(value)
    except ValueError:
        raise InvalidRequestError(
            f"invalid --window {text!r}: expected e.g. 30d, 7d, 12h"
        ) from None


def build_slo(
    service: str, objective: float, window: str, latency: str | None, method: str | None
) -> Slo:
    """The SLO the options describe; InvalidRequestError (exit 2) when it is not one."""
    from meshctl.core.slo import Slo, parse_latency

    try:
        return Slo(
            service=service,
            objective=objective,
            window=parse_window(window),
            latency=parse_latency(latency) if latency else None,
            method=method,
        )
    except SloError as exc:
        raise InvalidRequestError(str(exc)) from None


def status_rows(statuses: list[SloStatus]) -> list[dict[str, Any]]:
    """One row per SLI of each SLO, as ``slo status`` tables them."""
    rows = []
    for status in statuses:
        for sli in status.slis:
            rows.append({
                "slo": slo_label(status.slo),
                "sli": sli.name,
                "target": sli.target,
                "requests": status.requests,
                "bad": sli.bad_share,
                "budget_left": sli.budget_remaining,
                **{f"burn_{name}": rate for name, rate in sli.burn.items()},
                "alert": ", ".join(f"{a} burn" for a in sli.alerts),
            })  # fmt: skip
    return rows


async def stored_slos(settings: MeshSettings) -> tuple[list[Slo], list[str]]:
    """Every stored SLO, and the records that are not one."""
    from meshctl.registry import open_registry
    from meshctl.registry.connection import translated
    from meshctl.registry.sli import load_slos

    registry = open_registry(settings)
    try:
        with translated(settings.redis_url):
            return await load_slos(registry.redis, settings.prefix)
    finally:
        await registry.aclose()


async def slo_statuses(
    settings: MeshSettings, service: str | None = None, now: float | None = None
) -> tuple[list[SloStatus], list[str]]:
    """The status of every stored SLO (of ``service``, if given), and the records skipped."""
    from meshctl.registry import open_registry
    from meshctl.registry.connection import translated
    from meshctl.registry.sli import read_statuses

    registry = open_registry(settings)
    try:
        with translated(settings.redis_url):
            at = time.time() if now is None else now
            return await read_statuses(registry.redis, settings.prefix, at, service)
    finally:
        await registry.aclose()


def _warn(problems: list[str]) -> None:
    for line in problems:
        typer.echo(f"warning: {line}", err=True)


@app.command("set")
def set_slo(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service the objective is for.")],
    objective: Annotated[
        float, typer.Option(help="Percent of requests that must succeed, e.g. 99.9.")
    ],
    window: Annotated[str, typer.Option(help="Rolling window: 30d, 7d, 12h (1h to 31d).")] = "30d",
    latency: Annotated[
        str | None,
        typer.Option(help="Also a latency objective, e.g. 'p99<100ms': 99 % within 100 ms."),
    ] = None,
    method: MethodOption = None,
) -> None:
    """Set SERVICE's objective (replacing the one it had for the same method)."""
    slo = build_slo(service, objective, window, latency, method)
    settings = state(ctx).resolve().settings

    async def store() -> bool:
        from meshctl.cli.lookup import explain_no_endpoints
        from meshctl.registry import open_registry
        from meshctl.registry.connection import translated
        from meshctl.registry.sli import save_slo

        registry = open_registry(settings)
        try:
            with translated(settings.redis_url):
                await explain_no_endpoints(registry, service)  # a name nothing knows: exit 2
                try:
                    return await save_slo(registry.redis, settings.prefix, slo)
                except SloError as exc:
                    raise InvalidRequestError(str(exc)) from None
        finally:
            await registry.aclose()

    replaced = run(store())
    latency_text = f", {slo.latency.text}" if slo.latency else ""
    verb = "replaced" if replaced else "set"
    typer.echo(
        f"SLO {slo_label(slo)} {verb}: {slo.objective:g}% over {_window(slo.window)}{latency_text}"
    )


@app.command("list")
def list_slos(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the SLOs."""
    settings = state(ctx).resolve().settings

    slos, problems = run(stored_slos(settings))
    _warn(problems)
    rows = [{"slo": slo_label(s), **s.to_json(), "window": _window(s.window)} for s in slos]
    if output is OutputFormat.TABLE:
        emit(rows, output, columns=LIST_COLUMNS)
    else:
        emit({"slos": [s.to_json() for s in slos]}, output)


@app.command("status")
def status(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="Only this service's SLOs.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Error budget left and burn rates (5m, 30m, 1h, 6h) of each SLO.

    A burn rate of 1 spends the budget in exactly one window. Alerts follow
    the SRE workbook: a fast burn is above 14.4 over both 1h and 5m, a slow
    burn above 6 over both 6h and 30m. `meshctl check` fails on a fast burn.
    """
    settings = state(ctx).resolve().settings
    statuses, problems = run(slo_statuses(settings, service))
    _warn(problems)
    if output is OutputFormat.TABLE:
        if not statuses:
            typer.echo("no SLO set: add one with `meshctl slo set SERVICE --objective 99.9`")
            return
        emit(status_rows(statuses), output, columns=STATUS_COLUMNS)
    else:
        emit({"slos": [s.to_json() for s in statuses]}, output)


@app.command("delete")
def delete(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service whose SLO goes.")],
    method: MethodOption = None,
) -> None:
    """Delete SERVICE's SLO (the one for --method, if given). Nothing to delete is not an
    error."""
    settings = state(ctx).resolve().settings

    async def remove() -> bool:
        from meshctl.registry import open_registry
        from meshctl.registry.connection import translated
        from meshctl.registry.sli import delete_slo

        registry = open_registry(settings)
        try:
            with translated(settings.redis_url):
                return await delete_slo(registry.redis, settings.prefix, service, method)
        finally:
            await registry.aclose()

    name = f"{service}/{method}" if method else service
    typer.echo(f"SLO {name} deleted" if run(remove()) else f"no SLO {name}: nothing to delete")


@app.command("rules")
def rules(ctx: typer.Context, output: OutputOption = OutputFormat.YAML) -> None:
    """Print Prometheus recording and alerting rules for the SLOs (a rule file).

    The rules compute the same bad shares and burn-rate alerts from the
    services' /metrics, for teams that alert from Prometheus.
    """
    from meshctl.core.slo import prometheus_rules
    from meshctl.transport.server_context import SERVER_FAULTS

    settings = state(ctx).resolve().settings

    slos, problems = run(stored_slos(settings))
    _warn(problems)
    emit(prometheus_rules(slos, SERVER_FAULTS), output)


def check_results(statuses: list[SloStatus]) -> list[dict[str, Any]]:
    """``meshctl check``'s lines: a fast burn fails, a slow burn warns, else pass."""
    from meshctl.cli.checks import result

    results = []
    for status in statuses:
        name = slo_label(status.slo)
        burning = status.alerts
        worst: Mapping[str, float | None] = max(
            (s.burn for s in status.slis), key=lambda b: max((v or 0) for v in b.values())
        )
        fastest = max((v or 0) for v in worst.values())
        if "fast" in burning:
            results.append(result(
                "slo", "fail",
                f"SLO {name}: error budget burning fast ({fastest:.1f}x the sustainable rate)",
                f"see `meshctl slo status {status.slo.service}`",
            ))  # fmt: skip
        elif "slow" in burning:
            results.append(result(
                "slo", "warn", f"SLO {name}: error budget burning ({fastest:.1f}x)",
                f"see `meshctl slo status {status.slo.service}`",
            ))  # fmt: skip
        else:
            left = min(
                (s.budget_remaining for s in status.slis if s.budget_remaining is not None),
                default=None,
            )
            budget = "no traffic yet" if left is None else f"{_percent(left)} of budget left"
            results.append(result("slo", "pass", f"SLO {name}: {budget}"))
    return results
