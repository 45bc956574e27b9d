"""Objectives for a run of calls: ``p99<100ms,errors<0.1%,rps>=1000``.

``meshctl loadtest --slo`` gates CI on them; ``meshctl route shift --slo`` judges
a canary by them.

An objective is ``METRIC OP VALUE``; objectives are separated by commas.

    p50 p90 p95 p99 p99.9 min mean max   latency; VALUE with us, ms or s (default ms)
    errors                               share of requests that failed or could not
                                         start: VALUE with % (0.1%) or a fraction (0.001)
    rps                                  achieved successful requests per second
    OP                                   <  <=  >  >=
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshctl.errors import InvalidRequestError

_LATENCY = ("p50", "p90", "p95", "p99", "p99.9", "min", "mean", "max")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SLO = re.compile(r"^\s*([a-z][a-z0-9.]*)\s*(<=|>=|<|>)\s*([0-9.]+)\s*([a-z%]*)\s*$")
_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "": 1.0}


@dataclass(frozen=True, slots=True)
class Objective:
    """One objective; ``threshold`` is in ms for latencies, a fraction for errors."""

    metric: str
    op: str
    threshold: float
    text: str

    def check(self, summary: Mapping[str, Any]) -> tuple[bool, float]:
        """(met, actual value) against a run summary (see ``result.RunResult.summary``)."""
        actual = float(actual_value(self.metric, summary))
        return _OPS[self.op](actual, self.threshold), actual


def actual_value(metric: str, summary: Mapping[str, Any]) -> float:
    """The summary's figure for ``metric`` in the units objectives use."""
    if metric == "rps":
        return float(summary["rps"])
    if metric == "errors":
        return float(summary["error_rate"])
    return float(summary["latency_ms"][metric])


def parse_slos(text: str) -> list[Objective]:
    """Objectives from ``text``; raises InvalidRequestError naming the bad one."""
    objectives = []
    for item in text.split(","):
        if not item.strip():
            continue
        objectives.append(_parse_one(item.strip()))
    if not objectives:
        raise InvalidRequestError("empty --slo: expected e.g. 'p99<100ms,errors<0.1%,rps>=1000'")
    return objectives


def _parse_one(item: str) -> Objective:
    match = _SLO.match(item.lower())
    if match is None:
        raise InvalidRequestError(f"invalid SLO {item!r}: expected METRIC OP VALUE, e.g. p99<100ms")
    metric, op, number, unit = match.groups()
    try:
        value = float(number)
    except ValueError:
        raise InvalidRequestError(f"invalid SLO {item!r}: {number!r} is not a number") from None
    if metric in _LATENCY:
        if unit not in _TIME_UNITS:
            raise InvalidRequestError(f"invalid SLO {item!r}: latency units are us, ms or s")
        return Objective(metric, op, value * _TIME_UNITS[unit], item)
    if metric == "errors":
        if unit not in ("%", ""):
            raise InvalidRequestError(f"invalid SLO {item!r}: errors take % or a fraction")
        fraction = value / 100 if unit == "%" else value
        if fraction > 1:
            raise InvalidRequestError(f"invalid SLO {item!r}: an error share above 100%")
        return Objective(metric, op, fraction, item)
    if metric == "rps":
        if unit:
            raise InvalidRequestError(f"invalid SLO {item!r}: rps takes a plain number")
        return Objective(metric, op, value, item)
    raise InvalidRequestError(
        f"invalid SLO {item!r}: unknown metric {metric!r} "
        f"(use {', '.join(_LATENCY)}, errors or rps)"
    )


def evaluate(objectives: Sequence[Objective], summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per objective: ``{"slo", "actual", "met"}``; actual in the objective's units."""
    rows = []
    for objective in objectives:
        met, actual = objective.check(summary)
        rows.append({"slo": objective.text, "actual": round(actual, 6), "met": met})
    return rows


def misses(checks: Sequence[Mapping[str, Any]]) -> str:
    """``evaluate``'s missed rows as ``slo (actual N), ...``; empty when all were met."""
    return ", ".join(f"{c['slo']} (actual {c['actual']:g})" for c in checks if not c["met"])
