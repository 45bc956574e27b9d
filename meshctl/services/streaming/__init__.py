"""Streaming: accepts camera frames, queues them durably and forwards them to analytics."""

from __future__ import annotations

from meshctl.services.base import ServiceSettings
from meshctl.services.streaming.forwarder import (
    AnalyticsForwarder,
    DirectForwarder,
    MeshForwarder,
)
from meshctl.services.streaming.service import StreamingApp, StreamingServicer

__all__ = [
    "AnalyticsForwarder",
    "DirectForwarder",
    "MeshForwarder",
    "StreamingApp",
    "StreamingServicer",
    "build",
]


def build(settings: ServiceSettings) -> StreamingApp:
    """The streaming app configured by ``settings``; frames reach analytics through the mesh."""
    return StreamingApp(settings)
