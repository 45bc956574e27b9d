"""Run results: recording, merging workers, the saved form, comparisons and rendering."""

from __future__ import annotations

import json

import pytest

from meshctl.loadtest.report import endpoint_rows, histogram_lines, summary_rows, to_csv
from meshctl.loadtest.result import RunResult, compare


def sample(ok_latencies, errors=(), endpoint="a", elapsed=1.0) -> RunResult:
    result = RunResult(elapsed=elapsed)
    for latency in ok_latencies:
        result.record(latency, None, endpoint)
    for latency, kind in errors:
        result.record(latency, kind, endpoint)
    return result


def test_summary_counts_and_rates():
    result = sample([0.001] * 98, [(0.002, "UNAVAILABLE"), (0.5, "CallTimeoutError")], elapsed=2.0)
    result.not_started = 5
    result.late = 7
    summary = result.summary()
    assert summary["requests"] == 100 and summary["ok"] == 98 and summary["failed"] == 2
    assert summary["rps"] == 49.0
    assert summary["error_rate"] == pytest.approx(7 / 105, abs=1e-6)
    assert summary["status"] == {"OK": 98, "CallTimeoutError": 1, "UNAVAILABLE": 1}
    assert summary["late"] == 7 and summary["not_started"] == 5
    assert summary["latency_ms"]["p50"] == pytest.approx(1.0, rel=0.01)
    assert summary["latency_ms"]["max"] == pytest.approx(500, rel=0.01)
    assert summary["endpoints"] == {"a": 100}


def test_empty_result_has_zero_rates():
    summary = RunResult().summary()
    assert summary["rps"] == 0.0 and summary["error_rate"] == 0.0
    assert summary["latency_ms"]["p99"] == 0.0


def test_merging_workers_adds_counts_and_histograms():
    one = sample([0.001] * 50, [(0.001, "UNAVAILABLE")], endpoint="a", elapsed=1.0)
    two = sample([0.100] * 50, [(0.002, "UNAVAILABLE")], endpoint="b", elapsed=1.2)
    two.late = 3
    one.merge(two)
    summary = one.summary()
    assert summary["ok"] == 100 and summary["status"]["UNAVAILABLE"] == 2
    assert summary["elapsed_s"] == 1.2 and summary["late"] == 3
    assert summary["endpoints"] == {"a": 51, "b": 51}
    assert summary["latency_ms"]["p50"] == pytest.approx(1.0, rel=0.01)
    assert summary["latency_ms"]["p90"] == pytest.approx(100, rel=0.01)


def test_saved_form_round_trips_with_the_histogram():
    result = sample([0.001, 0.002, 0.003], [(0.004, "INTERNAL")])
    result.meta["service"] = "analytics"
    text = json.dumps(result.to_json())
    again = RunResult.loads(text)
    before, after = result.summary(), again.summary()
    # A decoded histogram's mean comes from its buckets: exact to HdrHistogram's 0.1 %.
    assert after["latency_ms"].pop("mean") == pytest.approx(
        before["latency_ms"].pop("mean"), rel=1e-3
    )
    assert after == before
    assert again.meta == {"service": "analytics"}
    assert again.latency.count == 4


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{}",
        '{"version": 1}',
        '{"version": 1, "summary": {}, "histogram": "x"}',
        '{"version": 2, "summary": {}}',
        '{"version": 1, "summary": {"ok": 1, "not_started": 0, '
        '"elapsed_s": 1}, "histogram": "garbage"}',
    ],
)
def test_garbage_is_not_a_result(text):
    with pytest.raises(ValueError):
        RunResult.loads(text)


def test_compare_flags_worse_figures_beyond_the_tolerance():
    base = sample([0.010] * 100, elapsed=1.0).summary()
    slower = sample([0.020] * 100, elapsed=1.0).summary()
    rows = {r["metric"]: r for r in compare(base, slower)}
    assert rows["p50"]["change_pct"] == pytest.approx(100, abs=1)
    assert rows["p50"]["regression"] and rows["p99"]["regression"]
    assert not rows["rps"]["regression"] and rows["rps"]["change_pct"] == 0.0
    better = {r["metric"]: r for r in compare(slower, base)}
    assert not any(r["regression"] for r in better.values())


def test_compare_tolerates_noise_and_flags_new_errors():
    base = sample([0.010] * 100, elapsed=1.0).summary()
    noisy = sample([0.0105] * 100, elapsed=1.05).summary()
    assert not any(r["regression"] for r in compare(base, noisy))
    failing = sample([0.010] * 99, [(0.01, "INTERNAL")], elapsed=1.0).summary()
    rows = {r["metric"]: r for r in compare(base, failing)}
    assert rows["error_rate"]["regression"] and rows["error_rate"]["change_pct"] is None


def test_histogram_lines_cover_every_request():
    result = sample([0.001] * 80 + [0.010] * 15 + [0.100] * 5)
    lines = histogram_lines(result.latency, buckets=6)
    assert len(lines) == 6
    counts = [int(line.split()[3]) for line in lines]
    assert sum(counts) == 100 and counts[0] == 80 and counts[-1] == 5
    assert lines[0].endswith("#" * 40)
    assert histogram_lines(RunResult().latency) == ["(no requests)"]


def test_histogram_of_identical_latencies_is_one_band():
    lines = histogram_lines(sample([0.002] * 10).latency)
    assert sum(int(line.split()[3]) for line in lines) == 10


def test_rows_and_csv():
    summary = sample([0.001] * 3, [(0.002, "INTERNAL")], endpoint="i-1").summary()
    rows = {r["key"]: r["value"] for r in summary_rows(summary)}
    assert rows["status OK"] == 3 and rows["status INTERNAL"] == 1
    assert rows["error_rate"] == "25.000%"
    assert endpoint_rows(summary) == [{"instance": "i-1", "requests": 4, "share": "100.0%"}]
    header, row = to_csv(summary, [{"slo": "p99<1ms", "met": False}]).splitlines()
    assert header.startswith("requests,ok,failed,not_started,late,elapsed_s,rps,error_rate,")
    assert (
        header.endswith(",slo p99<1ms") and row.startswith("4,3,1,0,0,") and row.endswith(",missed")
    )
