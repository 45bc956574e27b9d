"""Analytics' in-memory metrics read path against the SQL one, on a real SQLite file."""

from __future__ import annotations

import random
from pathlib import Path

from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics.recent import RecentFrames
from meshctl.services.analytics.service import AnalyticsApp, AnalyticsServicer
from meshctl.services.analytics.storage import StoredFrame
from meshctl.services.frames import FrameStats, to_timestamp
from meshctl.testing import FakeClock, temporary_database
from tests.support.services import analytics_app as app

T0 = 1_700_000_000.0


def frame(camera: str, ts: float, rng: random.Random) -> pb.ProcessDetectionsRequest:
    detections = [
        pb.Detection(
            track_id=f"t{i}",
            vehicle_class=rng.choice([pb.VEHICLE_CLASS_CAR, pb.VEHICLE_CLASS_TRUCK]),
            confidence=0.9,
            speed_kmh=rng.uniform(0, 45),  # under the limit: no violations needed here
        )
        for i in range(rng.randint(0, 4))
    ]
    return pb.ProcessDetectionsRequest(
        frame=pb.Frame(camera_id=camera, timestamp=to_timestamp(ts), detections=detections)
    )


def metrics(camera: str = "", start: float | None = None, end: float | None = None,
            bucket: int = 0) -> pb.GetTrafficMetricsRequest:  # fmt: skip
    request = pb.GetTrafficMetricsRequest(camera_id=camera, window_seconds=bucket)
    if start is not None:
        request.window.start.CopyFrom(to_timestamp(start))
    if end is not None:
        request.window.end.CopyFrom(to_timestamp(end))
    return request


def parts(a: AnalyticsApp) -> tuple[AnalyticsServicer, AnalyticsServicer]:
    """The app's servicer and one over the same store that always reads SQL."""
    assert a.servicer is not None and a.servicer.view is not None
    return a.servicer, AnalyticsServicer(a.servicer.store, a.settings, a.clock)


async def test_memory_answers_equal_sql_answers(tmp_path: Path) -> None:
    rng = random.Random(7)
    clock = FakeClock(T0 + 3600)
    async with temporary_database("sqlite", tmp_path) as db, app(db, clock) as a:
        memory, sql = parts(a)
        for i in range(300):
            ts = T0 + rng.uniform(0, 3600) if i % 10 else T0 + 600  # some equal times
            await memory.ProcessDetections(frame(rng.choice(["c1", "c2", "c3"]), ts, rng), None)
        requests = [
            metrics(),
            metrics("c2"),
            metrics(bucket=60),
            metrics("c1", bucket=300),
            metrics(start=T0 + 600, bucket=7),
            metrics("c3", start=T0 + 600, end=T0 + 1800, bucket=120),
            metrics(start=T0 + 599.5, end=T0 + 600.5),
            metrics("nobody"),
        ]
        for request in requests:
            assert await memory.GetTrafficMetrics(request, None) == await sql.GetTrafficMetrics(
                request, None
            )
        assert memory.view is not None and memory.view.recent.count == 300
        assert memory.view.recent.frames([], 0.0, T0 + 3600) is not None  # answered from memory


async def test_cap_and_age_evict_and_reads_fall_back_to_sql(tmp_path: Path) -> None:
    rng = random.Random(3)
    clock = FakeClock(T0 + 100)
    async with (
        temporary_database("sqlite", tmp_path) as db,
        app(db, clock, analytics_recent_max_frames=10, analytics_recent_seconds=1000) as a,
    ):
        memory, sql = parts(a)
        assert memory.view is not None
        recent = memory.view.recent
        for i in range(25):
            await memory.ProcessDetections(frame("c1", T0 + i, rng), None)
        assert recent.count <= 10
        assert T0 + 15 < recent.complete_from <= T0 + 16  # frames before it were dropped
        assert recent.frames([], 0.0, T0 + 100) is None
        for request in (metrics(), metrics(start=T0 + 20), metrics(start=T0 + 5)):
            answer = await memory.GetTrafficMetrics(request, None)
            assert answer == await sql.GetTrafficMetrics(request, None)
        assert (await memory.GetTrafficMetrics(metrics(), None)).metrics[0].frame_count == 25

        clock.now = T0 + 1022.5  # frames before T0 + 22.5 are past the retained period
        await memory.GetTrafficMetrics(metrics(), None)
        assert recent.count == 2 and recent.complete_from > T0 + 22
        await memory.ProcessDetections(frame("c1", T0 + 1, rng), None)  # too old to hold
        assert recent.count == 2


async def test_other_replica_frames_show_within_refresh_interval(tmp_path: Path) -> None:
    rng = random.Random(5)
    clock = FakeClock(T0 + 100)
    async with (
        temporary_database("sqlite", tmp_path) as db,
        app(db, clock) as a,
        app(db, clock) as b,
    ):
        assert a.servicer is not None and b.servicer is not None
        assert (await b.servicer.GetTrafficMetrics(metrics(), None)).metrics == []
        await a.servicer.ProcessDetections(frame("c1", T0 + 1, rng), None)
        await a.servicer.ProcessDetections(frame("c2", T0 + 2, rng), None)
        # Within the refresh interval b may still answer from what it had.
        assert (await b.servicer.GetTrafficMetrics(metrics(), None)).metrics == []
        clock.now += b.settings.analytics_refresh_seconds
        seen = await b.servicer.GetTrafficMetrics(metrics(), None)
        assert [m.camera_id for m in seen.metrics] == ["c1", "c2"]
        assert seen == await a.servicer.GetTrafficMetrics(metrics(), None)
        # b's own write shows at once, and a refresh does not count it twice.
        await b.servicer.ProcessDetections(frame("c1", T0 + 3, rng), None)
        clock.now += b.settings.analytics_refresh_seconds
        again = await b.servicer.GetTrafficMetrics(metrics("c1"), None)
        assert again.metrics[0].frame_count == 2
        assert b.servicer.view is not None and b.servicer.view.recent.count == 3


