"""The pure side of ``meshctl check``: what CI expects, one result per check, the report.

A result is a mapping with the same keys for every check (``check``,
``status``, ``detail``, ``hint``), and a service's result adds ``service``,
``healthy``, ``instances`` and ``expected``; ``report`` wraps them in the
versioned object ``-o json`` prints (its schema is in docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from meshctl.core.endpoint import HealthStatus
from meshctl.errors import InvalidRequestError

Status = Literal["pass", "warn", "fail"]
SYMBOLS: dict[str, str] = {"pass": "√", "warn": "‼", "fail": "×"}
REPORT_VERSION = 1


def result(check: str, status: Status, detail: str, hint: str | None = None) -> dict[str, Any]:
    return {"check": check, "status": status, "detail": detail, "hint": hint}


def parse_expectations(args: Sequence[str]) -> dict[str, int]:
    """``SERVICE`` or ``SERVICE=MIN_HEALTHY`` arguments as service -> minimum healthy instances."""
    expected: dict[str, int] = {}
    for arg in args:
        name, sep, count = arg.partition("=")
        name = name.strip()
        if not name or (sep and not count.strip().isdigit()) or (sep and int(count) < 1):
            raise InvalidRequestError(
                f"invalid service {arg!r}: expected SERVICE or SERVICE=MIN_HEALTHY (1 or more)"
            )
        if name in expected:
            raise InvalidRequestError(f"service {name} is named twice")
        expected[name] = int(count) if sep else 1
    return expected


def service_result(
    service: str, outcomes: Sequence[tuple[HealthStatus, str]], expected: int | None = None
) -> dict[str, Any]:
    """Pass when at least ``expected`` (default 1) instances answered their health check."""
    healthy = sum(1 for status, _ in outcomes if status is HealthStatus.HEALTHY)
    wanted = 1 if expected is None else expected
    detail = f"service {service}: {healthy}/{len(outcomes)} instances answer their health check"
    if expected is not None:
        detail += f" ({expected} expected)"
    if not outcomes:
        detail = f"service {service}: no instance registered ({wanted} expected)"
        hint = f"start it: `meshctl up` starts every service, `meshctl serve {service}` one"
    else:
        reasons = sorted(
            {reason for status, reason in outcomes if reason and status is not HealthStatus.HEALTHY}
        )
        hint = f"see `meshctl services discover {service}`" + (
            f"; the checks said: {', '.join(reasons)}" if reasons else ""
        )
    status: Status = "pass" if healthy >= wanted else "fail"
    row = result(f"service:{service}", status, detail, None if status == "pass" else hint)
    return {**row, "service": service, "healthy": healthy, "instances": len(outcomes),
            "expected": expected}  # fmt: skip


def with_served(
    results: Sequence[dict[str, Any]], totals: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Service results with what the service served since its instances started
    (``served``, None when no instance reports it), in the detail line once it is
    more than nothing."""
    from meshctl.cli.served import served_line

    out = []
    for row in results:
        if "service" in row:
            served = totals.get(row["service"])
            said = served is not None and served["requests"] > 0
            detail = row["detail"] + (f"; served {served_line(served)}" if said else "")
            row = {**row, "detail": detail, "served": served}
        out.append(row)
    return out


def breaker_result(rows: Sequence[Mapping[str, Any]], clients: int) -> dict[str, Any]:
    """Fail when any running client holds a breaker open (or forced open)."""
    open_rows = [r for r in rows if r["state"] in ("open", "forced_open")]
    if not open_rows:
        return result("breakers", "pass", f"no breaker open ({clients} mesh clients reporting)")
    names = ", ".join(
        (r["service"] if r["scope"] == "service" else f"{r['service']}@{r['endpoint']}")
        + f" ({r['client']}, {r['state']})"
        for r in open_rows
    )
    return result(
        "breakers",
        "fail",
        f"{len(open_rows)} breaker(s) open: {names}",
        "details with `meshctl breakers status`; close with `meshctl breakers reset SERVICE`",
    )


def failed(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in results if r["status"] == "fail"]


def report(
    results: Sequence[Mapping[str, Any]], exit_code: int, elapsed: float, attempts: int
) -> dict[str, Any]:
    """What ``-o json`` prints: the verdict, how long checking took, and every check."""
    return {
        "version": REPORT_VERSION,
        "passed": exit_code == 0,
        "exit_code": exit_code,
        "failed": len(failed(results)),
        "elapsed_seconds": round(elapsed, 3),
        "attempts": attempts,
        "checks": list(results),
    }


def waiting_line(results: Sequence[Mapping[str, Any]], left: float) -> str:
    """What a terminal shows while ``--wait`` tries again."""
    failing = failed(results)
    return f"waiting ({left:.0f}s left): {len(failing)} failing, first: {failing[0]['detail']}"


def check_lines(results: Sequence[Mapping[str, Any]]) -> str:
    """The table view: a symbol and the detail per check, an indented hint under failures."""
    lines = []
    for r in results:
        lines.append(f"{SYMBOLS[r['status']]} {r['detail']}")
        if r["hint"]:
            lines.append(f"    hint: {r['hint']}")
    return "\n".join(lines) + "\n"


def fault_result(services: Sequence[str]) -> list[dict[str, Any]]:
    """A warning naming the services with faults injected (one entry per fault), if any."""
    if not services:
        return []
    counts = {name: services.count(name) for name in sorted(set(services))}
    named = ", ".join(f"{name} ({n})" for name, n in counts.items())
    detail = f"{len(services)} fault(s) injected, failures there may be deliberate: {named}"
    return [result("faults", "warn", detail, "see `meshctl fault list`; `meshctl fault clear`")]


def registry_data_result(problems: Sequence[object]) -> list[dict[str, Any]]:
    """A warning listing the registry entries that reads skipped as unreadable, if any."""
    if not problems:
        return []
    shown = "; ".join(str(p) for p in problems[:5]) + ("; ..." if len(problems) > 5 else "")
    detail = f"{len(problems)} unreadable registry entries skipped: {shown}"
    return [result("registry-data", "warn", detail, "fix or delete those keys (docs/registry.md)")]
