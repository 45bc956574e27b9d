"""The one way to open an event bus: from settings, Kafka or in memory."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .bus import EventBus
from .memory import MemoryEventBus

if TYPE_CHECKING:
    from meshctl.config import MeshSettings

SPOOL_DIR_ENV = "MESH_SPOOL_DIR"
"""Names the durable spool of a process (one process at a time; see spooldir.py)."""


def open_bus(settings: MeshSettings, **options: Any) -> EventBus:
    """A new, unstarted bus: Kafka when ``settings.kafka_bootstrap`` is set, else in memory.

    Args:
        settings: ``kafka_bootstrap`` picks the broker, ``topic_prefix`` names the topics,
            ``kafka_partitions``/``kafka_replication_factor``/``kafka_min_insync_replicas``
            lay out the topics it creates.
        options: passed to the bus's constructor (``client_id``, ``spool_dir``, ...).
            ``MESH_SPOOL_DIR`` names a durable spool when ``spool_dir`` is not given.
    """
    if settings.kafka_bootstrap:
        from .kafka import KafkaEventBus  # aiokafka only when a broker is configured

        if os.environ.get(SPOOL_DIR_ENV) and "spool_dir" not in options:
            options["spool_dir"] = os.environ[SPOOL_DIR_ENV]

        from .layout import TopicLayout

        return KafkaEventBus(
            settings.kafka_bootstrap,
            topic_prefix=settings.topic_prefix,
            layout=TopicLayout.of(settings),
            **options,
        )
    return MemoryEventBus(topic_prefix=settings.topic_prefix, **options)
