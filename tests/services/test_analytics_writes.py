"""Analytics' write path: group commit, redeliveries, replicas, failures; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select

from meshctl.core.context import CorrelationContext
from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import analytics_pb2_grpc
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics import AnalyticsApp, AnalyticsServicer
from meshctl.services.analytics.storage import AnalyticsStore, FrameRecord, FrameRow, ViolationRow
from meshctl.testing import FakeClock, served
from tests.support.services import T0, cars, frame, settings

# Frames of two speeding cars (two violations each); windows of 60 s for anomalies.
SPEEDING = 80.0


@asynccontextmanager
async def analytics(db: str, **overrides: Any) -> AsyncIterator[tuple[AnalyticsApp, Any]]:
    """An analytics app served on loopback (its clock in T0's hour) and a stub for it."""
    app = AnalyticsApp(settings(db, anomaly_min_history=3, **overrides), FakeClock(T0 + 3000))
    async with (
        served(app) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        yield app, analytics_pb2_grpc.AnalyticsServiceStub(channel)


def servicer_of(app: AnalyticsApp) -> Any:
    assert app.servicer is not None
    return app.servicer


async def stored(store: AnalyticsStore) -> tuple[dict[str, int], int]:
    """Frame rows by frame_id (how many each) and the number of violation rows."""
    async with store.sessions() as session:
        rows = await session.execute(
            select(FrameRow.frame_id, func.count()).group_by(FrameRow.frame_id)
        )
        violations = await session.scalar(select(func.count()).select_from(ViolationRow))
    return {frame_id: n for frame_id, n in rows}, violations or 0


def speeding(frame_id: str, ts: float = T0 + 5, camera: str = "cam") -> Any:
    return frame(camera, ts, *cars(2, SPEEDING), frame_id=frame_id)


def canonical(result: apb.AnalysisResult) -> apb.AnalysisResult:
    """The answer without its correlation id, violations in id order: equal for redeliveries."""
    copy = apb.AnalysisResult()
    copy.CopyFrom(result)
    copy.correlation_id = ""
    violations = sorted(copy.violations, key=lambda v: v.violation_id)
    del copy.violations[:]
    copy.violations.extend(violations)
    return copy


async def surge_closed(stub: Any) -> tuple[Any, apb.AnalysisResult]:
    """Steady windows, then a surge; the request and answer of the frame that reports it."""
    for n, count in enumerate([10, 11, 9, 10, 40]):
        await stub.ProcessDetections(frame("cam", T0 + 60 * n + 5, *cars(count)))
    request = speeding("closing", T0 + 60 * 5 + 5)
    first = await stub.ProcessDetections(request)
    assert len(first.violations) == 2 and len(first.anomalies) == 1
    return request, first


def spy_batches(monkeypatch: pytest.MonkeyPatch, store: AnalyticsStore) -> list[list[str]]:
    """Record the frame ids of every transaction; a frame id "bad" makes its batch fail."""
    batches: list[list[str]] = []
    save_many = store.save_many

    async def spying(records: Sequence[FrameRecord]) -> dict[str, int]:
        batches.append([r.frame_id for r in records])
        if any(r.frame_id == "bad" for r in records):
            raise RuntimeError("the database refused the batch")
        return await save_many(records)

    monkeypatch.setattr(store, "save_many", spying)
    return batches


@asynccontextmanager
async def batching(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Any, Any, list[list[str]]]]:
    """Analytics whose frames sent together share a batch: servicer, stub, batches written."""
    async with analytics(db, analytics_commit_window_seconds=0.05) as (app, stub):
        servicer = servicer_of(app)
        yield servicer, stub, spy_batches(monkeypatch, servicer.store)


async def test_concurrent_frames_share_transactions_each_stored_once_and_in_the_view(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with batching(database_url, monkeypatch) as (servicer, stub, batches):
        ids = [f"f-{n}" for n in range(40)]
        results = await asyncio.gather(
            *(stub.ProcessDetections(speeding(f"f-{n}", T0 + n, f"cam-{n % 4}")) for n in range(40))
        )
        assert [r.frame_id for r in results] == ids
        assert all(len(r.violations) == 2 for r in results)
        assert sorted(i for batch in batches for i in batch) == sorted(ids)
        assert len(batches) < len(ids)  # frames arriving together share a transaction
        frames, violations = await stored(servicer.store)
        assert frames == dict.fromkeys(ids, 1) and violations == 80
        # The recent view got every frame and answers as SQL does.
        assert servicer.view.recent.count == 40
        sql = AnalyticsServicer(servicer.store, servicer.settings, servicer.clock)
        request = pb.GetTrafficMetricsRequest(window_seconds=60)
        from_memory = await servicer.GetTrafficMetrics(request, None)
        assert from_memory == await sql.GetTrafficMetrics(request, None)
        assert sum(m.vehicle_count for m in from_memory.metrics) == 80


async def test_a_redelivery_is_answered_as_the_first_time_from_memory(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with analytics(database_url) as (app, stub):
        servicer = servicer_of(app)
        request, first = await surge_closed(stub)

        async def no_sql(*args: Any) -> Any:
            raise AssertionError("a remembered frame reached SQL")

        monkeypatch.setattr(servicer.store, "save_many", no_sql)
        monkeypatch.setattr(servicer.store, "frame_results", no_sql)
        ctx = CorrelationContext.new("corr-again")
        again = await stub.ProcessDetections(request, metadata=tuple(ctx.to_headers().items()))
        assert again.correlation_id == "corr-again"
        assert canonical(again) == canonical(first)


async def test_after_a_restart_a_redelivery_is_answered_from_the_database(
    database_url: str,
) -> None:
    async with analytics(database_url) as (_, stub):
        request, first = await surge_closed(stub)
    async with analytics(database_url) as (app, stub):
        again = await stub.ProcessDetections(request)
        assert canonical(again) == canonical(first)
        frames, violations = await stored(servicer_of(app).store)
        assert (frames["closing"], len(frames), violations) == (1, 6, 2)
        # Now remembered: the next one is answered from memory, the same.
        assert canonical(await stub.ProcessDetections(request)) == canonical(first)


async def test_concurrent_deliveries_of_one_frame_analyse_and_store_it_once(
    database_url: str,
) -> None:
    async with analytics(database_url) as (app, stub):
        answers = await asyncio.gather(*(stub.ProcessDetections(speeding("dup")) for _ in range(5)))
        assert len({canonical(a).SerializeToString() for a in answers}) == 1
        servicer = servicer_of(app)
        assert servicer.baselines["cam"].current.vehicles == 2  # observed once
        assert await stored(servicer.store) == ({"dup": 1}, 2)


async def test_replicas_storing_one_frame_at_once_answer_alike(database_url: str) -> None:
    async with analytics(database_url) as (a, stub_a), analytics(database_url) as (_, stub_b):
        for n in range(5):
            frame_id = f"both-{n}"
            one, other = await asyncio.gather(
                stub_a.ProcessDetections(speeding(frame_id)),
                stub_b.ProcessDetections(speeding(frame_id)),
            )
            assert sorted(v.violation_id for v in one.violations) == sorted(
                v.violation_id for v in other.violations
            )
        frames, violations = await stored(servicer_of(a).store)
        assert frames == {f"both-{n}": 1 for n in range(5)} and violations == 10


async def test_a_failed_batch_fails_only_the_frame_that_failed(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with batching(database_url, monkeypatch) as (servicer, stub, batches):
        outcomes = await asyncio.gather(
            *(stub.ProcessDetections(speeding(i)) for i in ("a", "bad", "c")),
            return_exceptions=True,
        )
        good, bad, other = outcomes
        assert isinstance(bad, grpc.aio.AioRpcError)
        assert isinstance(good, apb.AnalysisResult) and isinstance(other, apb.AnalysisResult)
        assert (len(good.violations), len(other.violations)) == (2, 2)
        assert sorted(batches[0]) == ["a", "bad", "c"] and len(batches) == 4
        monkeypatch.undo()
        retried = await stub.ProcessDetections(speeding("bad"))  # not taken for stored
        assert len(retried.violations) == 2
        assert (await stored(servicer.store))[0] == {"a": 1, "bad": 1, "c": 1}
