"""Traffic anomalies: a window's volume or mean speed far from the camera's rolling baseline.

Frames are grouped into fixed windows per camera (by frame time, so the frame
clock drives it and tests need no sleeps). When a frame opens a new window,
the window just completed is compared with the ones before it: with at least
``min_history`` of them, a z-score beyond ``threshold`` is an anomaly
(severity high beyond twice the threshold, else medium).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

from meshctl.proto.its.v1 import common_pb2 as pb

# Floors the spread of a perfectly steady baseline, so one deviation still scores finitely.
_MIN_STDDEV = 1e-3


@dataclass(frozen=True, slots=True)
class AnomalyFinding:
    type: int  # its.v1.AnomalyType
    severity: int
    metric: str
    observed: float
    mean: float
    stddev: float
    z_score: float
    window_start: float
    window_end: float


def score(history: list[float], observed: float) -> tuple[float, float, float]:
    """``(z, mean, stddev)`` of ``observed`` against ``history``."""
    mean = statistics.fmean(history)
    stddev = max(statistics.pstdev(history, mean), _MIN_STDDEV)
    return (observed - mean) / stddev, mean, stddev


@dataclass(slots=True)
class _Window:
    start: float
    vehicles: int = 0
    speed_sum: float = 0.0
    speed_samples: int = 0


class Baseline:
    """One camera's completed windows and the one filling now."""

    def __init__(self, window_seconds: float, threshold: float, min_history: int, keep: int):
        self.window_seconds = window_seconds
        self.threshold = threshold
        self.min_history = min_history
        self.volumes: deque[float] = deque(maxlen=keep)
        self.speeds: deque[float] = deque(maxlen=keep)
        self.current: _Window | None = None

    def observe(
        self, ts: float, vehicles: int, speed_sum: float, speed_samples: int
    ) -> list[AnomalyFinding]:
        """Add one frame; returns the anomalies of the window it closes, if any."""
        start = ts - ts % self.window_seconds
        findings: list[AnomalyFinding] = []
        if self.current is None or start > self.current.start:
            if self.current is not None:
                findings = self._close(self.current)
            self.current = _Window(start)
        # A late frame for an already closed window still counts towards the current one.
        self.current.vehicles += vehicles
        self.current.speed_sum += speed_sum
        self.current.speed_samples += speed_samples
        return findings

    def _close(self, window: _Window) -> list[AnomalyFinding]:
        end = window.start + self.window_seconds
        findings = []
        checks: list[tuple[str, deque[float], float | None, int, int]] = [
            ("vehicle_count", self.volumes, float(window.vehicles),
             pb.ANOMALY_TYPE_HIGH_VOLUME, pb.ANOMALY_TYPE_LOW_VOLUME),
            ("average_speed_kmh", self.speeds,
             window.speed_sum / window.speed_samples if window.speed_samples else None,
             pb.ANOMALY_TYPE_HIGH_SPEED, pb.ANOMALY_TYPE_LOW_SPEED),
        ]  # fmt: skip
        for metric, history, observed, high, low in checks:
            if observed is None:
                continue
            if len(history) >= self.min_history:
                z, mean, stddev = score(list(history), observed)
                if abs(z) >= self.threshold:
                    severity = (
                        pb.SEVERITY_HIGH if abs(z) >= 2 * self.threshold else pb.SEVERITY_MEDIUM
                    )
                    findings.append(
                        AnomalyFinding(
                            high if z > 0 else low,
                            severity,
                            metric,
                            observed,
                            mean,
                            stddev,
                            z,
                            window.start,
                            end,
                        )  # fmt: skip
                    )
            history.append(observed)
        return findings
