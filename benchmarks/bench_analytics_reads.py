"""Analytics' reads under load through the mesh: GetActiveViolations by default.

Replicas of analytics (``AnalyticsFleet``, 2 by default, each its own
process) share one database: a fresh SQLite file, or a fresh database on the
local PostgreSQL with ``--postgres``. It is seeded first with the last hour
of a 50-camera site written straight into the tables: 20,000 frames, a
violation in about a third of them, an anomaly in one in fifty. Then
``meshctl loadtest`` (its own process) calls the method with its sample
request (GetActiveViolations: cam001's 10 newest) through discovery,
balancer and breakers: closed loop with 16 and with 64 callers, and open
loop at 1,000 rps against the issue's SLO. Server CPU per call is the
replicas' CPU time over the calls answered. Everything shares the 2 cores.

To measure an older checkout, put it first on the path:
``PYTHONPATH=/tmp/before .venv/bin/python benchmarks/bench_analytics_reads.py``
(the servers and the load generator then run that code).
Run: .venv/bin/python benchmarks/bench_analytics_reads.py [--postgres] [--method NAME]
     [--replicas N] [--frames N] [--seconds N]
     [--profile FILE]  (one replica under pyinstrument, 64 callers, profile to FILE)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from meshbench import AnalyticsFleet, cpu_seconds, fleet_options, load_average, loadtest, show
from sqlalchemy import insert

from meshctl.config import MeshSettings
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics.storage import AnomalyRow, FrameRow, ViolationRow
from meshctl.services.base import ServiceSettings
from meshctl.services.sql import open_database
from meshctl.testing import temporary_database

REDIS_URL = MeshSettings().redis_url
CAMERAS = [f"cam{i:03d}" for i in range(50)]
SLO = "p99<100ms,errors<0.1%"


def seeded_rows(frames: int, now: float, seed: int = 1) -> tuple[list[dict[str, Any]], ...]:
    """Rows of the last hour: frames, violations and anomalies, as the tables hold them."""
    rng = random.Random(seed)
    frame_rows, violation_rows, anomaly_rows = [], [], []
    anomaly_columns = AnomalyRow.__table__.columns
    for i in range(frames):
        ts = now - 3600 + i * 3600 / frames
        camera, frame_id, cars = rng.choice(CAMERAS), uuid.uuid4().hex, rng.randint(0, 6)
        speeds = [rng.uniform(20, 70) for _ in range(cars)]
        frame_rows.append(
            {"frame_id": frame_id, "camera_id": camera, "ts": ts, "vehicle_count": cars,
             "detection_count": cars, "speed_sum": sum(speeds), "speed_samples": cars,
             "counts": {"car": cars} if cars else {}}
        )  # fmt: skip
        if rng.random() < 0.35:
            violation_rows.append(
                {"violation_id": uuid.uuid4().hex, "frame_id": frame_id, "camera_id": camera,
                 "type": rng.randint(1, 5), "severity": rng.randint(1, 4), "track_id": "t1",
                 "vehicle_class": pb.VEHICLE_CLASS_CAR, "lane": 1, "detected_at": ts,
                 "measured": 70.0, "limit": 50.0, "description": "seeded", "bbox": [0, 0, 1, 1],
                 "resolved": False}
            )  # fmt: skip
        if rng.random() < 0.02:
            start = ts - ts % 60 - 60
            row = {"anomaly_id": uuid.uuid4().hex, "camera_id": camera, "type": rng.randint(1, 4),
                   "severity": rng.randint(2, 3), "metric": "vehicle_count", "observed": 40.0,
                   "mean": 10.0, "stddev": 1.0, "z_score": 30.0, "window_start": start,
                   "window_end": start + 60, "detected_at": ts, "description": "seeded",
                   "frame_id": frame_id}  # fmt: skip
            anomaly_rows.append({k: v for k, v in row.items() if k in anomaly_columns})
    return frame_rows, violation_rows, anomaly_rows


async def seed(url: str, frames: int) -> None:
    engine, sessions = await open_database(ServiceSettings(database_url=url), "analytics")
    rows = seeded_rows(frames, time.time())
    async with sessions.begin() as session:
        for table, values in zip((FrameRow, ViolationRow, AnomalyRow), rows, strict=True):
            for i in range(0, len(values), 1000):
                await session.execute(insert(table), values[i : i + 1000])
    await engine.dispose()
    print(f"seeded {len(rows[0])} frames, {len(rows[1])} violations, {len(rows[2])} anomalies")


def measure(label: str, fleet: AnalyticsFleet, prefix: str, *args: str) -> None:
    pids = [proc.pid for proc in fleet.procs.values()]
    before = sum(cpu_seconds(pid) for pid in pids)
    data = loadtest(REDIS_URL, prefix, *args)
    used = sum(cpu_seconds(pid) for pid in pids) - before
    show(label, data)
    ok = max(data["summary"]["ok"], 1)
    print(f"  server CPU {used / ok * 1000:.3f} ms per call; load average {load_average()}")


async def bench(args: argparse.Namespace) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        kind = "postgres" if args.postgres else "sqlite"
        url = await stack.enter_async_context(temporary_database(kind, Path(tmp)))
        await seed(url, args.frames)
        fleet = AnalyticsFleet(REDIS_URL, prefix, tmp, database_url=url, profile=args.profile)
        stack.callback(fleet.stop_all)
        ports = [fleet.start() for _ in range(1 if args.profile else args.replicas)]
        call = ["analytics", args.method, "--duration", f"{args.seconds}s"]
        if args.profile:
            loadtest(REDIS_URL, prefix, *call, "-c", "64")
            fleet.stop(ports[0])
            print(f"server profile of {args.seconds} s at 64 callers in {args.profile}")
            return
        print(f"analytics {args.method} on {kind}, {len(ports)} replicas on one database")
        for callers in (16, 64):
            measure(f"closed loop, {callers} callers", fleet, prefix, *call, "-c", str(callers))
        measure(f"open loop, 1000 rps, slo {SLO}", fleet, prefix, *call, "--rps", "1000",
                "--warmup", "2s", "--slo", SLO)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    fleet_options(parser, replicas=2)
    parser.add_argument("--method", default="GetActiveViolations")
    parser.add_argument("--frames", type=int, default=20_000, help="seeded frames")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
