"""Ids for the records services create: as unique as ``uuid4().hex``, far cheaper per id.

A frame makes a violation id or two and often a frame id; ``uuid4`` reads the
kernel's random source for each (a fifth of a frame's analysis). Here a process
draws 64 random bits once (again in a forked child) and counts up behind them:
32 hex digits, distinct within a process, and across processes with the odds of
two 64-bit draws meeting. They are not secrets: nothing may rely on them being
unguessable.
"""

from __future__ import annotations

import itertools
import os


class _Ids:
    def __init__(self) -> None:
        self._draw()
        os.register_at_fork(after_in_child=self._draw)

    def _draw(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


new_id = _Ids()
"""A new id: 32 lowercase hex digits."""
