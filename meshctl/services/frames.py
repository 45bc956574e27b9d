"""Frames of detections: validation, per-frame statistics and windowed traffic metrics.

Pure functions over ``its.v1`` messages, shared by streaming and analytics.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

from meshctl.errors import InvalidRequestError
from meshctl.proto.its.v1 import common_pb2

MAX_ID_LENGTH = 128
MAX_SPEED_KMH = 500.0
MAX_DETECTIONS = 10_000


def enum_name(enum: object, value: int, prefix: str) -> str:
    """``VEHICLE_CLASS_CAR`` → ``car`` for map keys and reports."""
    name: str = enum.Name(value)  # type: ignore[attr-defined]
    return name.removeprefix(prefix).lower()


@functools.cache
def class_name(value: int) -> str:
    return enum_name(common_pb2.VehicleClass, value, "VEHICLE_CLASS_")


def to_seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def to_timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts


@functools.cache
def _enum_values(enum: object) -> frozenset[int]:
    return frozenset(enum.values())  # type: ignore[attr-defined]


def _enum_ok(enum: object, value: int) -> bool:
    # values() builds a list each time: three checks per detection add up
    return value in _enum_values(enum)


def _check_id(value: str, field_name: str, *, required: bool) -> None:
    if required and not value.strip():
        raise InvalidRequestError(f"{field_name} is required")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidRequestError(f"{field_name} is longer than {MAX_ID_LENGTH} characters")


def _check_detection(det: common_pb2.Detection, where: str) -> None:
    if not (math.isfinite(det.confidence) and 0.0 <= det.confidence <= 1.0):
        raise InvalidRequestError(
            f"{where}.confidence must be between 0 and 1, not {det.confidence:g}"
        )
    if not _enum_ok(common_pb2.VehicleClass, det.vehicle_class):
        raise InvalidRequestError(f"{where}.vehicle_class {det.vehicle_class} is not a known class")
    if not (math.isfinite(det.speed_kmh) and 0.0 <= det.speed_kmh <= MAX_SPEED_KMH):
        raise InvalidRequestError(
            f"{where}.speed_kmh must be between 0 and {MAX_SPEED_KMH:g}, not {det.speed_kmh:g}"
        )
    if det.lane < 0:
        raise InvalidRequestError(f"{where}.lane must not be negative")
    if not _enum_ok(common_pb2.Direction, det.direction):
        raise InvalidRequestError(f"{where}.direction {det.direction} is not a known direction")
    box = det.bbox
    if not all(math.isfinite(v) for v in (box.x, box.y, box.width, box.height)):
        raise InvalidRequestError(f"{where}.bbox has a non-finite coordinate")
    if box.width < 0 or box.height < 0:
        raise InvalidRequestError(f"{where}.bbox width and height must not be negative")
    _check_id(det.track_id, f"{where}.track_id", required=False)


def validate_frame(request: common_pb2.ProcessDetectionsRequest) -> common_pb2.Frame:
    """The request's frame, or InvalidRequestError naming the first bad field."""
    if not request.HasField("frame"):
        raise InvalidRequestError("frame is required")
    frame = request.frame
    _check_id(frame.camera_id, "frame.camera_id", required=True)
    _check_id(frame.frame_id, "frame.frame_id", required=False)
    _check_id(frame.zone, "frame.zone", required=False)
    if frame.HasField("timestamp") and not (
        frame.timestamp.seconds >= 0 and 0 <= frame.timestamp.nanos < 1_000_000_000
    ):
        raise InvalidRequestError("frame.timestamp must be a valid time after 1970")
    if not _enum_ok(common_pb2.SignalPhase, frame.signal_phase):
        raise InvalidRequestError(f"frame.signal_phase {frame.signal_phase} is not a known phase")
    if len(frame.detections) > MAX_DETECTIONS:
        raise InvalidRequestError(f"frame.detections holds more than {MAX_DETECTIONS} detections")
    for i, lane in enumerate(frame.lanes):
        if lane.lane < 0:
            raise InvalidRequestError(f"frame.lanes[{i}].lane must not be negative")
        if not _enum_ok(common_pb2.Direction, lane.allowed_direction):
            raise InvalidRequestError(
                f"frame.lanes[{i}].allowed_direction is not a known direction"
            )
    for i, det in enumerate(frame.detections):
        _check_detection(det, f"frame.detections[{i}]")
    return frame


