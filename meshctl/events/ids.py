"""Event ids: unique without a UUID per event.

An id is ``<prefix>-<counter>``: 16 random hex digits drawn once per process
(again in a forked child, which would otherwise repeat its parent's ids)
and a counter in hex. Two processes collide only if their prefixes do
(one chance in 2**64); within one process the counter never repeats. The
result is a plain ASCII string, as CloudEvents' ``id`` asks, and costs a
fraction of ``uuid.uuid4()``.
"""

from __future__ import annotations

import itertools
import os
import secrets


class _Ids:
    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = secrets.token_hex(8) + "-"
        self.counter = itertools.count(1)


_IDS = _Ids()
os.register_at_fork(after_in_child=_IDS.reseed)


def new_event_id() -> str:
    """A new id, unique across processes (see the module docstring)."""
    return f"{_IDS.prefix}{next(_IDS.counter):x}"
