"""The outbox: order, rounds, backpressure and join, driven step by step (no broker)."""

from __future__ import annotations

import asyncio

import pytest

from meshctl.events.outbox import Outbox


async def test_items_come_out_in_order_in_rounds_of_at_most_the_limit() -> None:
    box: Outbox[int] = Outbox(10)
    for n in range(5):
        assert box.offer(n)
    assert await box.take(3) == [0, 1, 2]
    assert await box.take(3) == [3, 4]
    assert len(box) == 0


async def test_a_full_outbox_refuses_offers_and_makes_put_wait_for_room() -> None:
    box: Outbox[int] = Outbox(2)
    assert box.offer(1) and box.offer(2)
    assert not box.offer(3)
    put = asyncio.ensure_future(box.put(3))
    await asyncio.sleep(0)  # let put run up to its wait
    assert not put.done()
    assert await box.take(1) == [1]
    await put  # room was made
    assert await box.take(5) == [2, 3]


async def test_take_waits_for_an_item() -> None:
    box: Outbox[str] = Outbox(1)
    take = asyncio.ensure_future(box.take(5))
    await asyncio.sleep(0)
    assert not take.done()
    assert box.offer("a")
    assert await take == ["a"]


async def test_join_waits_until_every_taken_item_is_done() -> None:
    box: Outbox[int] = Outbox(5)
    await box.join()  # nothing put: returns at once
    box.offer(1)
    box.offer(2)
    join = asyncio.ensure_future(box.join())
    taken = await box.take(5)
    await asyncio.sleep(0)
    assert not join.done()  # taken is not handled
    box.done(len(taken))
    await join


def test_an_outbox_holds_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Outbox(0)
