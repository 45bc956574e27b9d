"""Items ordered by time, by camera and across cameras, known complete from a time on.

``Timeline`` is pure. Each item has a key ``(time, tiebreak)`` unique among
its items (a row's seq or id, so orders are total and match the database's
``ORDER BY time, tiebreak``), and sits in two sorted lists: its camera's and
the one across cameras, so a query walks only what it returns. Every item
dropped or refused (older than a floor, or evicted) raises ``complete_from``
just above that item's time: every item offered with a time from
``complete_from`` on is held, which is what lets a caller answer a query
over ``[start, end)`` exactly as the database would, when ``start`` is not
before it.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[float, int | str]


class Timeline(Generic[T]):
    """Items by ``(time, tiebreak)``, held from :attr:`complete_from` on."""

    def __init__(self, complete_from: float = 0.0) -> None:
        self.complete_from = complete_from
        self._keys: list[Key] = []
        self._items: list[T] = []
        self._camera_keys: dict[str, list[Key]] = {}
        self._camera_items: dict[str, list[T]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def drop(self, time: float) -> None:
        """Note that an item of ``time`` is not held."""
        self.complete_from = max(self.complete_from, math.nextafter(time, math.inf))

    def add(self, camera: str, key: Key, item: T, floor: float = -math.inf) -> bool:
        """Hold ``item`` unless it is older than ``floor`` or :attr:`complete_from`."""
        if key[0] < max(self.complete_from, floor):
            self.drop_before(math.nextafter(key[0], math.inf))  # held ones of its time go too
            self.drop(key[0])
            return False
        runs = ((self._keys, self._items), (self._camera_keys.setdefault(camera, []),
                                            self._camera_items.setdefault(camera, [])))  # fmt: skip
        for sorted_keys, items in runs:
            i = bisect_left(sorted_keys, key)
            sorted_keys.insert(i, key)
            items.insert(i, item)
        return True

    def drop_before(self, time: float) -> None:
        """Drop every item older than ``time``."""
        n = bisect_left(self._keys, (time,))
        if not n:
            return
        self.drop(self._keys[n - 1][0])
        del self._keys[:n], self._items[:n]
        for camera, keys in list(self._camera_keys.items()):
            n = bisect_left(keys, (time,))
            if n == len(keys):
                del self._camera_keys[camera], self._camera_items[camera]
            elif n:
                del keys[:n], self._camera_items[camera][:n]

    def trim(self, most: int) -> None:
        """Hold at most ``most`` items: the newest, dropping all items of a time or none."""
        if len(self._keys) > most:
            self.drop_before(math.nextafter(self._keys[-most - 1][0], math.inf))

    def _runs(self, cameras: Sequence[str]) -> list[tuple[list[Key], list[T]]]:
        if not cameras:
            return [(self._keys, self._items)]
        return [
            (self._camera_keys.get(camera, []), self._camera_items.get(camera, []))
            for camera in dict.fromkeys(cameras)
        ]

    def items(self, cameras: Sequence[str], start: float, end: float) -> list[T] | None:
        """Items of ``cameras`` (all when empty) in ``[start, end)``, oldest first.

        None when some may be missing: ``start`` is before :attr:`complete_from`.
        """
        if start < self.complete_from:
            return None
        runs = self._runs(cameras)
        if len(runs) == 1:
            keys, items = runs[0]
            return items[bisect_left(keys, (start,)) : bisect_left(keys, (end,))]
        slices: list[Iterable[tuple[Key, T]]] = []
        for keys, items in runs:
            i, j = bisect_left(keys, (start,)), bisect_left(keys, (end,))
            slices.append(zip(keys[i:j], items[i:j], strict=True))
        return [item for _, item in heapq.merge(*slices)]

    def newest(self, cameras: Sequence[str], start: float, end: float) -> Iterator[T] | None:
        """Like :meth:`items`, newest first and lazily: callers stop when they have enough."""
        if start < self.complete_from:
            return None
        runs = [
            _backwards(keys, items, bisect_left(keys, (start,)), bisect_left(keys, (end,)))
            for keys, items in self._runs(cameras)
        ]
        if len(runs) == 1:
            return (item for _, item in runs[0])
        return (item for _, item in heapq.merge(*runs, reverse=True))


def _backwards(keys: list[Key], items: list[T], i: int, j: int) -> Iterator[tuple[Key, T]]:
    for k in range(j - 1, i - 1, -1):
        yield keys[k], items[k]
