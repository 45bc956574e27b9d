"""Analytics' write path: frames committed in groups, each frame id answered alike every time.

Frames go to SQL through a :class:`GroupCommit`: those arriving within
``window`` seconds (at most ``max_batch``) share one transaction of bulk
inserts, and each delivery is answered only once its transaction has
committed, so a frame answered OK is stored even if the process dies next.

A frame is analysed and written once, by its first delivery:
:meth:`FrameWrites.claim` gives a redelivery the first delivery's answer,
waiting for it while that one is being written. The answers of the last
``remember`` frames are held in memory; an id not held (older, or stored
before a restart) is caught by the unique ``frame_id``: the insert skips the
frame and the answer is rebuilt from its stored violations and anomalies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.services.analytics.recent import FrameView
from meshctl.services.analytics.storage import AnalyticsStore, FrameRecord
from meshctl.services.groupcommit import GroupCommit

# A frame and its answer so far: stats and ids, violations and anomalies still to add.
_Pending = tuple[FrameRecord, apb.AnalysisResult]


class FrameWrites:
    """Stores analysed frames in groups and remembers their answers."""

    def __init__(
        self,
        store: AnalyticsStore,
        view: FrameView | None,
        *,
        window: float,
        max_batch: int,
        remember: int,
    ) -> None:
        self.store = store
        self.view = view
        self.remember = remember
        self._answers: dict[str, apb.AnalysisResult] = {}  # oldest first
        self._claims: dict[str, asyncio.Future[apb.AnalysisResult | None]] = {}
        self._commits: GroupCommit[_Pending, apb.AnalysisResult] = GroupCommit(
            self._write, window=window, max_batch=max_batch
        )

    async def claim(self, frame_id: str) -> apb.AnalysisResult | None:
        """An earlier delivery's answer, or None: this delivery is the first.

        The first must then :meth:`write` the frame, or :meth:`abandon` it.
        """
        while True:
            answer = self._answers.get(frame_id)
            if answer is not None:
                return answer
            first = self._claims.get(frame_id)
            if first is None:
                self._claims[frame_id] = asyncio.get_running_loop().create_future()
                return None
            answer = await asyncio.shield(first)
            if answer is not None:
                return answer  # else the first failed: try again

    def abandon(self, frame_id: str) -> None:
        """The claimed frame will not be written (its analysis failed)."""
        self._settle(frame_id, None)

    async def write(self, record: FrameRecord, result: apb.AnalysisResult) -> apb.AnalysisResult:
        """Store the claimed frame; its answer once committed (the stored one if stored before).

        A cancelled caller does not withdraw the frame.
        """
        written = self._commits.submit((record, result))
        written.add_done_callback(lambda done: self._done(record.frame_id, done))
        return await asyncio.shield(written)

    async def drain(self) -> None:
        """Return once every frame submitted so far is written."""
        await self._commits.drain()

    def _done(self, frame_id: str, written: asyncio.Future[apb.AnalysisResult]) -> None:
        failed = written.cancelled() or written.exception() is not None
        self._settle(frame_id, None if failed else written.result())

    def _settle(self, frame_id: str, answer: apb.AnalysisResult | None) -> None:
        if answer is not None and self.remember:
            self._answers[frame_id] = answer
            if len(self._answers) > self.remember:
                del self._answers[next(iter(self._answers))]
        first = self._claims.pop(frame_id, None)
        if first is not None and not first.done():
            first.set_result(answer)

    async def _write(self, batch: Sequence[_Pending]) -> list[apb.AnalysisResult]:
        seqs = await self.store.save_many([record for record, _ in batch])
        # Stored before this process knew of it (another replica, before a restart).
        earlier = {
            record.frame_id: await self.store.frame_results(record.frame_id)
            for record, _ in batch
            if record.frame_id not in seqs
        }
        for record, result in batch:  # no await from here on: a retry never sees half of it
            seq = seqs.get(record.frame_id)
            if seq is None:
                violations, anomalies = earlier[record.frame_id]
                result.violations.extend(violations)
                result.anomalies.extend(anomalies)
                continue
            result.violations.extend(record.violations)
            result.anomalies.extend(record.anomalies)
            if self.view is not None:
                self.view.stored(seq, record)
        return [result for _, result in batch]
