"""``meshctl check``: a pre-flight of the whole mesh, for people and for CI.

Checks, in order: the registry answers; the broker answers (a warning when
none is configured); at least one service is registered; every registered
service, and every one named as ``SERVICE[=MIN_HEALTHY]``, has enough
instances that answer their health check (grpc.health.v1 or the HTTP health
route); no breaker of any running mesh client is open; a warning when faults
are injected (``meshctl fault``). Each check is one
``√``/``‼``/``×`` line, failures with a hint. ``--wait`` runs the checks again
every second until they pass or the time is up, resolving the settings each
time so that a mesh ``meshctl up`` is still starting is found once it writes
its context. Exit 1 when a check fails, 3 when the registry cannot be reached
or there is no mesh to check at all (no ``meshctl up`` context and no Redis
configured), 2 for bad arguments.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.checks import (
    breaker_result,
    check_lines,
    failed,
    fault_result,
    parse_expectations,
    registry_data_result,
    report,
    result,
    service_result,
    waiting_line,
    with_served,
)
from meshctl.cli.output import OutputFormat, OutputOption, emit
from meshctl.cli.runner import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, CliState, fail, run, state
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.core.secrets import redact_url
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings, ResolvedSettings
    from meshctl.registry import ServiceRegistry
    from meshctl.transport.tls import TlsFiles

BROKER_TIMEOUT = 10.0
HEALTH_TIMEOUT = 3.0
POLL_INTERVAL = 1.0
UNCONFIGURED = "no mesh to check: no `meshctl up` mesh is running and no Redis is configured"


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
    registry: ServiceRegistry,
    views: Mapping[str, list[ServiceEndpoint]],
    expected: Mapping[str, int],
    tls: TlsFiles | None = None,
) -> list[dict[str, Any]]:
    """Probe every instance of every service at once; one result per service.

    A service named in ``expected`` but not registered is a result too (a
    failure); with none registered and none expected, one failure says so.
    """
    import asyncio

    from meshctl.registry import HealthMonitor

    if not views and not expected:
        return [
            result(
                "services",
                "fail",
                f"no service is registered under prefix {registry.prefix}",
                "start the mesh with `meshctl up`, or check --prefix and --redis-url",
            )  # fmt: skip
        ]
    every = {**{name: views.get(name, []) for name in expected}, **views}
    monitor = HealthMonitor(registry, timeout=HEALTH_TIMEOUT, tls=tls)
    async with monitor.http_client() as http:
        outcomes = await asyncio.gather(
            *(monitor.check(ep, http) for endpoints in every.values() for ep in endpoints)
        )
    results, at = [], 0
    for service in sorted(every):
        count = len(every[service])
        results.append(service_result(service, outcomes[at : at + count], expected.get(service)))
        at += count
    return results


def unconfigured(resolved: ResolvedSettings[MeshSettings]) -> bool:
    """Whether the Redis URL is only the default: no flag, env, config context or up context."""
    return resolved.sources.get("redis_url") == "default"


async def run_checks(
    resolved: ResolvedSettings[MeshSettings], expected: Mapping[str, int]
) -> tuple[list[dict[str, Any]], int]:
    """Every check's result and the exit code they add up to."""
    from meshctl.cli.breakers import breaker_rows
    from meshctl.cli.runner import hint_for
    from meshctl.cli.served import served_totals
    from meshctl.cli.slo import check_results as slo_check_results
    from meshctl.cli.slo import slo_statuses
    from meshctl.errors import RegistryUnavailableError
    from meshctl.registry import open_registry
    from meshctl.registry.control import read_reports
    from meshctl.registry.faults import read_faults
    from meshctl.transport.tls import tls_files

    settings = resolved.settings
    registry = open_registry(settings)
    try:
        try:
            views = await registry.snapshot()
        except RegistryUnavailableError as exc:
            detail = f"{UNCONFIGURED}, and {exc}" if unconfigured(resolved) else str(exc)
            return [result("registry", "fail", detail, hint_for(exc))], EXIT_UNREACHABLE
        if not views and unconfigured(resolved):
            detail = (
                f"{UNCONFIGURED}, and the default {redact_url(settings.redis_url)} "
                f"has no service under prefix {settings.prefix}"
            )
            hint = (
                "start one with `meshctl up`, or point at yours with --redis-url or MESH_REDIS_URL"
            )
            return [result("registry", "fail", detail, hint)], EXIT_UNREACHABLE
        found = f"{len(views)} services"
        where = (
            f"registry reachable at {redact_url(settings.redis_url)} "
            f"(prefix {settings.prefix}): {found}"
        )
        results = [result("registry", "pass", where), await check_broker(settings)]
        reports = await read_reports(registry.redis, registry.prefix)
        results += with_served(
            await check_services(registry, views, expected, tls_files(settings)),
            served_totals(reports.servers),
        )
        results.append(breaker_result(breaker_rows(reports, time.time()), len(reports.clients)))
        faults, fault_problems = await read_faults(registry.redis, registry.prefix)
        results += fault_result([f.service for f in faults])
        statuses, slo_problems = await slo_statuses(settings)
        results += slo_check_results(statuses)
        results += registry_data_result(
            [*views.problems, *reports.problems, *fault_problems, *slo_problems]
        )
        return results, EXIT_FAILED if failed(results) else EXIT_OK
    finally:
        await registry.aclose()


