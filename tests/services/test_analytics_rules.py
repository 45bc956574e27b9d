"""Violation rules and anomaly baselines, without gRPC or storage."""

from __future__ import annotations

import pytest

from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics.anomaly import AnomalyFinding, Baseline, score
from meshctl.services.analytics.rules import (
    check_red_light,
    check_speeding,
    check_wrong_way,
    evaluate_frame,
    speed_limit,
)


def test_speed_limit_prefers_zone_then_camera_then_default() -> None:
    limits = {"school": 30.0, "cam-1": 80.0}
    assert speed_limit("cam-1", "school", limits, 50) == 30
    assert speed_limit("cam-1", "", limits, 50) == 80
    assert speed_limit("cam-2", "unknown", limits, 50) == 50


@pytest.mark.parametrize(
    ("speed", "severity"),
    [
        (50.0, None),
        (54.0, pb.SEVERITY_LOW),
        (60.0, pb.SEVERITY_MEDIUM),
        (70.0, pb.SEVERITY_HIGH),
        (80.0, pb.SEVERITY_CRITICAL),
    ],
)
def test_speeding_severity_grows_with_the_excess(speed: float, severity: int | None) -> None:
    finding = check_speeding(pb.Detection(speed_kmh=speed), 50)
    assert (finding.severity if finding else None) == severity
    if finding:
        assert (finding.type, finding.measured, finding.limit) == (
            pb.VIOLATION_TYPE_SPEEDING,
            speed,
            50,
        )


def test_red_light_needs_a_crossing_on_red() -> None:
    crossing = pb.Detection(crossed_stop_line=True)
    assert check_red_light(crossing, pb.SIGNAL_PHASE_RED) is not None
    assert check_red_light(crossing, pb.SIGNAL_PHASE_GREEN) is None
    assert check_red_light(pb.Detection(), pb.SIGNAL_PHASE_RED) is None


def test_wrong_way_is_the_opposite_of_the_lane_direction() -> None:
    lanes = {1: pb.DIRECTION_NORTHBOUND}
    wrong = pb.Detection(lane=1, direction=pb.DIRECTION_SOUTHBOUND)
    assert check_wrong_way(wrong, lanes).severity == pb.SEVERITY_CRITICAL  # type: ignore[union-attr]
    assert check_wrong_way(pb.Detection(lane=1, direction=pb.DIRECTION_EASTBOUND), lanes) is None
    assert check_wrong_way(pb.Detection(lane=2, direction=pb.DIRECTION_SOUTHBOUND), lanes) is None


def test_evaluate_frame_finds_every_rule_and_skips_pedestrians() -> None:
    frame = pb.Frame(
        camera_id="cam-1",
        signal_phase=pb.SIGNAL_PHASE_RED,
        lanes=[pb.LaneInfo(lane=1, allowed_direction=pb.DIRECTION_EASTBOUND)],
        detections=[
            pb.Detection(track_id="a", vehicle_class=pb.VEHICLE_CLASS_CAR, speed_kmh=90),
            pb.Detection(track_id="b", crossed_stop_line=True, speed_kmh=20),
            pb.Detection(track_id="c", lane=1, direction=pb.DIRECTION_WESTBOUND),
            pb.Detection(
                track_id="d", vehicle_class=pb.VEHICLE_CLASS_PEDESTRIAN, crossed_stop_line=True
            ),
        ],
    )
    hits = [(det.track_id, f.type) for det, f in evaluate_frame(frame, {}, 50)]
    assert hits == [
        ("a", pb.VIOLATION_TYPE_SPEEDING),
        ("b", pb.VIOLATION_TYPE_RED_LIGHT),
        ("c", pb.VIOLATION_TYPE_WRONG_WAY),
    ]


def test_score_of_a_steady_baseline_is_finite() -> None:
    z, mean, stddev = score([10.0, 10.0, 10.0], 11.0)
    assert mean == 10 and stddev > 0 and z > 100


def _feed(
    baseline: Baseline, window: int, vehicles: int, speed: float = 40.0
) -> list[AnomalyFinding]:
    return baseline.observe(window * 60.0 + 1, vehicles, speed * vehicles, vehicles)


def test_baseline_flags_a_volume_spike_only_after_enough_history() -> None:
    baseline = Baseline(60, threshold=3.0, min_history=3, keep=10)
    found = []
    for window, vehicles in enumerate([10, 11, 9, 10, 60, 10]):
        found += [(window, f.type, f.metric) for f in _feed(baseline, window, vehicles)]
    # Window 4 (60 vehicles) closes when window 5 begins.
    assert found == [(5, pb.ANOMALY_TYPE_HIGH_VOLUME, "vehicle_count")]


def test_baseline_needs_min_history_and_flags_slow_traffic() -> None:
    baseline = Baseline(60, threshold=3.0, min_history=3, keep=10)
    assert _feed(baseline, 0, 10) == [] and _feed(baseline, 1, 50) == []  # too little history
    for window in range(2, 6):
        _feed(baseline, window, 10)
    found = _feed(baseline, 6, 10, speed=5.0) + _feed(baseline, 7, 10)
    assert [(f.type, f.severity) for f in found] == [(pb.ANOMALY_TYPE_LOW_SPEED, pb.SEVERITY_HIGH)]
    assert found[0].window_start == 360 and found[0].window_end == 420
