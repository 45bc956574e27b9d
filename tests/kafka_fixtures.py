"""Kafka fixtures: a session broker, per-test topic prefixes, a restartable broker.

``MESH_KAFKA_BOOTSTRAP`` points the suite at an existing cluster instead of
the embedded Tansu broker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from meshctl.embedded import EmbeddedBroker


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of the broker shared by the whole session."""
    existing = os.environ.get("MESH_KAFKA_BOOTSTRAP")
    if existing:
        yield existing
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker for this test alone, which it may stop and start on the same port."""
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()
