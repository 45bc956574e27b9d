"""``meshctl loadtest --all SERVICE``: every method in turn, one line each, on real services."""

from __future__ import annotations

import json

import pytest

from meshctl.testing import Platform

ANALYTICS_METHODS = [
    "ProcessDetections",
    "GetTrafficMetrics",
    "GetActiveViolations",
    "GetTrafficAnomalies",
    "GenerateReport",
]
FAST = ("-n", "20", "-c", "2")


@pytest.fixture
async def analytics(platform: Platform) -> Platform:
    await platform.start("analytics")
    return platform


async def test_table_has_one_line_per_method(analytics, loadtest):
    result = await loadtest("--all", "analytics", *FAST, "--slo", "p99<5s,errors<1%")
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["METHOD", "REQUESTS", "RPS", "P50", "P99", "ERRORS", "SLO", "NOTE"]
    assert [line.split()[0] for line in lines] == ANALYTICS_METHODS
    for line in lines:
        _, requests, _, _, ms, _, ms2, errors, slo, note = line.split()
        assert (requests, ms, ms2, errors, slo, note) == ("20", "ms", "ms", "0.000%", "met", "-")


async def test_json_is_a_list_of_single_method_results(analytics, loadtest):
    result = await loadtest("analytics", "--all", *FAST, "-o", "json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [e["method"] for e in entries] == ANALYTICS_METHODS
    for entry in entries:
        assert set(entry) == {"service", "method", "outcome", "detail", "meta", "summary", "slos"}
        assert (entry["service"], entry["outcome"], entry["detail"], entry["slos"]) == (
            "analytics",
            "ok",
            None,
            [],
        )
        assert entry["summary"]["ok"] == 20 and entry["summary"]["latency_ms"]["p99"] > 0
        assert entry["meta"]["method"] == entry["method"] and entry["meta"]["mode"] == "closed"


async def test_csv_has_a_line_per_method(analytics, loadtest):
    result = await loadtest("--all", "analytics", *FAST, "-o", "csv")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.startswith("service,method,outcome,detail,requests,ok,")
    assert [row.split(",")[1] for row in rows] == ANALYTICS_METHODS


async def test_an_slo_miss_on_any_method_exits_1(analytics, loadtest):
    result = await loadtest("--all", "analytics", *FAST, "--slo", "p50<1us", "-o", "json")
    assert result.exit_code == 1
    entries = json.loads(result.stdout)
    assert {e["outcome"] for e in entries} == {"missed"}
    assert entries[0]["detail"].startswith("SLO missed: p50<1us (actual ")
    assert result.stderr.startswith("error: 5 of 5 methods of analytics failed: ProcessDetections:")
    assert len(result.stderr.splitlines()) == 1


async def test_http_routes_and_requests_that_need_real_input(platform: Platform, loadtest):
    """auth: health runs; login (no real password), logout, refresh and verify (no token) are
    skipped."""
    await platform.start("auth")
    result = await loadtest("--all", "auth", *FAST, "-o", "json")
    assert result.exit_code == 0, result.output
    entries = {e["method"]: e for e in json.loads(result.stdout)}
    assert list(entries) == ["health", "login", "logout", "refresh", "verify"]
    assert entries["health"]["outcome"] == "ok" and entries["health"]["summary"]["ok"] == 20
    for name in ("login", "logout", "refresh", "verify"):
        assert entries[name]["outcome"] == "skipped" and entries[name]["summary"] is None
    wrong_password = "needs real input: HTTP 401: unknown user or wrong password"
    assert entries["login"]["detail"] == wrong_password
    assert entries["refresh"]["detail"].startswith("needs real input: HTTP 422: ")
    table = await loadtest("--all", "auth", *FAST)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert len(lines) == 6  # the header and one line per route, long notes cut
    login = next(line for line in lines if line.startswith("login"))
    assert login.split()[1:7] == ["-"] * 6
    assert login.endswith(f"skipped: {wrong_password}")


async def test_a_method_with_no_success_fails_the_suite(platform: Platform, stalling, loadtest):
    """``stally`` serves GetTrafficMetrics only; its other methods are UNIMPLEMENTED (skipped)."""
    stalling.stall_between(0, float("inf"), 1.0)
    result = await loadtest("--all", "stally", "-n", "2", "-c", "2", "--timeout", "0.05")
    assert result.exit_code == 1, result.output
    assert "GetTrafficMetrics: no request succeeded (CallTimeoutError 2)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("analytics", "GetTrafficMetrics", "--all"), "give METHOD (GetTrafficMetrics) or --all"),
        (("analytics",), "missing METHOD"),
        (("analytics", "--all", "-d", "{}"), "-d apply to one METHOD"),
        (("analytics", "--all", "--save", "x", "--compare", "y"), "--save, --compare apply"),
        (("analytics", "--all", "--rps", "0"), "--rps must be positive"),
        (("analytics", "--all", "--slo", "p99<<1"), "invalid SLO"),
        (("nosuchservice", "--all"), "unknown service 'nosuchservice'"),
    ],
)
async def test_bad_usage_exits_2_with_one_line(platform: Platform, loadtest, args, message):
    result = await loadtest(*args, "-n", "1")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


async def test_a_known_service_with_no_instance_exits_1(platform: Platform, loadtest):
    result = await loadtest("--all", "alert", "-n", "1")
    assert result.exit_code == 1
    assert result.stderr == "error: No endpoints found for service alert\n"
