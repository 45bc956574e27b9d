"""The pure parts of ``loadtest --all``: method names, outcomes, rows and the failure line."""

from __future__ import annotations

from typing import Any

from meshctl.loadtest.result import RunResult
from meshctl.loadtest.suite import (
    NOTE_WIDTH,
    MethodOutcome,
    callable_methods,
    failure,
    table_rows,
    to_csv,
)


def _summary(ok: int, errors: int = 0) -> dict[str, Any]:
    result = RunResult(elapsed=1.0)
    for _ in range(ok):
        result.record(0.002, None, "i-1")
    for _ in range(errors):
        result.record(0.010, "UNAVAILABLE", "i-1")
    return result.summary()


def test_shared_names_are_qualified_and_streaming_methods_are_not_loaded():
    rows: list[dict[str, Any]] = [
        {"method": "Get", "grpc_service": "a.A", "streaming": False},
        {"method": "Get", "grpc_service": "b.B", "streaming": False},
        {"method": "Watch", "grpc_service": "a.A", "streaming": True},
        {"method": "login", "route": "POST /login"},
    ]
    names = callable_methods(rows)
    assert [name for name, _ in names] == ["a.A/Get", "b.B/Get", "Watch", "login"]
    assert [why is None for _, why in names] == [True, True, False, True]


def test_outcomes_and_their_detail():
    met = [{"slo": "p99<1s", "actual": 2.0, "met": True}]
    missed = [{"slo": "p99<1ms", "actual": 2.0, "met": False}]
    cases = [
        (MethodOutcome("s", "m", _summary(3)), "ok", None),
        (MethodOutcome("s", "m", _summary(3), met), "ok", None),
        (MethodOutcome("s", "m", _summary(3), missed), "missed", "SLO missed: p99<1ms (actual 2)"),
        (MethodOutcome("s", "m", _summary(0, 2)), "failed", "no request succeeded (UNAVAILABLE 2)"),
        (MethodOutcome("s", "m", skipped="needs real input"), "skipped", "needs real input"),
    ]
    for outcome, name, detail in cases:
        assert (outcome.outcome, outcome.detail) == (name, detail)


def test_failure_names_every_failed_method_and_ignores_skipped_ones():
    ok = MethodOutcome("s", "A", _summary(3))
    dead = MethodOutcome("s", "B", _summary(0, 1))
    skipped = MethodOutcome("s", "C", skipped="needs real input")
    assert failure("s", [ok, skipped]) is None
    assert failure("s", [ok, dead, skipped]) == (
        "1 of 2 methods of s failed: B: no request succeeded (UNAVAILABLE 1)"
    )
    assert failure("s", [skipped]) == "no method of s could be loaded (see the notes)"
    assert failure("s", []) == "no method of s could be loaded (see the notes)"


def test_rows_keep_one_line_per_method():
    long = MethodOutcome("s", "C", skipped="x" * 200)
    ran = MethodOutcome("s", "A", _summary(3))
    rows = table_rows([ran, long])
    assert rows[0]["p50"].endswith(" ms") and rows[0]["errors"] == "0.000%"
    assert rows[0]["slo"] is None and rows[0]["note"] is None
    assert len(rows[1]["note"]) == NOTE_WIDTH and rows[1]["note"].endswith("...")
    header, *lines = to_csv([long, ran]).splitlines()
    assert header.startswith("service,method,outcome,detail,requests,")
    assert lines[0].startswith("s,C,skipped,xxx") and lines[1].startswith("s,A,ok,,3,3,")
