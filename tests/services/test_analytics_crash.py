"""SIGKILL analytics (its own process) under load: every frame answered OK is stored, once."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select

from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import analytics_pb2_grpc
from meshctl.services.analytics.storage import FrameRow, ViolationRow
from meshctl.services.sql import open_database
from tests.support.services import T0, cars, frame, settings

pytestmark = pytest.mark.redis

CALLERS = 32
KILL_AFTER = 300  # frames answered OK before the kill


@asynccontextmanager
async def analytics_process(
    redis_url: str, prefix: str, database_url: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Any]]:
    """``python -m meshctl.services.analytics`` on a free port, and a stub for it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meshctl.services.analytics", "--port", "0",
        "--registry", redis_url, "--prefix", prefix, "--database-url", database_url,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        port = None
        while port is None:
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            assert line, f"analytics exited with {await process.wait()}"
            if found := re.search(rb"analytics listening on [\d.]+:(\d+)", line):
                port = int(found.group(1))
        drain = asyncio.ensure_future(process.stderr.read())  # never let the pipe fill
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield process, analytics_pb2_grpc.AnalyticsServiceStub(channel)
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_frames_answered_before_a_sigkill_are_stored_exactly_once(
    database_url: str, redis_url: str, key_prefix: str
) -> None:
    answered: dict[str, apb.AnalysisResult] = {}
    sent: list[str] = []
    numbers = itertools.count()
    enough = asyncio.Event()

    async def caller(stub: Any) -> None:
        while True:
            frame_id = f"crash-{next(numbers)}"
            sent.append(frame_id)
            request = frame("cam", T0 + len(sent) / 100, *cars(2, 80), frame_id=frame_id)
            try:
                answered[frame_id] = await stub.ProcessDetections(request, timeout=30)
            except grpc.aio.AioRpcError:
                return  # killed
            if len(answered) >= KILL_AFTER:
                enough.set()

    async with analytics_process(redis_url, key_prefix, database_url) as (process, stub):
        callers = [asyncio.ensure_future(caller(stub)) for _ in range(CALLERS)]
        await asyncio.wait_for(enough.wait(), 120)
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(asyncio.gather(*callers), 60)
    # Dead (its status may read 255 when another test's child watcher reaped it first).
    assert process.returncode is not None
    assert len(sent) > len(answered)  # some frames were in flight when it died

    engine, sessions = await open_database(settings(database_url), "analytics")
    try:
        async with sessions() as session:
            frames = dict((await session.execute(
                select(FrameRow.frame_id, func.count()).group_by(FrameRow.frame_id)
            )).all())  # fmt: skip
            violations = dict((await session.execute(
                select(ViolationRow.frame_id, func.count()).group_by(ViolationRow.frame_id)
            )).all())  # fmt: skip
    finally:
        await engine.dispose()
    assert all(frames.get(frame_id) == 1 for frame_id in answered)  # none lost
    assert set(frames.values()) == {1} and set(violations.values()) == {2}  # none twice
    assert set(violations) == set(frames)

    # Restarted, it answers every redelivery as the first time and stores nothing twice.
    async with analytics_process(redis_url, key_prefix, database_url) as (_, stub):
        for frame_id in sent:
            again = await stub.ProcessDetections(frame("cam", T0, *cars(2, 80), frame_id=frame_id))
            if frame_id in answered:
                assert sorted(v.violation_id for v in again.violations) == sorted(
                    v.violation_id for v in answered[frame_id].violations
                )
            assert len(again.violations) == 2
