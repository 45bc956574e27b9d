"""Frames per second through streaming (queue + forward) against analytics alone, same run.

Both services run in this process on loopback gRPC with SQLite in a temporary
directory; a client sends frames of 10 detections with a few in flight at a
time. The baseline is the same frames sent straight to analytics.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import grpc

from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics import build as build_analytics
from meshctl.services.base import ServiceSettings
from meshctl.services.frames import to_timestamp
from meshctl.services.host import serve
from meshctl.services.streaming import DirectForwarder, StreamingApp

FRAMES = 400
CONCURRENCY = 8
ROUNDS = 3


def request(i: int, camera: str) -> pb.ProcessDetectionsRequest:
    detections = [
        pb.Detection(track_id=str(k), vehicle_class=pb.VEHICLE_CLASS_CAR, confidence=0.9,
                     speed_kmh=30 + k * 4)
        for k in range(10)
    ]  # fmt: skip
    frame = pb.Frame(camera_id=camera, timestamp=to_timestamp(1e9 + i), detections=detections)
    return pb.ProcessDetectionsRequest(frame=frame)


async def rate(address: str, path: str, camera: str) -> float:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(
            path, request_serializer=pb.ProcessDetectionsRequest.SerializeToString
        )
        queue = list(range(FRAMES))

        async def worker() -> None:
            while queue:
                await call(request(queue.pop(), camera))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return FRAMES / (time.perf_counter() - start)


async def start(app: object, stop: asyncio.Event) -> tuple[asyncio.Task[None], int]:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(app, stop_event=stop, ready=port.set_result))  # type: ignore[arg-type]
    return task, await port


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stop = asyncio.Event()

        def settings(name: str) -> ServiceSettings:
            return ServiceSettings(database_url=f"sqlite+aiosqlite:///{Path(tmp) / name}.db")

        analytics, analytics_port = await start(build_analytics(settings("analytics")), stop)
        forward = DirectForwarder(f"127.0.0.1:{analytics_port}")
        streaming, streaming_port = await start(
            StreamingApp(settings("streaming"), forward=forward), stop
        )
        direct, through = [], []
        for r in range(ROUNDS):
            path = "/its.v1.AnalyticsService/ProcessDetections"
            direct.append(await rate(f"127.0.0.1:{analytics_port}", path, f"d{r}"))
            path = "/its.v1.StreamingService/ProcessDetections"
            through.append(await rate(f"127.0.0.1:{streaming_port}", path, f"s{r}"))
        stop.set()
        await asyncio.gather(analytics, streaming)
        await forward.aclose()
    base, via = statistics.median(direct), statistics.median(through)
    print(f"{FRAMES} frames x {ROUNDS} rounds, {CONCURRENCY} in flight, SQLite")
    print(f"analytics direct (baseline): median {base:7.0f} frames/s")
    print(f"through streaming:           median {via:7.0f} frames/s")
    print(f"streaming keeps {via / base:.0%} of the baseline's throughput")


if __name__ == "__main__":
    asyncio.run(main())
