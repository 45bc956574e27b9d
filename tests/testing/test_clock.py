"""FakeClock: moves only when told, forwards only unless rewound on purpose."""

import asyncio

import pytest

from meshctl.core.retry import RetryBudget
from meshctl.testing import FakeClock


def test_reads_advances_and_jumps() -> None:
    clock = FakeClock(10.0)
    assert clock() == 10.0
    assert clock.advance(2.5) == 12.5 and clock() == 12.5
    clock.set(3.0)  # backwards, on purpose
    assert clock.now == 3.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_starts_at_a_plausible_wall_time() -> None:
    assert 1.6e9 < FakeClock()() < 2e9


async def test_sleep_advances_instead_of_waiting() -> None:
    clock = FakeClock(0.0)
    async with asyncio.timeout(1):
        await clock.sleep(3600)
    assert clock() == 3600.0


def test_drives_what_takes_a_clock() -> None:
    clock = FakeClock(0.0)
    budget = RetryBudget(ratio=0, min_per_second=1, capacity=2, clock=clock)
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]
    clock.advance(1.0)
    assert budget.try_spend()
