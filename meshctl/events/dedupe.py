"""The events a subscription handled lately, so a redelivered one is skipped.

Kafka delivers at least once: a batch retried after a lost acknowledgement,
a spool replayed after a failed send, or a consumer that restarts before
committing hands the same event over again. A subscription remembers the
last ``size`` events it handled, by CloudEvents ``source`` and ``id`` (the
pair the spec names as an event's identity), and skips any it meets again.
Each is kept as a 16-byte digest: 100,000 cost about 10 MB.
"""

from __future__ import annotations

import hashlib
from collections import deque

DEDUPE_WINDOW = 100_000
"""Events a subscription remembers (per subscription)."""


def event_key(source: str, event_id: str) -> bytes:
    """What identifies an event: a digest of its source and id."""
    origin = source.encode()
    return hashlib.blake2b(
        len(origin).to_bytes(4, "big") + origin + event_id.encode(), digest_size=16
    ).digest()


class RecentEvents:
    """The last ``size`` event keys added; the oldest is forgotten when one more comes."""

    def __init__(self, size: int = DEDUPE_WINDOW) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._order: deque[bytes] = deque()
        self._keys: set[bytes] = set()
        self._size = size

    def __contains__(self, key: bytes) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: bytes) -> None:
        """Remember ``key`` (a no-op when it is remembered already)."""
        if key in self._keys:
            return
        if len(self._order) == self._size:
            self._keys.discard(self._order.popleft())
        self._order.append(key)
        self._keys.add(key)
