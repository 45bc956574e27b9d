"""``meshctl check``: a pre-flight of the whole mesh, for people and for CI.

Checks, in order: the registry answers; the broker answers (a warning when
none is configured); every registered service has an instance that answers
its health check (grpc.health.v1 or the HTTP health route); no breaker of
any running mesh client is open. Each check is one ``√``/``‼``/``×`` line,
failures with a hint. Exit 1 when a check fails, 3 when the registry itself
cannot be reached.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import typer

from meshctl.cli.output import OutputFormat, OutputOption, emit
from meshctl.cli.runner import EXIT_FAILED, EXIT_UNREACHABLE, fail, run, state
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.registry import ServiceRegistry

Status = Literal["pass", "warn", "fail"]
SYMBOLS: dict[str, str] = {"pass": "√", "warn": "‼", "fail": "×"}
BROKER_TIMEOUT = 10.0
HEALTH_TIMEOUT = 3.0


def result(check: str, status: Status, detail: str, hint: str | None = None) -> dict[str, Any]:
    return {"check": check, "status": status, "detail": detail, "hint": hint}


def check_lines(results: Sequence[dict[str, Any]]) -> str:
    """The table view: a symbol and the detail per check, an indented hint under failures."""
    lines = []
    for r in results:
        lines.append(f"{SYMBOLS[r['status']]} {r['detail']}")
        if r["hint"]:
            lines.append(f"    hint: {r['hint']}")
    return "\n".join(lines) + "\n"


def service_result(service: str, outcomes: Sequence[tuple[HealthStatus, str]]) -> dict[str, Any]:
    """Pass when at least one instance of ``service`` answered its health check."""
    answering = sum(1 for status, _ in outcomes if status is HealthStatus.HEALTHY)
    detail = f"service {service}: {answering}/{len(outcomes)} instances answer their health check"
    if answering:
        return result(f"service:{service}", "pass", detail)
    reasons = sorted({reason for _, reason in outcomes if reason})
    hint = f"see `meshctl services discover {service}`" + (
        f"; the checks said: {', '.join(reasons)}" if reasons else ""
    )
    return result(f"service:{service}", "fail", detail, hint)


def breaker_result(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fail when any running client holds a breaker open (or forced open)."""
    from meshctl.cli.breakers import breaker_rows

    rows = breaker_rows(reports, time.time())
    open_rows = [r for r in rows if r["state"] in ("open", "forced_open")]
    if not open_rows:
        return result(
            "breakers", "pass", f"no breaker open ({len(reports)} mesh clients reporting)"
        )
    where = [
        r["service"] if r["scope"] == "service" else f"{r['service']}@{r['endpoint']}"
        for r in open_rows
    ]
    names = ", ".join(
        f"{w} ({r['client']}, {r['state']})" for w, r in zip(where, open_rows, strict=True)
    )
    return result(
        "breakers",
        "fail",
        f"{len(open_rows)} breaker(s) open: {names}",
        "details with `meshctl breakers status`; close with `meshctl breakers reset SERVICE`",
    )


def registry_data_result(problems: Sequence[object]) -> list[dict[str, Any]]:
    """A warning listing the registry entries that reads skipped as unreadable, if any."""
    if not problems:
        return []
    shown = "; ".join(str(p) for p in problems[:5]) + ("; ..." if len(problems) > 5 else "")
    detail = f"{len(problems)} unreadable registry entries skipped: {shown}"
    return [result("registry-data", "warn", detail, "fix or delete those keys (docs/registry.md)")]


async def check_broker(settings: MeshSettings) -> dict[str, Any]:
    """Connect to the broker and read its topic list."""
    from meshctl.errors import BrokerUnavailableError
    from meshctl.events.client import probe_broker

    if not settings.kafka_bootstrap:
        return result(
            "broker", "warn", "no broker configured: event checks skipped",
            "set --kafka or MESH_KAFKA_BOOTSTRAP to check one",
        )  # fmt: skip
    bootstrap = settings.kafka_bootstrap
    try:
        await probe_broker(bootstrap, client_id="meshctl-check", timeout=BROKER_TIMEOUT)
    except (BrokerUnavailableError, TimeoutError) as exc:
        detail = str(exc) or f"Kafka broker at {bootstrap} did not answer in {BROKER_TIMEOUT:g}s"
        return result("broker", "fail", detail, "start one with `meshctl up`, or fix --kafka")
    return result("broker", "pass", f"broker reachable at {bootstrap}")


async def check_services(
    registry: ServiceRegistry, views: dict[str, list[ServiceEndpoint]]
) -> list[dict[str, Any]]:
    """Probe every instance of every service at once; one result per service."""
    import asyncio

    import httpx

    from meshctl.registry import HealthMonitor

    if not views:
        return [result("services", "warn", "no service is registered", "start some: `meshctl up`")]
    monitor = HealthMonitor(registry, timeout=HEALTH_TIMEOUT)
    async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT) as http:
        outcomes = await asyncio.gather(
            *(monitor.check(ep, http) for endpoints in views.values() for ep in endpoints)
        )
    results, at = [], 0
    for service, endpoints in views.items():
        results.append(service_result(service, outcomes[at : at + len(endpoints)]))
        at += len(endpoints)
    return results


async def run_checks(settings: MeshSettings) -> tuple[list[dict[str, Any]], bool]:
    """Every check's result, and whether the registry was reachable at all."""
    from meshctl.cli.runner import hint_for
    from meshctl.errors import RegistryUnavailableError
    from meshctl.registry import open_registry
    from meshctl.registry.control import read_reports

    registry = open_registry(settings)
    try:
        try:
            views = await registry.snapshot()
        except RegistryUnavailableError as exc:
            return [result("registry", "fail", str(exc), hint_for(exc))], False
        found = f"{len(views)} services"
        where = f"registry reachable at {settings.redis_url} (prefix {settings.prefix}): {found}"
        results = [result("registry", "pass", where), await check_broker(settings)]
        results += await check_services(registry, views)
        reports = await read_reports(registry.redis, registry.prefix)
        results.append(breaker_result(reports))
        results += registry_data_result([*views.problems, *reports.problems])
        return results, True
    finally:
        await registry.aclose()


def check(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """Pre-flight the mesh: registry, broker, service health, breakers; exit 1 on a failure."""
    results, reachable = run(run_checks(state(ctx).resolve().settings))
    if output is OutputFormat.TABLE:
        typer.echo(check_lines(results), nl=False)
    else:
        emit(results, output)
    failed = [r for r in results if r["status"] == "fail"]
    if failed:
        code = EXIT_FAILED if reachable else EXIT_UNREACHABLE
        fail(f"{len(failed)} of {len(results)} checks failed", code=code)
