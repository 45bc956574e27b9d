"""Events: publish, subscribe and tail, on Kafka or in memory.

``open_bus(settings)`` (``factory.py``) is the one way to open a bus: it
picks the implementation, and both follow the ``EventBus`` protocol in
``bus.py``. The Kafka one is imported lazily so importing this package
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .bus import EventBus, EventFilter, Handler, Subscription, SubscriptionStats
from .envelope import EVENT_TYPES, Event, validate_event_type
from .factory import open_bus
from .memory import MemoryEventBus

if TYPE_CHECKING:
    from .kafka import KafkaEventBus

__all__ = [
    "EVENT_TYPES",
    "Event",
    "EventBus",
    "EventFilter",
    "Handler",
    "KafkaEventBus",
    "MemoryEventBus",
    "Subscription",
    "SubscriptionStats",
    "open_bus",
    "validate_event_type",
]


def __getattr__(name: str) -> Any:
    if name == "KafkaEventBus":
        from .kafka import KafkaEventBus

        return KafkaEventBus
    raise AttributeError(name)
