"""``meshctl loadtest`` end to end: formats, SLO gate, save/compare, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshctl.loadtest.result import RunResult
from meshctl.testing import Platform


@pytest.fixture
async def analytics(platform: Platform) -> Platform:
    await platform.start("analytics")
    return platform


FAST = ("analytics", "GetTrafficMetrics", "-n", "40", "-c", "4")


async def test_table_output_shows_summary_histogram_and_endpoints(analytics, loadtest):
    result = await loadtest(*FAST)
    assert result.exit_code == 0, result.output
    assert "status OK" in result.stdout and " 40" in result.stdout
    assert "LATENCY HISTOGRAM" in result.stdout and "latency p99.9" in result.stdout
    assert "INSTANCE" in result.stdout and "100.0%" in result.stdout


async def test_json_and_csv(analytics, loadtest):
    result = await loadtest(*FAST, "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["ok"] == 40 and data["slos"] == [] and data["comparison"] is None
    assert data["meta"]["mode"] == "closed" and data["meta"]["path"] == "mesh"
    csv = await loadtest(*FAST, "-o", "csv")
    header, row = csv.stdout.splitlines()
    assert header.split(",")[:2] == ["requests", "ok"] and row.split(",")[:2] == ["40", "40"]


async def test_strategy_balances_the_calls_and_is_reported(analytics, loadtest):
    await analytics.start("analytics")
    args = ("analytics", "GetTrafficMetrics", "-n", "20", "-c", "1", "-o", "json")
    result = await loadtest(*args, "--strategy", "round_robin")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["meta"]["strategy"] == "round_robin"
    assert sorted(data["summary"]["endpoints"].values()) == [10, 10]
    default = json.loads((await loadtest(*args)).stdout)
    assert default["meta"]["strategy"] is None


async def test_slo_gate_passes_a_run_that_meets_it(analytics, loadtest):
    result = await loadtest(*FAST, "--slo", "p99<5s,errors<1%,rps>=1", "-o", "json")
    assert result.exit_code == 0, result.output
    assert [row["met"] for row in json.loads(result.stdout)["slos"]] == [True, True, True]


async def test_slo_gate_fails_a_run_that_misses_it(analytics, loadtest):
    result = await loadtest(*FAST, "--slo", "p99<5s,p50<1us,rps>=1000000")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: SLO missed: p50<1us (actual ")
    assert "rps>=1000000" in result.stderr and "p99<5s" not in result.stderr


async def test_open_loop_with_a_ramp(analytics, loadtest):
    result = await loadtest(
        "analytics",
        "GetActiveViolations",
        "--ramp",
        "step:100,300@200ms",
        "--duration",
        "400ms",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["ok"] == 80 and summary["not_started"] == 0


async def test_save_then_compare(analytics, loadtest, tmp_path: Path):
    saved = tmp_path / "base.json"
    first = await loadtest(*FAST, "--save", str(saved), "-o", "json")
    assert first.exit_code == 0, first.output
    assert json.loads(saved.read_text())["summary"]["ok"] == 40
    again = await loadtest(*FAST, "--compare", str(saved), "-o", "json")
    assert again.exit_code == 0, again.output
    rows = {r["metric"]: r for r in json.loads(again.stdout)["comparison"]}
    assert rows["rps"]["baseline"] == json.loads(saved.read_text())["summary"]["rps"]
    table = await loadtest(*FAST, "--compare", str(saved))
    assert "CHANGE PCT" in table.stdout and "REGRESSION" in table.stdout


async def test_errors_only_run_exits_1(analytics, loadtest, tmp_path: Path):
    lines = tmp_path / "bad.jsonl"
    lines.write_text('{"frame": {}}\n')
    result = await loadtest(
        "analytics", "ProcessDetections", "-n", "3", "--data-file", str(lines), "-o", "json"
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["summary"]["status"] == {"INVALID_ARGUMENT": 3, "OK": 0}
    assert result.stderr == "error: no request to analytics/ProcessDetections succeeded\n"


async def test_unknown_method_is_bad_input(analytics, loadtest):
    result = await loadtest("analytics", "Nope", "-n", "5")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: analytics has no method Nope")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--slo", "p99<<1ms"), "invalid SLO"),
        (("--slo", "bogus<1"), "unknown metric"),
        (("--ramp", "100:200"), "invalid ramp"),
        (("--duration", "soon"), "invalid duration"),
        (("--warmup", "-1s"), "invalid duration"),
        (("--rps", "10", "--ramp", "1:2:1s"), "not both"),
        (("--rps", "0"), "--rps must be positive"),
        (("--rps", "10", "-c", "3"), "closed loop"),
        (("-c", "0"), "--concurrency must be positive"),
        (("-c", "1", "-w", "2"), "at least --workers"),
        (("-d", "{{nope}}"), "unknown placeholder"),
        (("-d", "{", "--data-file", "x"), "cannot read --data-file"),
        (("--data-file", "/nonexistent/x.jsonl"), "cannot read --data-file"),
        (("--compare", "/nonexistent/base.json"), "cannot use --compare"),
        (("--direct", "--strategy", "round_robin"), "--direct bypasses it"),
    ],
)
async def test_bad_input_exits_2_with_one_line(loadtest, args, message):
    result = await loadtest("analytics", "GetTrafficMetrics", "-n", "1", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


async def test_a_file_that_is_not_a_result_cannot_be_compared(loadtest, tmp_path: Path):
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    result = await loadtest("analytics", "GetTrafficMetrics", "--compare", str(other))
    assert result.exit_code == 2
    assert "not a meshctl loadtest result" in result.stderr


async def test_compare_flags_a_regression_without_failing(analytics, loadtest, tmp_path: Path):
    fast = RunResult(elapsed=0.001)
    for _ in range(40):
        fast.record(0.000_01, None, "x")
    baseline = tmp_path / "fast.json"
    baseline.write_text(json.dumps(fast.to_json()))
    result = await loadtest(*FAST, "--compare", str(baseline), "-o", "json")
    assert result.exit_code == 0, result.output
    rows = {r["metric"]: r for r in json.loads(result.stdout)["comparison"]}
    assert rows["rps"]["regression"] and rows["p50"]["regression"]
    assert not rows["error_rate"]["regression"]
    assert result.stderr.startswith("warning: worse than the baseline: rps, p50")


async def test_http_service_mesh_and_direct(platform: Platform, loadtest):
    await platform.start("auth")
    for extra in ((), ("--direct",)):
        result = await loadtest("auth", "health", "-n", "20", "-c", "2", *extra, "-o", "json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)["summary"]
        assert summary["ok"] == 20 and len(summary["endpoints"]) == 1
