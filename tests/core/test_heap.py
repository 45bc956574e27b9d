"""settle(): start-up's objects leave the collector's sight, cycles are still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from meshctl.core import heap


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_the_heap_and_still_collects_later_cycles(restored: None) -> None:
    before = Node()
    heap.settle()
    assert gc.get_freeze_count() > 0
    after = Node()
    gone = weakref.ref(after)
    del after
    gc.collect()
    assert gone() is None  # a cycle made after settling is collected
    kept = weakref.ref(before)
    del before
    gc.collect()
    assert kept() is not None  # frozen: start-up's objects are no longer scanned
