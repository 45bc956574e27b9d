"""Settings and analytics requests for the reference services' tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics.service import AnalyticsApp
from meshctl.services.base import ServiceSettings
from meshctl.services.frames import to_timestamp

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 60  # start of a window


def settings(database_url: str, **overrides: Any) -> ServiceSettings:
    """Service settings on ``database_url`` (``MESH_*`` variables still apply)."""
    return ServiceSettings.model_validate({"database_url": database_url, **overrides})


def frame(camera: str, ts: float, *detections: pb.Detection, **fields: Any) -> Any:
    """A ProcessDetections request: one frame of ``camera`` at ``ts``."""
    return pb.ProcessDetectionsRequest(
        frame=pb.Frame(
            camera_id=camera, timestamp=to_timestamp(ts), detections=detections, **fields
        )
    )


def cars(n: int, speed: float = 40.0) -> list[pb.Detection]:
    """``n`` cars driving at ``speed``."""
    return [
        pb.Detection(track_id=f"t{i}", vehicle_class=pb.VEHICLE_CLASS_CAR, confidence=0.9,
                     speed_kmh=speed)
        for i in range(n)
    ]  # fmt: skip


@asynccontextmanager
async def analytics_app(
    database_url: str, clock: Callable[[], float], **overrides: Any
) -> AsyncIterator[AnalyticsApp]:
    """A started analytics app on ``database_url`` (a replica, if others use it too)."""
    app = AnalyticsApp(settings(database_url, **overrides), clock)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()
