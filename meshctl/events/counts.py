"""What a bus did with its events, per topic: the numbers its Prometheus metrics show.

Counted once per batch where the bus learns the outcome (acknowledged,
spooled, failed, replayed from the spool), so a publish pays for a
``Counter.update`` share, not for a metric object per event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

OUTCOMES = ("published", "spooled", "failed", "replayed")


@dataclass(slots=True)
class EventCounts:
    """Events per topic: acknowledged by the broker, spooled, failed, replayed from the spool."""

    published: Counter[str] = field(default_factory=Counter)
    spooled: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    replayed: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: str, topics: Iterable[str]) -> None:
        counter: Counter[str] = getattr(self, outcome)
        counter.update(topics)

    def snapshot(self) -> dict[str, Mapping[str, int]]:
        """Outcome -> topic -> count, copied (a scrape runs on another thread)."""
        return {outcome: dict(getattr(self, outcome)) for outcome in OUTCOMES}
