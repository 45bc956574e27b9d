"""Embedded stand-ins for the mesh's infrastructure (the Kafka-protocol broker)."""

from __future__ import annotations

from .broker import EmbeddedBroker, kafka_ready

__all__ = ["EmbeddedBroker", "kafka_ready"]
