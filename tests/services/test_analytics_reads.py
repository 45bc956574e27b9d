"""Violations, anomalies and reports read from memory against the SQL path.

Frames with violations of every rule and severity, and anomalies (short
baseline windows, random surges and lulls), are written through two replicas
of analytics on one database, SQLite and PostgreSQL. Each replica's answers
must equal those of a servicer that reads SQL only, for many cameras,
windows, filters and limits; while memory holds what a read covers, no
read reaches SQL, and when it does not (rows dropped by the caps, or from
before a restart) SQL answers, still the same.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics.service import AnalyticsApp, AnalyticsServicer
from meshctl.services.analytics.storage import AnalyticsStore, FrameRecord
from meshctl.services.frames import FrameStats, to_timestamp
from meshctl.testing import FakeClock
from tests.support.services import T0, analytics_app, frame

CAMERAS = ["c1", "c2", "c3"]
# Windows of 10 s and a baseline of 3 of them: anomalies are frequent.
SETTINGS: dict[str, Any] = dict(
    anomaly_window_seconds=10, anomaly_min_history=3, anomaly_z_threshold=1.5,
    speed_limits_kmh={"c2": 30},
)  # fmt: skip
NOW = T0 + 3000


def detections(rng: random.Random, surge: bool) -> list[pb.Detection]:
    return [
        pb.Detection(
            track_id=f"t{i}",
            vehicle_class=rng.choice([pb.VEHICLE_CLASS_CAR, pb.VEHICLE_CLASS_TRUCK,
                                      pb.VEHICLE_CLASS_PEDESTRIAN]),
            confidence=0.9,
            speed_kmh=rng.choice([rng.uniform(0, 45), rng.uniform(45, 90)]),
            lane=rng.randint(0, 2),
            direction=rng.choice([pb.DIRECTION_NORTHBOUND, pb.DIRECTION_SOUTHBOUND]),
            crossed_stop_line=rng.random() < 0.2,
        )
        for i in range(rng.randint(8, 14) if surge else rng.randint(0, 3))
    ]  # fmt: skip


async def write(
    replicas: list[AnalyticsApp], rng: random.Random, n: int, start: float, end: float
) -> None:
    """``n`` frames between ``start`` and ``end``, each through a replica picked at random."""
    times = sorted(rng.uniform(start, end) for _ in range(n))
    times = [times[i - 1] if i % 9 == 8 else t for i, t in enumerate(times)]  # equal times too
    calls = []
    for ts in times:
        camera = rng.choice(CAMERAS)
        phase = rng.choice([pb.SIGNAL_PHASE_RED, pb.SIGNAL_PHASE_GREEN])
        lanes = [pb.LaneInfo(lane=1, allowed_direction=pb.DIRECTION_NORTHBOUND)]
        surge = rng.random() < 0.08
        request = frame(camera, ts, *detections(rng, surge), signal_phase=phase, lanes=lanes)
        servicer = rng.choice(replicas).servicer
        assert servicer is not None
        calls.append(servicer.ProcessDetections(request, None))
    for i in range(0, len(calls), 8):  # a few at a time: some share a transaction
        await asyncio.gather(*calls[i : i + 8])


def window(start: float | None, end: float | None) -> pb.TimeWindow | None:
    if start is None and end is None:
        return None
    w = pb.TimeWindow()
    if start is not None:
        w.start.CopyFrom(to_timestamp(start))
    if end is not None:
        w.end.CopyFrom(to_timestamp(end))
    return w


# Unset, open-ended, on baseline window boundaries, inside them, and one instant.
WINDOWS = [window(None, None), window(T0 + 1500, None), window(None, T0 + 2000),
           window(T0 + 1000, T0 + 2000), window(T0 + 2710.5, T0 + 2890.25),
           window(T0 + 2800, T0 + 2800.001)]  # fmt: skip


def violation_requests() -> Iterator[apb.GetActiveViolationsRequest]:
    types: list[Any] = [0, pb.VIOLATION_TYPE_SPEEDING, pb.VIOLATION_TYPE_RED_LIGHT,
                        pb.VIOLATION_TYPE_WRONG_WAY]  # fmt: skip
    severities: list[Any] = [0, pb.SEVERITY_MEDIUM, pb.SEVERITY_CRITICAL]
    for camera, type_, severity, limit in itertools.product(
        ["", "c1", "c2", "nobody"], types, severities, [0, 1, 7, 5000]
    ):
        yield apb.GetActiveViolationsRequest(
            camera_id=camera, type=type_, min_severity=severity, limit=limit
        )


def anomaly_requests() -> Iterator[apb.GetTrafficAnomaliesRequest]:
    for camera, w, severity, limit in itertools.product(
        ["", "c2"], WINDOWS, [pb.SEVERITY_UNSPECIFIED, pb.SEVERITY_HIGH], [0, 3]
    ):
        yield apb.GetTrafficAnomaliesRequest(
            camera_id=camera, window=w, min_severity=severity, limit=limit
        )


def report_requests() -> Iterator[apb.GenerateReportRequest]:
    for cameras, w in itertools.product([[], ["c1"], ["c3", "c1", "c3"], ["nobody"]], WINDOWS):
        yield apb.GenerateReportRequest(camera_ids=cameras, window=w)


def sql_only(app: AnalyticsApp) -> AnalyticsServicer:
    """A servicer on the app's database that reads SQL every time."""
    assert app.servicer is not None
    return AnalyticsServicer(AnalyticsStore(app.servicer.store.sessions), app.settings, app.clock)


