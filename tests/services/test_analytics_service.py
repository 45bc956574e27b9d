"""Every analytics method over real gRPC on loopback, with SQLite and PostgreSQL storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import grpc
import pytest

from meshctl.core.context import CorrelationContext
from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import analytics_pb2_grpc
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics import build
from meshctl.services.frames import to_timestamp
from meshctl.testing import served
from tests.support.services import T0, cars, frame, settings

# A number no VehicleClass has: the wire carries any, the service must refuse it.
UNKNOWN_CLASS = pb.Detection(vehicle_class=cast(pb.VehicleClass, 99))


async def _stub(port: int) -> tuple[grpc.aio.Channel, Any]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return channel, analytics_pb2_grpc.AnalyticsServiceStub(channel)


async def test_every_method_and_restart_durability(database_url: str) -> None:
    config = settings(database_url, speed_limits_kmh={"school": 30}, anomaly_min_history=3)
    async with served(build(config)) as port:
        channel, stub = await _stub(port)
        async with channel:
            ctx = CorrelationContext.new("corr-analytics")
            result = await stub.ProcessDetections(
                frame(
                    "cam-1",
                    T0 + 1,
                    pb.Detection(track_id="fast", vehicle_class=pb.VEHICLE_CLASS_CAR,
                                 confidence=0.9, speed_kmh=50, lane=1,
                                 direction=pb.DIRECTION_WESTBOUND, crossed_stop_line=True),
                    pb.Detection(track_id="slow", vehicle_class=pb.VEHICLE_CLASS_BUS,
                                 confidence=0.8, speed_kmh=20),
                    frame_id="f-1",
                    zone="school",
                    signal_phase=pb.SIGNAL_PHASE_RED,
                    lanes=[pb.LaneInfo(lane=1, allowed_direction=pb.DIRECTION_EASTBOUND)],
                ),
                metadata=tuple(ctx.to_headers().items()),
            )  # fmt: skip
            assert result.correlation_id == "corr-analytics"
            assert (result.frame_id, result.vehicle_count, result.average_speed_kmh) == (
                "f-1",
                2,
                35.0,
            )
            kinds = sorted((v.type, v.severity) for v in result.violations)
            assert kinds == [
                (pb.VIOLATION_TYPE_SPEEDING, pb.SEVERITY_CRITICAL),
                (pb.VIOLATION_TYPE_RED_LIGHT, pb.SEVERITY_HIGH),
                (pb.VIOLATION_TYPE_WRONG_WAY, pb.SEVERITY_CRITICAL),
            ]
            speeding = next(v for v in result.violations if v.type == pb.VIOLATION_TYPE_SPEEDING)
            assert speeding.evidence.limit_value == 30 and speeding.evidence.frame_id == "f-1"

            # A redelivered frame is answered as before and not counted twice.
            again = await stub.ProcessDetections(frame("cam-1", T0 + 1, frame_id="f-1"))
            assert sorted(v.violation_id for v in again.violations) == sorted(
                v.violation_id for v in result.violations
            )

            # Steady traffic on cam-2 for five windows, then a surge.
            for index, n in enumerate([10, 11, 9, 10, 40, 10]):
                await stub.ProcessDetections(frame("cam-2", T0 + 60 * index + 5, *cars(n)))

            filtered = await stub.GetActiveViolations(
                apb.GetActiveViolationsRequest(camera_id="cam-1", min_severity=pb.SEVERITY_CRITICAL)
            )
            assert sorted(v.type for v in filtered.violations) == [
                pb.VIOLATION_TYPE_SPEEDING,
                pb.VIOLATION_TYPE_WRONG_WAY,
            ]
            by_type = await stub.GetActiveViolations(
                apb.GetActiveViolationsRequest(type=pb.VIOLATION_TYPE_RED_LIGHT)
            )
            assert [v.track_id for v in by_type.violations] == ["fast"]

            window = pb.TimeWindow(start=to_timestamp(T0), end=to_timestamp(T0 + 360))
            metrics = await stub.GetTrafficMetrics(
                pb.GetTrafficMetricsRequest(camera_id="cam-2", window=window, window_seconds=60)
            )
            assert [m.vehicle_count for m in metrics.metrics] == [10, 11, 9, 10, 40, 10]
            assert metrics.metrics[0].counts_by_class == {"car": 10}
            assert metrics.metrics[0].average_speed_kmh == 40.0

            anomalies = await stub.GetTrafficAnomalies(
                apb.GetTrafficAnomaliesRequest(camera_id="cam-2", window=window)
            )
            [surge] = anomalies.anomalies
            assert (surge.type, surge.metric, surge.observed) == (
                pb.ANOMALY_TYPE_HIGH_VOLUME,
                "vehicle_count",
                40,
            )

            report = (await stub.GenerateReport(apb.GenerateReportRequest(window=window))).report
            assert report.frame_count == 7 and report.vehicle_count == 92
            assert report.counts_by_class == {"car": 91, "bus": 1}
            assert report.violations_by_type == {"speeding": 1, "red_light": 1, "wrong_way": 1}
            assert report.violations_by_severity == {"critical": 2, "high": 1}
            assert report.anomaly_count == 1 and list(report.camera_ids) == ["cam-1", "cam-2"]

    # A new app on the same database still has everything.
    async with served(build(config)) as port:
        channel, stub = await _stub(port)
        async with channel:
            active = await stub.GetActiveViolations(apb.GetActiveViolationsRequest())
            assert len(active.violations) == 3
            report = (await stub.GenerateReport(apb.GenerateReportRequest())).report
            assert report.frame_count == 7 and report.anomaly_count == 1


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ProcessDetectionsRequest(), "frame is required"),
        (pb.ProcessDetectionsRequest(frame=pb.Frame()), "frame.camera_id"),
        (frame("c", T0, pb.Detection(confidence=1.5)), "frame.detections[0].confidence"),
        (frame("c", T0, *cars(1), pb.Detection(speed_kmh=-3)), "frame.detections[1].speed_kmh"),
        (frame("c", T0, UNKNOWN_CLASS), "frame.detections[0].vehicle_class"),
    ],
)
async def test_bad_frames_are_invalid_argument_naming_the_field(
    tmp_path: Path, request_: Any, field: str
) -> None:
    async with served(build(settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"))) as port:
        channel, stub = await _stub(port)
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ProcessDetections(request_)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in (caught.value.details() or "")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetTrafficMetrics(pb.GetTrafficMetricsRequest(window_seconds=-1))
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "window_seconds" in (caught.value.details() or "")