@dataclass(slots=True)
class FrameStats:
    """What metrics need of one frame; stored as a row by both services."""

    camera_id: str
    ts: float
    vehicle_count: int = 0
    detection_count: int = 0
    speed_sum: float = 0.0
    speed_samples: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def frame_stats(frame: common_pb2.Frame, ts: float) -> FrameStats:
    """Counts by class, vehicles (pedestrians excluded) and the speeds measured."""
    stats = FrameStats(frame.camera_id, ts, detection_count=len(frame.detections))
    for det in frame.detections:
        name = class_name(det.vehicle_class)
        stats.counts[name] = stats.counts.get(name, 0) + 1
        if det.vehicle_class != common_pb2.VEHICLE_CLASS_PEDESTRIAN:
            stats.vehicle_count += 1
        if det.speed_kmh > 0:
            stats.speed_sum += det.speed_kmh
            stats.speed_samples += 1
    return stats


@dataclass(slots=True)
class Totals:
    """Frames added up over a stretch of time."""

    start: float
    end: float
    frames: int = 0
    vehicles: int = 0
    detections: int = 0
    speed_sum: float = 0.0
    speed_samples: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, stats: FrameStats) -> None:
        self.frames += 1
        self.vehicles += stats.vehicle_count
        self.detections += stats.detection_count
        self.speed_sum += stats.speed_sum
        self.speed_samples += stats.speed_samples
        for name, n in stats.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n

    @property
    def average_speed(self) -> float:
        return self.speed_sum / self.speed_samples if self.speed_samples else 0.0


def totals(rows: Iterable[FrameStats], start: float, end: float) -> Totals:
    """Every row added into one total."""
    total = Totals(start, end)
    for row in rows:
        total.add(row)
    return total


def aggregate(
    rows: Iterable[FrameStats], start: float, end: float, bucket_seconds: int = 0
) -> list[common_pb2.TrafficMetrics]:
    """Metrics per camera and per bucket of ``[start, end)`` (one bucket when 0), oldest first."""
    buckets: dict[tuple[str, float], Totals] = {}
    for row in rows:
        if bucket_seconds > 0:
            b_start = start + (row.ts - start) // bucket_seconds * bucket_seconds
            b_end = min(b_start + bucket_seconds, end)
        else:
            b_start, b_end = start, end
        key = (row.camera_id, b_start)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = Totals(b_start, b_end)
        bucket.add(row)
    return [
        common_pb2.TrafficMetrics(
            camera_id=camera_id,
            window=common_pb2.TimeWindow(start=to_timestamp(b.start), end=to_timestamp(b.end)),
            frame_count=b.frames,
            vehicle_count=b.vehicles,
            counts_by_class=b.counts,
            average_speed_kmh=b.average_speed,
            occupancy=b.detections / b.frames,
        )
        for (camera_id, _), b in sorted(buckets.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def window_bounds(
    window: common_pb2.TimeWindow, has_window: bool, now: float
) -> tuple[float, float]:
    """``[start, end)`` seconds of a requested window; unset parts mean "from 0" / "until now"."""
    start = to_seconds(window.start) if has_window and window.HasField("start") else 0.0
    end = to_seconds(window.end) if has_window and window.HasField("end") else now + 1e-6
    if end <= start:
        raise InvalidRequestError("window.end must be after window.start")
    return start, end


def metrics_query(
    request: common_pb2.GetTrafficMetricsRequest, now: float
) -> tuple[list[str], float, float, int]:
    """``(camera_ids, start, end, bucket_seconds)`` of a GetTrafficMetrics request."""
    if request.window_seconds < 0:
        raise InvalidRequestError("window_seconds must not be negative")
    start, end = window_bounds(request.window, request.HasField("window"), now)
    return ([request.camera_id] if request.camera_id else []), start, end, request.window_seconds