@contextmanager
def sql_reads(app: AnalyticsApp) -> Iterator[list[str]]:
    """The reads the app's view passes on to SQL within the block, by name."""
    assert app.servicer is not None and app.servicer.view is not None
    store = app.servicer.view.store
    passed: list[str] = []

    def counted(name: str) -> Any:
        method = getattr(store, name)

        async def call(*args: Any) -> Any:
            passed.append(name)
            return await method(*args)

        return call

    with pytest.MonkeyPatch.context() as patch:
        for name in ("frames", "active_violations", "anomalies", "violation_counts"):
            patch.setattr(store, name, counted(name))
        yield passed


async def same_answers(app: AnalyticsApp) -> None:
    """Every request answered alike by the app and by SQL."""
    memory, sql = app.servicer, sql_only(app)
    assert memory is not None
    for violations in violation_requests():
        answer = await memory.GetActiveViolations(violations, None)
        assert answer == await sql.GetActiveViolations(violations, None), violations
    for anomalies in anomaly_requests():
        found = await memory.GetTrafficAnomalies(anomalies, None)
        assert found == await sql.GetTrafficAnomalies(anomalies, None), anomalies
    for request in report_requests():
        mine, theirs = (
            (await memory.GenerateReport(request, None)).report,
            (await sql.GenerateReport(request, None)).report,
        )
        for report in (mine, theirs):
            report.ClearField("report_id")
            report.ClearField("generated_at")
        assert mine == theirs, request