async def check_until(
    cli: CliState,
    expected: Mapping[str, int],
    wait: float,
    on_retry: Callable[[list[dict[str, Any]], float], None] | None = None,
) -> tuple[list[dict[str, Any]], int, float, int]:
    """Run the checks until they pass or ``wait`` seconds are spent; the last results,
    their exit code, the seconds waited and the number of attempts. ``on_retry`` hears
    of each failed round that is tried again, with the seconds left."""
    import asyncio

    started = time.monotonic()
    attempts = 0
    while True:
        # Settings afresh each round: a `meshctl up` starting meanwhile writes its context.
        fresh = CliState(debug=cli.debug, context=cli.context, overrides=cli.overrides)
        results, code = await run_checks(fresh.resolve(), expected)
        attempts += 1
        waited = time.monotonic() - started
        if code == EXIT_OK or waited + POLL_INTERVAL > wait:
            return results, code, waited, attempts
        if on_retry is not None:
            on_retry(results, wait - waited)
        await asyncio.sleep(POLL_INTERVAL)


def parse_wait(text: str) -> float:
    """``--wait``'s duration in seconds (0: check once)."""
    from meshctl.cli.requestdata import seconds
    from meshctl.core.units import parse_duration

    try:
        return seconds("--wait", parse_duration(text), zero=True)
    except ValueError as exc:
        raise InvalidRequestError(f"invalid --wait {text!r}: {exc}") from None


def check(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SERVICE[=MIN_HEALTHY]",
            help="Services CI expects, each with at least MIN_HEALTHY healthy instances (1).",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="Check again every second until everything passes or DURATION (30s, 2m) is spent.",
        ),
    ] = "0s",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Pre-flight the mesh: registry, broker, service health, breakers; exit 1 on a failure.

    Exit codes: 0 every check passed (warnings allowed), 1 a check failed,
    2 bad arguments, 3 the registry is unreachable or there is no mesh to
    check (no `meshctl up` context and no Redis configured).
    """
    expected = parse_expectations(services or [])
    seconds = parse_wait(wait)

    def show(results: list[dict[str, Any]], left: float) -> None:
        typer.echo(waiting_line(results, left), err=True)

    progress = show if sys.stderr.isatty() else None  # quiet in pipes and under CI
    results, code, waited, attempts = run(check_until(state(ctx), expected, seconds, progress))
    if output is OutputFormat.TABLE:
        typer.echo(check_lines(results), nl=False)
    else:
        emit(report(results, code, waited, attempts), output)
    if code != EXIT_OK:
        after = f" after waiting {waited:.0f}s" if seconds else ""
        fail(f"{len(failed(results))} of {len(results)} checks failed{after}", code=code)
