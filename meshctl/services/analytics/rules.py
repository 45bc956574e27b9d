"""Violation rules: pure functions of one detection and its frame's scene metadata.

speeding   speed over the limit of the frame's zone (else the camera's, else the default);
           severity grows with the excess: >10 % medium, >25 % high, >50 % critical.
red_light  crossed the stop line in this frame while the signal showed red (high).
wrong_way  travelling opposite to the lane's allowed direction (critical).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from meshctl.proto.its.v1 import common_pb2 as pb

OPPOSITE: dict[int, int] = {
    pb.DIRECTION_NORTHBOUND: pb.DIRECTION_SOUTHBOUND,
    pb.DIRECTION_SOUTHBOUND: pb.DIRECTION_NORTHBOUND,
    pb.DIRECTION_EASTBOUND: pb.DIRECTION_WESTBOUND,
    pb.DIRECTION_WESTBOUND: pb.DIRECTION_EASTBOUND,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's verdict on one detection."""

    type: int  # its.v1.ViolationType
    severity: int  # its.v1.Severity
    measured: float
    limit: float
    description: str


def speed_limit(camera_id: str, zone: str, limits: Mapping[str, float], default: float) -> float:
    """The limit for a frame: by zone first, then by camera id, else ``default``."""
    if zone and zone in limits:
        return limits[zone]
    return limits.get(camera_id, default)


def speeding_severity(speed: float, limit: float) -> int:
    excess = (speed - limit) / limit
    if excess > 0.5:
        return pb.SEVERITY_CRITICAL
    if excess > 0.25:
        return pb.SEVERITY_HIGH
    if excess > 0.1:
        return pb.SEVERITY_MEDIUM
    return pb.SEVERITY_LOW


def check_speeding(det: pb.Detection, limit: float) -> Finding | None:
    if det.speed_kmh <= limit:
        return None
    return Finding(
        pb.VIOLATION_TYPE_SPEEDING,
        speeding_severity(det.speed_kmh, limit),
        det.speed_kmh,
        limit,
        f"{det.speed_kmh:.1f} km/h in a {limit:g} km/h zone",
    )


def check_red_light(det: pb.Detection, phase: int) -> Finding | None:
    if not (det.crossed_stop_line and phase == pb.SIGNAL_PHASE_RED):
        return None
    return Finding(
        pb.VIOLATION_TYPE_RED_LIGHT, pb.SEVERITY_HIGH, 0.0, 0.0, "crossed the stop line on red"
    )


def check_wrong_way(det: pb.Detection, allowed: Mapping[int, int]) -> Finding | None:
    """``allowed`` maps lane number to its allowed direction."""
    lane_direction = allowed.get(det.lane, pb.DIRECTION_UNSPECIFIED)
    if lane_direction == pb.DIRECTION_UNSPECIFIED or det.direction != OPPOSITE[lane_direction]:
        return None
    return Finding(
        pb.VIOLATION_TYPE_WRONG_WAY,
        pb.SEVERITY_CRITICAL,
        0.0,
        0.0,
        f"travelling {pb.Direction.Name(det.direction)[10:].lower()} in lane {det.lane}, "
        f"which is {pb.Direction.Name(lane_direction)[10:].lower()}",
    )


def evaluate_frame(
    frame: pb.Frame, limits: Mapping[str, float], default_limit: float
) -> list[tuple[pb.Detection, Finding]]:
    """Every violation in ``frame``, in detection order."""
    limit = speed_limit(frame.camera_id, frame.zone, limits, default_limit)
    allowed = {lane.lane: lane.allowed_direction for lane in frame.lanes}
    hits = []
    for det in frame.detections:
        if det.vehicle_class == pb.VEHICLE_CLASS_PEDESTRIAN:
            continue
        for finding in (
            check_speeding(det, limit),
            check_red_light(det, frame.signal_phase),
            check_wrong_way(det, allowed),
        ):
            if finding is not None:
                hits.append((det, finding))
    return hits
