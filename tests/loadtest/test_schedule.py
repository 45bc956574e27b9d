"""Durations and open-loop schedules: rates, due counts and send offsets."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshctl.errors import InvalidRequestError
from meshctl.loadtest.schedule import Schedule, parse_duration, parse_ramp


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("500ms", 0.5), ("2m", 120), ("1h", 3600), ("1.5s", 1.5), ("7", 7), (" 3 s ", 3)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "-1s", "3x", "1.2.3s", "ten"])
def test_bad_durations_are_refused(text):
    with pytest.raises(InvalidRequestError, match="invalid duration"):
        parse_duration(text)


def test_constant_rate_sends_evenly():
    offsets = list(Schedule.constant(100).offsets(0.1))
    assert offsets == pytest.approx([i / 100 for i in range(10)])


def test_limit_and_duration_both_bound_the_offsets():
    assert len(list(Schedule.constant(1000).offsets(1.0, limit=25))) == 25
    assert len(list(Schedule.constant(10).offsets(1.0, limit=25))) == 10


def test_workers_share_one_schedule_by_stride():
    schedule = Schedule.constant(300)
    everyone = list(schedule.offsets(1.0))
    parts = [list(schedule.offsets(1.0, start=w, stride=3)) for w in range(3)]
    merged = sorted(itertools.chain.from_iterable(parts))
    assert merged == pytest.approx(everyone)
    assert [len(p) for p in parts] == [100, 100, 100]


def test_linear_ramp_rate_and_count():
    ramp = parse_ramp("100:1000:30s")
    assert ramp.rate_at(0) == 100
    assert ramp.rate_at(15) == pytest.approx(550)
    assert ramp.rate_at(30) == 1000 == ramp.rate_at(100)
    assert ramp.count_by(30) == pytest.approx((100 + 1000) / 2 * 30)
    assert ramp.count_by(40) == pytest.approx(16500 + 10_000)


def test_linear_ramp_offsets_follow_the_rising_rate():
    ramp = parse_ramp("10:100:10s")
    offsets = list(ramp.offsets(20))
    assert len(offsets) == round(ramp.count_by(20))
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert gaps[0] == pytest.approx(0.1, rel=0.05)
    assert gaps[-1] == pytest.approx(0.01, rel=0.01)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(gaps))  # never slower


def test_step_ramp_holds_each_rate_for_its_step():
    steps = parse_ramp("step:100,200,400@10s")
    assert [steps.rate_at(t) for t in (0, 9.99, 10, 19.9, 20, 99)] == [
        100,
        100,
        200,
        200,
        400,
        400,
    ]
    assert steps.count_by(30) == pytest.approx(1000 + 2000 + 4000)
    offsets = list(steps.offsets(20))
    assert len(offsets) == 3000
    assert offsets[999] == pytest.approx(9.99)
    assert offsets[1000] == pytest.approx(10.0)
    assert offsets[1001] == pytest.approx(10.005)


def test_a_falling_ramp_is_allowed():
    down = parse_ramp("1000:100:10s")
    assert down.count_by(10) == pytest.approx(5500)
    assert len(list(down.offsets(10))) == pytest.approx(5500, abs=1)


def test_zero_length_ramp_is_the_target_rate():
    assert parse_ramp("100:500:0s") == Schedule.constant(500)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "100",
        "100:200",
        "a:200:3s",
        "100:-5:3s",
        "100:200:3x",
        "step:100,200",
        "step:@1s",
        "step:100,x@1s",
        "step:100@0s",
        "0:100:1s",
        "inf:100:1s",
        "nan:1:1s",
        "1:2:3:4",
    ],
)
def test_bad_ramps_are_refused_with_the_syntax(spec):
    with pytest.raises(InvalidRequestError, match=r"invalid (ramp|rate|duration)"):
        parse_ramp(spec)


def test_schedule_checks_its_points():
    for points in [(), ((1.0, 10.0),), ((0.0, 10.0), (-1.0, 5.0)), ((0.0, 10.0), (1.0, 0.0))]:
        with pytest.raises(ValueError):
            Schedule(points)


@given(
    rates=st.lists(st.floats(1, 1000), min_size=1, max_size=5),
    step=st.floats(0.01, 5),
    t=st.floats(0, 10),
)
def test_due_count_matches_the_offsets(rates, step, t):
    """Request n is due once n requests' worth of rate has passed: ceil(count_by(t)) by t."""
    schedule = parse_ramp("step:" + ",".join(f"{r:.3f}" for r in rates) + f"@{step:.3f}s")
    sent = sum(1 for _ in schedule.offsets(t))
    assert abs(sent - schedule.count_by(t)) < 1 + 1e-6
