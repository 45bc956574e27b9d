"""SLO parsing (units, operators, bad syntax) and evaluation against run summaries."""

from __future__ import annotations

import pytest

from meshctl.core.objectives import Objective, evaluate, parse_slos
from meshctl.errors import InvalidRequestError

SUMMARY = {
    "rps": 1200.0,
    "error_rate": 0.0005,
    "latency_ms": {
        "min": 0.2,
        "mean": 3.0,
        "p50": 2.0,
        "p90": 5.0,
        "p95": 8.0,
        "p99": 40.0,
        "p99.9": 90.0,
        "max": 150.0,
    },
}


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("p99<100ms", "p99", "<", 100.0),
        ("p99 < 0.1s", "p99", "<", 100.0),
        ("p50<=500us", "p50", "<=", 0.5),
        ("p99.9<250", "p99.9", "<", 250.0),
        ("max<2s", "max", "<", 2000.0),
        ("errors<0.1%", "errors", "<", 0.001),
        ("errors<=0.01", "errors", "<=", 0.01),
        ("rps>=1000", "rps", ">=", 1000.0),
        ("RPS>5", "rps", ">", 5.0),
    ],
)
def test_each_form_parses(text, metric, op, threshold):
    (objective,) = parse_slos(text)
    assert (objective.metric, objective.op) == (metric, op)
    assert objective.threshold == pytest.approx(threshold)


def test_several_objectives_keep_their_text():
    parsed = parse_slos("p99<100ms, errors<0.1%,rps>=1000,")
    assert [o.text for o in parsed] == ["p99<100ms", "errors<0.1%", "rps>=1000"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        ",",
        "p99",
        "p99<",
        "p99=100ms",
        "p98<1ms",
        "latency<1ms",
        "p99<100min",
        "errors<5ms",
        "errors<200%",
        "rps>=1000/s",
        "rps>=1.2.3",
        "<100ms",
        "p99<<1ms",
        "p99<-1ms",
    ],
)
def test_bad_syntax_is_invalid_input(text):
    with pytest.raises(InvalidRequestError, match="(?i)slo"):
        parse_slos(text)


def test_evaluation_names_each_objective_with_its_actual_value():
    rows = evaluate(parse_slos("p99<100ms,errors<0.1%,rps>=1000,p99.9<50ms,max<=150"), SUMMARY)
    assert rows == [
        {"slo": "p99<100ms", "actual": 40.0, "met": True},
        {"slo": "errors<0.1%", "actual": 0.0005, "met": True},
        {"slo": "rps>=1000", "actual": 1200.0, "met": True},
        {"slo": "p99.9<50ms", "actual": 90.0, "met": False},
        {"slo": "max<=150", "actual": 150.0, "met": True},
    ]


@pytest.mark.parametrize(
    ("op", "actual", "threshold", "met"),
    [
        ("<", 1, 1, False),
        ("<=", 1, 1, True),
        (">", 1, 1, False),
        (">=", 1, 1, True),
        ("<", 0.5, 1, True),
        (">", 2, 1, True),
    ],
)
def test_boundaries(op, actual, threshold, met):
    objective = Objective("rps", op, threshold, "x")
    assert objective.check({"rps": actual}) == (met, actual)