async def test_restart_rebuilds_memory_from_sql(tmp_path: Path) -> None:
    rng = random.Random(11)
    clock = FakeClock(T0 + 2000)
    async with temporary_database("sqlite", tmp_path) as db:
        async with app(db, clock) as a:
            assert a.servicer is not None
            for i in range(40):
                await a.servicer.ProcessDetections(frame(f"c{i % 3}", T0 + i * 50, rng), None)
            before = await a.servicer.GetTrafficMetrics(metrics(bucket=100), None)
        async with app(db, clock) as a:
            memory, sql = parts(a)
            assert memory.view is not None and memory.view.recent.count == 40
            assert memory.view.recent.complete_from == 0.0  # nothing older was left out
            assert await memory.GetTrafficMetrics(metrics(bucket=100), None) == before
        async with app(db, clock, analytics_recent_seconds=1000) as a:
            memory, sql = parts(a)
            assert memory.view is not None
            assert memory.view.recent.count == 20  # T0 + 1000 .. T0 + 1950
            assert memory.view.recent.complete_from == T0 + 1000
            for request in (metrics(bucket=100), metrics("c1", start=T0 + 1000, bucket=30)):
                answer = await memory.GetTrafficMetrics(request, None)
                assert answer == await sql.GetTrafficMetrics(request, None)


def test_rows_committed_out_of_seq_order_are_picked_up_once() -> None:
    """PostgreSQL may commit seq 2 after seq 3: the gap is fetched again until it fills."""
    from meshctl.services.analytics.recent import GAP_WAIT, RecentFrames
    from meshctl.services.analytics.storage import StoredFrame
    from meshctl.services.frames import FrameStats

    clock = FakeClock(T0)
    recent = RecentFrames(3600, 1000, clock)

    def row(seq: int) -> StoredFrame:
        return StoredFrame(seq, FrameStats("cam", T0 - 10 + seq, vehicle_count=seq))

    def counts() -> list[int]:
        frames = recent.frames(["cam"], 0, T0)
        assert frames is not None
        return [f.vehicle_count for f in frames]

    recent.add_stored([row(1), row(3)])  # 2 not committed yet
    assert (recent.cursor, recent.low_water) == (3, 1)
    recent.add_own(row(4))  # this replica's own write
    recent.add_stored([row(2), row(3), row(4)])  # the next fetch is from the gap on
    assert counts() == [1, 2, 3, 4]  # 2 arrived, 3 and 4 were not added twice
    assert recent.low_water == 4

    recent.add_stored([row(6)])  # 5 was rolled back: it never comes
    assert recent.low_water == 4
    clock.now += GAP_WAIT + 1
    recent.add_stored([row(6)])
    assert recent.low_water == 6
    assert counts() == [1, 2, 3, 4, 6]


def row(seq: int) -> StoredFrame:
    return StoredFrame(seq, FrameStats("cam", T0 - 100 + seq, vehicle_count=seq))


def held_counts(recent: RecentFrames) -> list[int]:
    frames = recent.frames(["cam"], 0, T0)
    assert frames is not None
    return [f.vehicle_count for f in frames]


def test_a_replica_alone_moves_its_cursor_past_its_own_writes() -> None:
    """After a write-only load the next refresh has nothing to read back, and seen seqs
    do not pile up."""
    recent = RecentFrames(3600, 10_000, FakeClock(T0))
    for seq in range(1, 51):
        recent.add_own(row(seq))
    assert (recent.cursor, recent.low_water) == (50, 50)
    assert not any(seq in recent.known for seq in range(1, 51))
    assert held_counts(recent) == list(range(1, 51))


def test_interleaved_writers_hold_each_frame_once() -> None:
    """Another replica's seq stops the cursor; a fetch skips this one's own rows, and a row
    a refresh read before its writer noted it is not held twice."""
    recent = RecentFrames(3600, 10_000, FakeClock(T0))
    recent.add_own(row(1))
    recent.add_own(row(3))  # 2 is another replica's, not committed yet
    assert (recent.cursor, recent.low_water) == (1, 1)
    assert 3 in recent.known and 1 not in recent.known
    recent.add_stored([row(2)], through=3)  # the fetch left 3 out as known
    assert (recent.cursor, recent.low_water) == (3, 3)
    assert held_counts(recent) == [1, 2, 3]
    recent.add_stored([row(4)])  # committed by this replica, read by a refresh first
    recent.add_own(row(4))
    assert held_counts(recent) == [1, 2, 3, 4]


async def test_a_refresh_reads_only_rows_it_does_not_hold(tmp_path: Path) -> None:
    """frames_after leaves the known seqs out but reports the highest seq it saw."""
    rng = random.Random(3)
    clock = FakeClock(T0 + 3600)
    async with temporary_database("sqlite", tmp_path) as db, app(db, clock) as a:
        memory, _ = parts(a)
        for _ in range(20):
            await memory.ProcessDetections(frame("c1", T0 + rng.uniform(0, 3600), rng), None)
        through, rows = await memory.store.frames_after(0, known=set(range(1, 16)))
        assert through == 20
        assert [r.seq for r in rows] == [16, 17, 18, 19, 20]
        assert await memory.store.frames_after(20) == (20, [])
