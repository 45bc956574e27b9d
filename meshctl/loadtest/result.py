"""A load test's outcome: counts, latency histogram, per-endpoint spread; merge, save, compare."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshctl.core.stats import LatencyHistogram

FORMAT_VERSION = 1
OK = "OK"
# A regression is a change for the worse beyond this share of the baseline.
REGRESSION_TOLERANCE = 0.10


@dataclass(slots=True)
class RunResult:
    """What one worker (or the merge of several) measured after the warm-up.

    ``not_started``: open-loop requests the in-flight bound held back past the
    end of the run (they count as errors); ``late``: requests sent more than
    10 ms after their intended time (their latency includes the wait).
    """

    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    not_started: int = 0
    late: int = 0
    elapsed: float = 0.0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    endpoints: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def requests(self) -> int:
        """Requests that completed, well or not (not counting those never started)."""
        return self.ok + self.failed

    def record(self, latency: float, error: str | None, endpoint: str | None) -> None:
        """One finished request."""
        self.latency.record(latency)
        if error is None:
            self.ok += 1
        else:
            self.errors[error] = self.errors.get(error, 0) + 1
        if endpoint is not None:
            self.endpoints[endpoint] = self.endpoints.get(endpoint, 0) + 1

    def merge(self, other: RunResult) -> None:
        """Add another worker's counts; elapsed is the longest (workers run side by side)."""
        self.ok += other.ok
        self.not_started += other.not_started
        self.late += other.late
        self.elapsed = max(self.elapsed, other.elapsed)
        self.latency.merge(other.latency)
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        for ep, n in other.endpoints.items():
            self.endpoints[ep] = self.endpoints.get(ep, 0) + n

    def summary(self) -> dict[str, Any]:
        """Headline figures (JSON-ready); SLOs and comparisons read these."""
        attempted = self.requests + self.not_started
        bad = self.failed + self.not_started
        return {
            "requests": self.requests,
            "ok": self.ok,
            "failed": self.failed,
            "not_started": self.not_started,
            "late": self.late,
            "elapsed_s": round(self.elapsed, 3),
            "rps": round(self.ok / self.elapsed, 1) if self.elapsed > 0 else 0.0,
            "error_rate": round(bad / attempted, 6) if attempted else 0.0,
            "status": {OK: self.ok, **dict(sorted(self.errors.items()))},
            "latency_ms": self.latency.summary_ms(),
            "endpoints": dict(sorted(self.endpoints.items())),
        }

    def to_json(self) -> dict[str, Any]:
        """The saved form: the summary plus the encoded histogram, to merge or compare later."""
        return {
            "version": FORMAT_VERSION,
            "meta": self.meta,
            "summary": self.summary(),
            "errors": self.errors,
            "elapsed": self.elapsed,  # unrounded, so a reloaded summary is the same
            "histogram": self.latency.encode(),
        }

    @classmethod
    def from_json(cls, data: Any) -> RunResult:
        """Rebuild a saved result; raises ValueError on anything that is not one."""
        if not isinstance(data, Mapping) or data.get("version") != FORMAT_VERSION:
            raise ValueError("not a meshctl loadtest result (saved with --save)")
        try:
            summary = data["summary"]
            errors = {str(k): int(v) for k, v in data.get("errors", {}).items()}
            return cls(
                ok=int(summary["ok"]),
                errors=errors,
                not_started=int(summary["not_started"]),
                late=int(summary.get("late", 0)),
                elapsed=float(data.get("elapsed", summary["elapsed_s"])),
                latency=LatencyHistogram.decode(data["histogram"]),
                endpoints={str(k): int(v) for k, v in summary.get("endpoints", {}).items()},
                meta=dict(data.get("meta", {})),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"incomplete loadtest result: {exc}") from None

    @classmethod
    def loads(cls, text: str) -> RunResult:
        try:
            return cls.from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg}") from None


# metric -> (label, higher is better)
_COMPARED: tuple[tuple[str, bool], ...] = (
    ("rps", True),
    ("error_rate", False),
    ("p50", False),
    ("p90", False),
    ("p99", False),
    ("p99.9", False),
    ("max", False),
)


def _figure(summary: Mapping[str, Any], metric: str) -> float:
    if metric in ("rps", "error_rate"):
        return float(summary[metric])
    return float(summary["latency_ms"][metric])


def compare(
    baseline: Mapping[str, Any],
    current: Mapping[str, Any],
    tolerance: float = REGRESSION_TOLERANCE,
) -> list[dict[str, Any]]:
    """Per metric: baseline, current, change and whether it got worse beyond ``tolerance``.

    An error rate that rises from zero is always a regression.
    """
    rows = []
    for metric, higher_is_better in _COMPARED:
        old, new = _figure(baseline, metric), _figure(current, metric)
        change = (new - old) / old if old else (0.0 if new == old else None)
        worse = new < old if higher_is_better else new > old
        if change is None:
            regression = worse
        else:
            regression = worse and abs(change) > tolerance
        rows.append(
            {
                "metric": metric,
                "baseline": old,
                "current": new,
                "change_pct": None if change is None else round(change * 100, 1),
                "regression": regression,
            }
        )
    return rows
