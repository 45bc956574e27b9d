"""Recent frames, violations and anomalies held in memory so that reads skip SQL.

``RecentFrames`` is pure: three :class:`Timeline` s hold the recent period's
frame stats ordered by ``(ts, seq)`` (``seq`` is the frame row's insertion
number, so both read paths add frames up in the same order and give
bit-identical sums), violations by ``(detected_at, violation_id)`` and
anomalies by ``(window_start, anomaly_id)``, the orders of the SQL queries.
Each knows from which time on it is complete: every row it does not hold
(too old, evicted by the cap) raises that time just above the row's. A read
is answered from memory only when nothing it covers was dropped, and then
exactly as SQL answers it; else SQL answers.

``FrameView`` keeps it in step with the database: own writes go in at once,
other replicas' frames with their violations and anomalies arrive through
indexed ``seq > cursor`` queries at most every ``refresh_seconds``, which
bounds how stale a replica can be.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from itertools import islice
from typing import Any, ParamSpec, TypeVar

from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.analytics.storage import (
    DEFAULT_LIMIT,
    AnalyticsStore,
    AnomalyRow,
    FrameRecord,
    Held,
    StoredFrame,
    ViolationRow,
    count_kinds,
)
from meshctl.services.analytics.timeline import Timeline
from meshctl.services.frames import FrameStats

# After a cap eviction hold this share of the cap, so evictions are rare.
_EVICT_TO = 0.9
# How long a skipped seq may still turn up (a transaction committing late).
GAP_WAIT = 30.0
# A jump of the cursor larger than this is not scanned for gaps.
_MAX_GAP_SCAN = 10_000

P = ParamSpec("P")
R = TypeVar("R")


class RecentFrames:
    """Frames of the last ``retain_seconds`` and what was found in them, by camera.

    Each of frames, violations and anomalies is held ``max_frames`` at most.
    """

    def __init__(
        self,
        retain_seconds: float,
        max_frames: int,
        clock: Callable[[], float],
        *,
        cursor: int = 0,
        complete_from: float = 0.0,
    ) -> None:
        self.retain_seconds = retain_seconds
        self.max_frames = max_frames
        self.clock = clock
        self.cursor = cursor  # highest seq taken from the database
        self.frame_timeline: Timeline[FrameStats] = Timeline(complete_from)
        self.violation_timeline: Timeline[pb.Violation] = Timeline(complete_from)
        self.anomaly_timeline: Timeline[pb.Anomaly] = Timeline(complete_from)
        # Seqs held above the low-water mark (own writes and fetched rows), so
        # a row fetched twice is added once.
        self._seen: set[int] = set()
        # Seqs skipped below the cursor, with when they were noticed. On
        # PostgreSQL two inserts can commit in the opposite order of their
        # seqs, so a missing one may still arrive; a rolled-back insert never
        # does, hence the time limit.
        self._gaps: dict[int, float] = {}

    @property
    def complete_from(self) -> float:
        """Frames from this time on are all held."""
        return self.frame_timeline.complete_from

    @property
    def count(self) -> int:
        return len(self.frame_timeline)

    def _timelines(self) -> tuple[Timeline[Any], ...]:
        return self.frame_timeline, self.violation_timeline, self.anomaly_timeline

    def _add(self, frame: StoredFrame) -> None:
        floor = self.clock() - self.retain_seconds
        stats = frame.stats
        self.frame_timeline.add(stats.camera_id, (stats.ts, frame.seq), stats, floor)
        for v in frame.violations:
            self.violation_timeline.add(v.camera_id, v.key, v.message, floor)
        for a in frame.anomalies:
            self.anomaly_timeline.add(a.camera_id, a.key, a.message, floor)
        for timeline in self._timelines():
            if len(timeline) > self.max_frames:
                timeline.trim(int(self.max_frames * _EVICT_TO))

    @property
    def low_water(self) -> int:
        """Fetch rows above this seq: the cursor, or just below the oldest open gap."""
        return min(self._gaps, default=self.cursor + 1) - 1

    @property
    def known(self) -> Container[int]:
        """Seqs above :attr:`low_water` held already: a fetch need not read them."""
        return self._seen

    def _take(self, frame: StoredFrame, low_water: int) -> None:
        """Hold ``frame`` unless it is held already: seen, or at or below ``low_water``."""
        if frame.seq <= low_water or frame.seq in self._seen:
            return
        self._seen.add(frame.seq)
        self._gaps.pop(frame.seq, None)
        self._add(frame)

    def add_loaded(self, frame: StoredFrame) -> None:
        """A frame of the initial load (at or below the cursor it started with)."""
        self._add(frame)

    def add_own(self, frame: StoredFrame) -> None:
        """A frame this replica just stored (a refresh may have read it first)."""
        self._take(frame, self.low_water)
        # Alone, a replica writes consecutive seqs: the cursor moves past them, and the next
        # refresh has nothing to read. Interleaved with another's, it stops at theirs.
        while self.cursor + 1 in self._seen:
            self.cursor += 1
            if not self._gaps:
                self._seen.discard(self.cursor)

    def add_stored(self, rows: Iterable[StoredFrame], through: int | None = None) -> None:
        """Frames read from the database above :attr:`low_water`, in seq order.

        ``through``: the highest seq that read saw, rows it left out as :attr:`known`
        included (by default the last row's).
        """
        previous, low_water = self.cursor, self.low_water
        for frame in rows:
            self._take(frame, low_water)
            self.cursor = max(self.cursor, frame.seq)
        if through is not None:
            self.cursor = max(self.cursor, through)
        now = self.clock()
        if self.cursor - previous <= _MAX_GAP_SCAN:
            for seq in range(previous + 1, self.cursor):
                if seq not in self._seen:
                    self._gaps.setdefault(seq, now)
        self._gaps = {seq: at for seq, at in self._gaps.items() if now - at < GAP_WAIT}
        floor = self.low_water
        self._seen = {seq for seq in self._seen if seq > floor}

    def expire(self) -> None:
        """Drop what is older than the retained period."""
        horizon = self.clock() - self.retain_seconds
        for timeline in self._timelines():
            timeline.drop_before(horizon)

    # Reads: as the AnalyticsStore methods of the same name, or None when memory may lack rows.

    def frames(self, cameras: Sequence[str], start: float, end: float) -> list[FrameStats] | None:
        """Frames of ``cameras`` (all when empty) in ``[start, end)``, in ``(ts, seq)`` order."""
        return self.frame_timeline.items(cameras, start, end)

    def active_violations(
        self, camera_id: str, type_: int, min_severity: int, limit: int
    ) -> list[pb.Violation] | None:
        held = self.violation_timeline
        newest = held.newest([camera_id] if camera_id else [], held.complete_from, math.inf)
        if newest is None:
            return None
        limit = limit or DEFAULT_LIMIT
        matching = (
            v
            for v in newest
            if not v.resolved
            and (not type_ or v.type == type_)
            and (not min_severity or v.severity >= min_severity)
        )
        found = list(islice(matching, limit))
        # Fewer than asked for: older ones, no longer held, may match too.
        return found if len(found) == limit or not held.complete_from else None

    def anomalies(
        self, cameras: Sequence[str], start: float, end: float, min_severity: int, limit: int
    ) -> list[pb.Anomaly] | None:
        newest = self.anomaly_timeline.newest(cameras, start, end)
        if newest is None:
            return None
        matching = (a for a in newest if not min_severity or a.severity >= min_severity)
        return list(islice(matching, limit or DEFAULT_LIMIT))

    def violation_counts(
        self, cameras: Sequence[str], start: float, end: float
    ) -> tuple[dict[str, int], dict[str, int]] | None:
        found = self.violation_timeline.items(cameras, start, end)
        return None if found is None else count_kinds((v.type, v.severity, 1) for v in found)


class FrameView:
    """Analytics' reads: from memory when it holds all they cover, else from SQL."""

    def __init__(self, store: AnalyticsStore, recent: RecentFrames, refresh_seconds: float) -> None:
        self.store = store
        self.recent = recent
        self.refresh_seconds = refresh_seconds
        self._refreshed = -math.inf
        self._lock = asyncio.Lock()

    @classmethod
    async def load(
        cls,
        store: AnalyticsStore,
        retain_seconds: float,
        max_frames: int,
        refresh_seconds: float,
        clock: Callable[[], float],
    ) -> FrameView:
        """A view holding the recent frames, violations and anomalies stored so far."""
        cursor = await store.last_seq()
        since = clock() - retain_seconds
        bounds = since, cursor, max_frames
        rows = await store.newest_frames(*bounds)
        older = await store.has_frames_before(since, cursor)
        recent = RecentFrames(
            retain_seconds,
            max_frames,
            clock,
            cursor=cursor,
            complete_from=_complete_from(since, older, [row.stats.ts for row in rows], max_frames),
        )
        for frame in reversed(rows):
            recent.add_loaded(frame)
        # Violations and anomalies by their own time (not their frames'): exact bounds.
        findings: list[tuple[Timeline[Any], list[Held[Any]], bool]] = [
            (recent.violation_timeline, *await store.newest_findings(ViolationRow, *bounds)),
            (recent.anomaly_timeline, *await store.newest_findings(AnomalyRow, *bounds)),
        ]
        for timeline, held, older_held in findings:
            times = [h.key[0] for h in held]
            timeline.complete_from = _complete_from(since, older_held, times, max_frames)
            for h in reversed(held):
                timeline.add(h.camera_id, h.key, h.message)
        return cls(store, recent, refresh_seconds)

    def stored(self, seq: int, record: FrameRecord) -> None:
        """Note a frame this replica wrote (its row holds ``seq``)."""
        self.recent.add_own(StoredFrame.written(seq, record))

    async def frames(self, cameras: Sequence[str], start: float, end: float) -> list[FrameStats]:
        """Frames of ``cameras`` in ``[start, end)``, in ``(ts, seq)`` order."""
        return await self._read(self.recent.frames, self.store.frames, cameras, start, end)

    async def active_violations(
        self, camera_id: str, type_: int, min_severity: int, limit: int
    ) -> list[pb.Violation]:
        memory, sql = self.recent.active_violations, self.store.active_violations
        return await self._read(memory, sql, camera_id, type_, min_severity, limit)

    async def anomalies(
        self, cameras: Sequence[str], start: float, end: float, min_severity: int, limit: int
    ) -> list[pb.Anomaly]:
        memory, sql = self.recent.anomalies, self.store.anomalies
        return await self._read(memory, sql, cameras, start, end, min_severity, limit)

    async def violation_counts(
        self, cameras: Sequence[str], start: float, end: float
    ) -> tuple[dict[str, int], dict[str, int]]:
        memory, sql = self.recent.violation_counts, self.store.violation_counts
        return await self._read(memory, sql, cameras, start, end)

    async def _read(
        self,
        memory: Callable[P, R | None],
        sql: Callable[P, Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        await self._refresh()
        found = memory(*args, **kwargs)
        return found if found is not None else await sql(*args, **kwargs)

    async def _refresh(self) -> None:
        if self.recent.clock() - self._refreshed < self.refresh_seconds:
            return
        async with self._lock:
            now = self.recent.clock()
            if now - self._refreshed < self.refresh_seconds:
                return  # another caller refreshed while this one waited
            through, rows = await self.store.frames_after(self.recent.low_water, self.recent.known)
            self.recent.add_stored(rows, through)
            self.recent.expire()
            self._refreshed = now


def _complete_from(since: float, older: bool, times: list[float], limit: int) -> float:
    """Where a timeline loaded with the ``times`` of at most ``limit`` rows from ``since`` on,
    newest first, is complete from; ``older``: rows before ``since`` exist."""
    if times and len(times) == limit:
        return math.nextafter(times[-1], math.inf)  # more may share the oldest loaded time
    return since if older else 0.0
