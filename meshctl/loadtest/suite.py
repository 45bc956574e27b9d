"""Every method of a service loaded in turn (``meshctl loadtest --all``): one outcome each.

Each method gets the single-method load with the same options; its outcome:

    ok        it ran and met every --slo (or none was given)
    missed    it ran and missed an --slo                      fails the suite
    failed    it ran and no request succeeded                 fails the suite
    skipped   not loaded: its request was refused as the caller's own error
              (a login without real credentials, say), or it streams

The suite fails (exit 1) when a method missed or failed, or when no method
could be loaded at all. Everything here is pure: outcomes in, rows and text out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshctl.core.objectives import misses
from meshctl.loadtest.report import csv_row, csv_text

TABLE_COLUMNS = ("method", "requests", "rps", "p50", "p99", "errors", "slo", "note")
NOTE_WIDTH = 90  # the table's note is cut here so each method stays one line; JSON has it all


@dataclass(frozen=True, slots=True)
class MethodOutcome:
    """One method's part: its run (summary, SLO checks, meta) or why it was skipped."""

    service: str
    method: str
    summary: Mapping[str, Any] | None = None
    slos: Sequence[Mapping[str, Any]] = ()
    meta: Mapping[str, Any] | None = None
    skipped: str | None = None

    @property
    def outcome(self) -> str:
        if self.summary is None:
            return "skipped"
        if self.summary["ok"] == 0:
            return "failed"
        if any(not check["met"] for check in self.slos):
            return "missed"
        return "ok"

    @property
    def detail(self) -> str | None:
        """Why the method was skipped or failed the suite; None when it passed."""
        if self.summary is None:
            return self.skipped
        if self.summary["ok"] == 0:
            errors = ", ".join(
                f"{kind} {n}" for kind, n in self.summary["status"].items() if n and kind != "OK"
            )
            return "no request succeeded" + (f" ({errors})" if errors else "")
        missed = misses(self.slos)
        return f"SLO missed: {missed}" if missed else None

    def to_json(self) -> dict[str, Any]:
        """The JSON entry: the single-method form's meta, summary and slos, plus the outcome."""
        return {
            "service": self.service,
            "method": self.method,
            "outcome": self.outcome,
            "detail": self.detail,
            "meta": self.meta,
            "summary": self.summary,
            "slos": list(self.slos),
        }


def callable_methods(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str | None]]:
    """``(name to call, why it cannot be loaded or None)`` per method row of ``describe``.

    A method name two gRPC services share is qualified as ``Service/Method``.
    """
    counts = Counter(row["method"] for row in rows)
    found: list[tuple[str, str | None]] = []
    for row in rows:
        name = row["method"]
        if counts[name] > 1:
            name = f"{row['grpc_service']}/{name}"
        streams = bool(row.get("streaming"))
        found.append((name, "a streaming method; load tests make unary calls" if streams else None))
    return found


def table_rows(outcomes: Sequence[MethodOutcome]) -> list[dict[str, Any]]:
    """One row per method: requests, rps, p50, p99, errors, SLO verdict and a note."""
    rows = []
    for o in outcomes:
        note = f"skipped: {o.skipped}" if o.summary is None else o.detail
        if note is not None and len(note) > NOTE_WIDTH:
            note = note[: NOTE_WIDTH - 3] + "..."
        row: dict[str, Any] = {"method": o.method, "note": note}
        if o.summary is not None:
            latency = o.summary["latency_ms"]
            row.update(
                requests=o.summary["requests"],
                rps=o.summary["rps"],
                p50=f"{latency['p50']:.3f} ms",
                p99=f"{latency['p99']:.3f} ms",
                errors=f"{o.summary['error_rate'] * 100:.3f}%",
                slo=_verdict(o.slos),
            )
        rows.append(row)
    return rows


def _verdict(slos: Sequence[Mapping[str, Any]]) -> str | None:
    if not slos:
        return None
    return "met" if all(check["met"] for check in slos) else "missed"


def to_csv(outcomes: Sequence[MethodOutcome]) -> str:
    """A header line and one line per method (a skipped one has no figures)."""
    rows = []
    for o in outcomes:
        row: dict[str, Any] = {
            "service": o.service,
            "method": o.method,
            "outcome": o.outcome,
            "detail": o.detail,
        }
        if o.summary is not None:
            row.update(csv_row(o.summary, o.slos))
        rows.append(row)
    return csv_text(rows)


def failure(service: str, outcomes: Sequence[MethodOutcome]) -> str | None:
    """The error line when the suite fails (exit 1), else None."""
    ran = [o for o in outcomes if o.summary is not None]
    bad = [o for o in ran if o.outcome in ("missed", "failed")]
    if bad:
        return f"{len(bad)} of {len(ran)} methods of {service} failed: " + "; ".join(
            f"{o.method}: {o.detail}" for o in bad
        )
    if not ran:
        return f"no method of {service} could be loaded (see the notes)"
    return None
