"""The one way to open an event bus: from settings, Kafka or in memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .bus import EventBus
from .memory import MemoryEventBus

if TYPE_CHECKING:
    from meshctl.config import MeshSettings


def open_bus(settings: MeshSettings, **options: Any) -> EventBus:
    """A new, unstarted bus: Kafka when ``settings.kafka_bootstrap`` is set, else in memory.

    Args:
        settings: ``kafka_bootstrap`` picks the broker, ``topic_prefix`` names the topics.
        options: passed to the bus's constructor (``client_id``, ``spool_dir``, ...).
    """
    if settings.kafka_bootstrap:
        from .kafka import KafkaEventBus  # aiokafka only when a broker is configured

        return KafkaEventBus(
            settings.kafka_bootstrap, topic_prefix=settings.topic_prefix, **options
        )
    return MemoryEventBus(topic_prefix=settings.topic_prefix, **options)
