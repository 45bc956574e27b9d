"""Recent frames held in memory so that metrics reads skip SQL.

``RecentFrames`` is pure: it holds per-camera frame stats ordered by
``(ts, seq)`` (``seq`` is the frame row's insertion number, so both read paths
add frames up in the same order and give bit-identical sums) and knows from
which timestamp on it is complete. Every frame it does not hold (too old,
evicted by the cap) raises ``complete_from`` just above that frame's time, so
a query is answered from memory only when nothing it covers was dropped.

``FrameView`` keeps it in step with the database: own writes go in at once,
other replicas' writes arrive through one indexed ``seq > cursor`` query at
most every ``refresh_seconds``, which bounds how stale a replica can be.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence

from meshctl.services.analytics.storage import AnalyticsStore
from meshctl.services.frames import FrameStats

# After a cap eviction hold this share of the cap, so evictions are rare.
_EVICT_TO = 0.9
# How long a skipped seq may still turn up (a transaction committing late).
GAP_WAIT = 30.0
# A jump of the cursor larger than this is not scanned for gaps.
_MAX_GAP_SCAN = 10_000


class RecentFrames:
    """Frames of the last ``retain_seconds``, at most ``max_frames``, by camera."""

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
        self.complete_from = complete_from
        self.count = 0
        self._keys: dict[str, list[tuple[float, int]]] = {}
        self._rows: dict[str, list[FrameStats]] = {}
        # Seqs held above the low-water mark (own writes and fetched rows), so
        # a row fetched twice is added once.
        self._seen: set[int] = set()
        # Seqs skipped below the cursor, with when they were noticed. On
        # PostgreSQL two inserts can commit in the opposite order of their
        # seqs, so a missing one may still arrive; a rolled-back insert never
        # does, hence the time limit.
        self._gaps: dict[int, float] = {}

    def _drop(self, ts: float) -> None:
        self.complete_from = max(self.complete_from, math.nextafter(ts, math.inf))

    def _add(self, seq: int, stats: FrameStats) -> None:
        if stats.ts < max(self.complete_from, self.clock() - self.retain_seconds):
            self._drop(stats.ts)
            return
        keys = self._keys.setdefault(stats.camera_id, [])
        rows = self._rows.setdefault(stats.camera_id, [])
        key = (stats.ts, seq)
        i = bisect_left(keys, key)
        keys.insert(i, key)
        rows.insert(i, stats)
        self.count += 1
        if self.count > self.max_frames:
            self._evict_to(int(self.max_frames * _EVICT_TO))

    @property
    def low_water(self) -> int:
        """Fetch rows above this seq: the cursor, or just below the oldest open gap."""
        return min(self._gaps, default=self.cursor + 1) - 1

    def add_own(self, seq: int, stats: FrameStats) -> None:
        """A frame this replica just stored (its row holds ``seq``)."""
        if seq in self._seen:
            return
        self._seen.add(seq)
        self._gaps.pop(seq, None)
        self._add(seq, stats)

    def add_stored(self, rows: Iterable[tuple[int, FrameStats]]) -> None:
        """Rows read from the database above :attr:`low_water`, in seq order."""
        previous = self.cursor
        for seq, stats in rows:
            if seq not in self._seen:
                self._seen.add(seq)
                self._gaps.pop(seq, None)
                self._add(seq, stats)
            self.cursor = max(self.cursor, seq)
        now = self.clock()
        if self.cursor - previous <= _MAX_GAP_SCAN:
            for seq in range(previous + 1, self.cursor):
                if seq not in self._seen:
                    self._gaps.setdefault(seq, now)
        self._gaps = {seq: at for seq, at in self._gaps.items() if now - at < GAP_WAIT}
        floor = self.low_water
        self._seen = {seq for seq in self._seen if seq > floor}

    def expire(self) -> None:
        """Drop frames older than the retained period."""
        horizon = self.clock() - self.retain_seconds
        if horizon < self.complete_from:
            return
        for camera, keys in self._keys.items():
            n = bisect_left(keys, (horizon,))
            if n:
                self._drop(keys[n - 1][0])
                del keys[:n]
                del self._rows[camera][:n]
                self.count -= n

    def _evict_to(self, target: int) -> None:
        times = sorted(ts for keys in self._keys.values() for ts, _ in keys)
        cutoff = times[len(times) - target - 1]
        self._drop(cutoff)
        for camera, keys in self._keys.items():
            n = bisect_left(keys, (self.complete_from,))
            del keys[:n]
            del self._rows[camera][:n]
            self.count -= n

    def frames(self, cameras: Sequence[str], start: float, end: float) -> list[FrameStats] | None:
        """Frames of ``cameras`` (all when empty) in ``[start, end)``; None if some were dropped."""
        if start < self.complete_from:
            return None
        found: list[FrameStats] = []
        for camera in cameras or list(self._keys):
            keys = self._keys.get(camera)
            if keys:
                found.extend(
                    self._rows[camera][bisect_left(keys, (start,)) : bisect_left(keys, (end,))]
                )
        return found


class FrameView:
    """Frames for metrics: from memory when it holds the window, else from SQL."""

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
        """A view holding the recent frames stored so far."""
        cursor = await store.last_seq()
        since = clock() - retain_seconds
        rows = await store.newest_frames(since, cursor, max_frames)
        complete_from = since if await store.has_frames_before(since, cursor) else 0.0
        if rows and len(rows) == max_frames:
            # More may share the oldest loaded time: hold only what is complete.
            complete_from = math.nextafter(rows[-1][1].ts, math.inf)
        recent = RecentFrames(
            retain_seconds, max_frames, clock, cursor=cursor, complete_from=complete_from
        )
        for seq, stats in reversed(rows):
            recent.add_own(seq, stats)
        return cls(store, recent, refresh_seconds)

    def stored(self, seq: int, stats: FrameStats) -> None:
        """Note a frame this replica wrote."""
        self.recent.add_own(seq, stats)

    async def frames(self, cameras: Sequence[str], start: float, end: float) -> list[FrameStats]:
        """Frames of ``cameras`` in ``[start, end)``, ordered by time within each camera."""
        await self._refresh()
        found = self.recent.frames(cameras, start, end)
        if found is None:
            return await self.store.frames(cameras, start, end)
        return found

    async def _refresh(self) -> None:
        if self.recent.clock() - self._refreshed < self.refresh_seconds:
            return
        async with self._lock:
            now = self.recent.clock()
            if now - self._refreshed < self.refresh_seconds:
                return  # another caller refreshed while this one waited
            self.recent.add_stored(await self.store.frames_after(self.recent.low_water))
            self.recent.expire()
            self._refreshed = now
