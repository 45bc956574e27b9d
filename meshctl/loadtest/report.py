"""Pure rendering of a load test's summary: tables of rows, a text histogram, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from meshctl.core.stats import LatencyHistogram

BAR_WIDTH = 40
LATENCY_KEYS = ("min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max")


def histogram_lines(hist: LatencyHistogram, buckets: int = 10) -> list[str]:
    """A text histogram: ``buckets`` log-spaced latency bands with counts and bars."""
    if hist.count == 0:
        return ["(no requests)"]
    low, high = max(hist.min(), 1e-6), max(hist.max(), 1e-6)
    ratio = (high / low) ** (1 / buckets) if high > low else 1.0
    edges = [low * ratio**i for i in range(buckets + 1)] if ratio > 1 else [low, high]
    counts = hist.counts_up_to(edges[1:])
    counts[-1] += hist.count - sum(counts)  # values the top edge's rounding left out
    peak = max(counts) or 1
    lines = []
    for edge, count in zip(edges[1:], counts, strict=True):
        bar = "#" * round(BAR_WIDTH * count / peak)
        lines.append(f"<= {edge * 1000:10.3f} ms {count:>9} {bar}")
    return lines


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """KEY/VALUE rows for the table view of a run."""
    rows: list[dict[str, Any]] = [
        {"key": "requests", "value": summary["requests"]},
        {"key": "rps", "value": summary["rps"]},
        {"key": "elapsed_s", "value": summary["elapsed_s"]},
        {"key": "error_rate", "value": f"{summary['error_rate'] * 100:.3f}%"},
        {"key": "not_started", "value": summary["not_started"]},
        {"key": "late", "value": summary["late"]},
    ]
    rows += [{"key": f"status {k}", "value": v} for k, v in summary["status"].items()]
    rows += [
        {"key": f"latency {k}", "value": f"{summary['latency_ms'][k]:.3f} ms"} for k in LATENCY_KEYS
    ]
    return rows


def endpoint_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """How requests spread over instances (the balancer at work)."""
    total = sum(summary["endpoints"].values()) or 1
    return [
        {"instance": ep, "requests": n, "share": f"{100 * n / total:.1f}%"}
        for ep, n in summary["endpoints"].items()
    ]


def csv_row(summary: Mapping[str, Any], slos: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The headline figures of a run as one flat row."""
    row: dict[str, Any] = {
        k: summary[k]
        for k in ("requests", "ok", "failed", "not_started", "late", "elapsed_s", "rps")
    }
    row["error_rate"] = summary["error_rate"]
    row.update({f"{k}_ms": summary["latency_ms"][k] for k in LATENCY_KEYS})
    row.update({f"slo {s['slo']}": "met" if s["met"] else "missed" for s in slos})
    return row


def csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """A header line (every key, in first-seen order) and one line per row; gaps stay empty."""
    fields = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_csv(summary: Mapping[str, Any], slos: Sequence[Mapping[str, Any]] = ()) -> str:
    """One header line and one row: the headline figures, for spreadsheets and CI logs."""
    return csv_text([csv_row(summary, slos)])
