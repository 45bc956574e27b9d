"""What each service served, summed over its instances' served reports (pure).

A service instance counts every request it answers, whoever the caller, and
publishes the totals since it started (``role: server`` reports); ``services
list`` and ``check`` show these, so traffic from short-lived CLIs and foreign
clients is visible as well as that of long-lived mesh clients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from meshctl.registry.reports import SERVER_ROLE


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def served_totals(reports: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Service -> requests, failures, errors by kind and instances reporting, since start."""
    totals: dict[str, dict[str, Any]] = {}
    for report in reports:
        served = report.get("served")
        if report.get("role") != SERVER_ROLE or not isinstance(served, Mapping):
            continue
        total = totals.setdefault(
            str(report.get("name")), {"requests": 0, "failures": 0, "errors": {}, "instances": 0}
        )
        total["instances"] += 1
        for stats in served.values():
            if not isinstance(stats, Mapping):
                continue
            total["requests"] += _int(stats.get("requests"))
            total["failures"] += _int(stats.get("failures"))
            errors = stats.get("errors")
            for kind, count in errors.items() if isinstance(errors, Mapping) else ():
                total["errors"][str(kind)] = total["errors"].get(str(kind), 0) + _int(count)
    return totals


def served_line(total: Mapping[str, Any] | None) -> str:
    """How a human reads a service's served totals; ``-`` when no instance reports them."""
    if total is None:
        return "-"
    return f"{total['requests']} requests, {total['failures']} failed"