async def test_two_replicas_answer_from_memory_as_sql_does(database_url: str) -> None:
    rng = random.Random(17)
    clock = FakeClock(NOW)
    async with (
        analytics_app(database_url, clock, **SETTINGS) as a,
        analytics_app(database_url, clock, **SETTINGS) as b,
    ):
        assert a.servicer is not None and b.servicer is not None
        await write([a, b], rng, 400, T0, T0 + 2990)
        # A violation marked resolved, stored by another writer: no one lists it as active.
        resolved = pb.Violation(
            violation_id="v-resolved", type=pb.VIOLATION_TYPE_WRONG_WAY, camera_id="c1",
            severity=pb.SEVERITY_CRITICAL, detected_at=to_timestamp(T0 + 2995),
            evidence=pb.Evidence(frame_id="f-resolved"), resolved=True,
        )  # fmt: skip
        stats = FrameStats("c1", T0 + 2995)
        await a.servicer.store.save_many([FrameRecord("f-resolved", stats, [resolved], [])])
        clock.now += a.settings.analytics_refresh_seconds  # each sees the other's writes
        for replica in (a, b):
            with sql_reads(replica) as passed:
                await same_answers(replica)
            assert passed == []  # memory held all of it: nothing went to SQL

        sql = sql_only(a)
        everything = apb.GetActiveViolationsRequest(limit=5000)
        active = (await sql.GetActiveViolations(everything, None)).violations
        assert {v.type for v in active} == {1, 2, 3} and len({v.severity for v in active}) == 4
        assert "v-resolved" not in {v.violation_id for v in active}
        anomalies = await sql.GetTrafficAnomalies(apb.GetTrafficAnomaliesRequest(), None)
        assert len(anomalies.anomalies) >= 10 and len({a.type for a in anomalies.anomalies}) >= 3

        # A's new violation: A lists it at once, B within the refresh interval.
        wrong_way = pb.Detection(track_id="late", vehicle_class=pb.VEHICLE_CLASS_CAR, lane=1,
                                 direction=pb.DIRECTION_SOUTHBOUND, confidence=0.9)  # fmt: skip
        lanes = [pb.LaneInfo(lane=1, allowed_direction=pb.DIRECTION_NORTHBOUND)]
        await a.servicer.ProcessDetections(frame("c3", T0 + 2999, wrong_way, lanes=lanes), None)
        newest = apb.GetActiveViolationsRequest(limit=1)
        [seen_by_a] = (await a.servicer.GetActiveViolations(newest, None)).violations
        assert seen_by_a.track_id == "late"
        clock.now += b.settings.analytics_refresh_seconds
        assert await b.servicer.GetActiveViolations(newest, None) == await sql.GetActiveViolations(
            newest, None
        )
        with sql_reads(b) as passed:
            await same_answers(b)
        assert passed == []


async def test_reads_past_what_memory_holds_go_to_sql_with_the_same_answers(
    database_url: str,
) -> None:
    rng = random.Random(23)
    clock = FakeClock(NOW)
    caps = dict(SETTINGS, analytics_recent_max_frames=60, analytics_recent_seconds=2000)
    async with (
        analytics_app(database_url, clock, **caps) as a,
        analytics_app(database_url, clock, **caps) as b,
    ):
        await write([a, b], rng, 400, T0, T0 + 2990)  # those before T0 + 1000 too old to hold
        clock.now += a.settings.analytics_refresh_seconds
        for replica in (a, b):
            assert replica.servicer is not None and replica.servicer.view is not None
            recent = replica.servicer.view.recent
            assert recent.count <= 60 and len(recent.violation_timeline) <= 60
            assert recent.violation_timeline.complete_from > T0 + 2000
            with sql_reads(replica) as passed:
                await same_answers(replica)
            assert {"frames", "active_violations", "anomalies", "violation_counts"} <= set(passed)
            with sql_reads(replica) as passed:  # the newest few are still held
                request = apb.GetActiveViolationsRequest(limit=3)
                assert len((await replica.servicer.GetActiveViolations(request, None)).violations)
            assert passed == []


async def test_a_restarted_replica_loads_what_it_answers_from(database_url: str) -> None:
    rng = random.Random(29)
    clock = FakeClock(NOW)
    async with analytics_app(database_url, clock, **SETTINGS) as a:
        await write([a], rng, 300, T0, T0 + 2990)
    async with analytics_app(database_url, clock, **SETTINGS) as a:
        with sql_reads(a) as passed:
            await same_answers(a)
        assert passed == []  # everything loaded
    # Held: what is newer than T0 + 1500 (the period); then only the newest 50 (the cap).
    for most in (10_000, 50):
        partial = dict(SETTINGS, analytics_recent_seconds=1500, analytics_recent_max_frames=most)
        async with analytics_app(database_url, clock, **partial) as a:
            assert a.servicer is not None and a.servicer.view is not None
            recent = a.servicer.view.recent
            for timeline in (recent.frame_timeline, recent.violation_timeline,
                             recent.anomaly_timeline):  # fmt: skip
                assert timeline.complete_from >= T0 + 1500 and 0 < len(timeline) <= most
            with sql_reads(a) as passed:
                await same_answers(a)
            assert {"frames", "active_violations", "anomalies", "violation_counts"} <= set(passed)
