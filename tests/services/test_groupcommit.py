"""Group commit: batching by window and size, per-item fallback, cancellation, drain."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from meshctl.services.groupcommit import GroupCommit


class Sink:
    """A ``write`` that records its batches and refuses items named "bad"."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, batch: Sequence[str]) -> list[str]:
        await self.gate.wait()
        self.batches.append(list(batch))
        if "bad" in batch:
            raise ValueError("bad item")
        return [item.upper() for item in batch]


async def test_items_submitted_together_are_written_in_one_batch_each_answered() -> None:
    sink = Sink()
    commits = GroupCommit(sink.write, window=0.05, max_batch=100)
    answers = await asyncio.gather(*(commits.submit(item) for item in "abcde"))
    assert answers == list("ABCDE")
    assert sink.batches == [list("abcde")]


async def test_a_full_batch_goes_without_waiting_for_the_window() -> None:
    sink = Sink()
    commits = GroupCommit(sink.write, window=3600, max_batch=2)
    answers = await asyncio.wait_for(asyncio.gather(*(commits.submit(item) for item in "abcd")), 10)
    assert answers == list("ABCD")
    assert sink.batches == [["a", "b"], ["c", "d"]]


async def test_items_arriving_during_a_write_form_the_next_batch() -> None:
    sink = Sink()
    sink.gate.clear()
    commits = GroupCommit(sink.write, window=0, max_batch=100)
    first = commits.submit("a")
    await asyncio.sleep(0.01)  # "a" is being written, held at the gate
    rest = [commits.submit(item) for item in "bcd"]
    sink.gate.set()
    assert await asyncio.gather(first, *rest) == list("ABCD")
    assert sink.batches == [["a"], ["b", "c", "d"]]


async def test_a_failed_batch_is_written_again_item_by_item_failing_only_the_bad_one() -> None:
    sink = Sink()
    commits = GroupCommit(sink.write, window=0.05, max_batch=100)
    outcomes = await asyncio.gather(
        *(commits.submit(item) for item in ["a", "bad", "c"]), return_exceptions=True
    )
    assert outcomes[0] == "A" and outcomes[2] == "C"
    assert isinstance(outcomes[1], ValueError)
    assert sink.batches == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


async def test_a_cancelled_waiter_does_not_withdraw_its_item_and_drain_waits_for_it() -> None:
    sink = Sink()
    sink.gate.clear()
    commits = GroupCommit(sink.write, window=0, max_batch=100)
    waiter = asyncio.ensure_future(asyncio.shield(commits.submit("a")))
    await asyncio.sleep(0.01)
    waiter.cancel()
    sink.gate.set()
    await commits.drain()
    assert sink.batches == [["a"]]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="window"):
        GroupCommit(Sink().write, window=-1, max_batch=1)
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(Sink().write, window=0, max_batch=0)
