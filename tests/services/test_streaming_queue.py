"""Streaming's frame queue: group-committed writes, resends, the in-memory depth; both SQLs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event

from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.proto.its.v1 import streaming_pb2 as spb
from meshctl.services.db import TransactionRunner
from meshctl.services.frames import FrameStats
from meshctl.services.sql import open_database
from meshctl.services.streaming.service import StreamingServicer
from meshctl.services.streaming.storage import FORWARDED, QUEUED, FrameQueue
from meshctl.testing import FakeClock
from tests.support.services import T0, cars, frame, settings


@asynccontextmanager
async def queue_on(db: str, **options: Any) -> AsyncIterator[tuple[FrameQueue, list[str]]]:
    """A frame queue on ``db``, and a list that gets an entry for each transaction committed."""
    engine, sessions = await open_database(settings(db), "streaming")
    writer = TransactionRunner(engine)
    commits: list[str] = []
    event.listen(writer.sync_engine, "commit", lambda _conn: commits.append("commit"))
    queue = FrameQueue(sessions, writer, **options)
    try:
        yield queue, commits
    finally:
        await queue.drain()
        await writer.aclose()
        await engine.dispose()


async def accept(queue: FrameQueue, frame_id: str) -> str | None:
    stats = FrameStats("cam", T0, vehicle_count=1, detection_count=1)
    return await queue.accept(frame_id, stats, b"frame", "corr", T0, due_at=T0)


async def test_writes_arriving_together_share_one_transaction_and_resends_get_the_status(
    database_url: str,
) -> None:
    async with queue_on(database_url, window=0.05) as (queue, commits):
        ids = [f"f{i}" for i in range(20)]
        answers = await asyncio.gather(*(accept(queue, i) for i in [*ids, "f0"]))
        assert answers == [None] * 20 + [QUEUED]  # the copy of f0 in the same batch is a resend
        assert len(commits) == 1 and await queue.depth() == 20

        await asyncio.gather(
            *(queue.forwarded(i) for i in ids[:10]),
            queue.failed("f10", 1, "analytics is down", T0 + 30),
            queue.forwarded("f0"),  # twice: moves the depth once
        )
        assert len(commits) == 2 and await queue.depth() == 10
        assert await accept(queue, "f0") == FORWARDED  # a resend in a later batch
        assert await accept(queue, "f10") == QUEUED
        assert await queue.counts() == {QUEUED: 10, FORWARDED: 10}
        [failed] = [p for p in await queue.due(T0 + 30) if p.frame_id == "f10"]
        assert failed.attempts == 1 and not [p for p in await queue.due(T0) if p.frame_id == "f10"]


async def test_the_depth_counts_another_replicas_frames_within_the_resync_time(
    database_url: str,
) -> None:
    async with (
        queue_on(database_url, resync=0.2) as (mine, _),
        queue_on(database_url, resync=0.2) as (other, _),
    ):
        await accept(mine, "a")
        assert await mine.depth() == 1
        await accept(other, "b1")
        await accept(other, "b2")
        await other.forwarded("a")  # the other replica's retry loop delivered our frame
        assert await other.depth() == 2
        assert await mine.depth() == 1  # not seen yet
        await asyncio.sleep(0.25)
        assert await mine.depth() == 2


class Held:
    """A forwarder that answers only when released, noting what was stored when it was called."""

    def __init__(self, queue: FrameQueue) -> None:
        self.queue = queue
        self.called = asyncio.Event()
        self.release = asyncio.Event()
        self.stored_when_called: list[dict[str, int]] = []

    async def __call__(self, request: pb.ProcessDetectionsRequest, *, timeout: float) -> Any:
        self.stored_when_called.append(await self.queue.counts())
        self.called.set()
        await self.release.wait()
        return apb.AnalysisResult(frame_id=request.frame.frame_id)


async def test_a_frame_is_stored_before_it_is_forwarded_and_no_retry_races_its_first_attempt(
    database_url: str,
) -> None:
    clock = FakeClock(T0 + 1000)
    config = settings(database_url, forward_timeout=5)
    async with queue_on(database_url) as (queue, _):
        forward = Held(queue)
        servicer = StreamingServicer(queue, forward, config, clock)
        request = frame("cam-1", T0, *cars(1), frame_id="slow")
        first = asyncio.create_task(servicer.ProcessDetections(request, None))
        await forward.called.wait()
        assert forward.stored_when_called == [{QUEUED: 1}]

        clock.advance(5)  # within the first attempt's timeout: the retry loop leaves it alone
        assert await servicer.retry_due() == 0 and len(forward.stored_when_called) == 1
        forward.release.set()
        reply = await first
        assert (reply.status, reply.queue_depth) == (spb.FRAME_STATUS_FORWARDED, 0)
        assert await queue.counts() == {FORWARDED: 1}
