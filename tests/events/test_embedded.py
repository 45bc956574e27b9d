"""The embedded Tansu broker: starts on a free port, answers Kafka, restarts on the same port."""

from __future__ import annotations

import pytest

from meshctl.embedded import EmbeddedBroker, kafka_ready
from meshctl.errors import BrokerUnavailableError

pytestmark = pytest.mark.kafka


def test_start_stop_and_restart_on_the_same_port() -> None:
    with EmbeddedBroker() as broker:
        port = broker.port
        assert port > 0 and broker.bootstrap == f"127.0.0.1:{port}"
        assert kafka_ready("127.0.0.1", port)
        broker.stop()
        assert not broker.running and not kafka_ready("127.0.0.1", port)
        broker.start()
        assert broker.port == port and kafka_ready("127.0.0.1", port)
    assert not broker.running


async def test_async_form() -> None:
    async with EmbeddedBroker() as broker:
        assert broker.running
    assert not broker.running


def test_a_broker_that_cannot_start_is_a_clear_error() -> None:
    with pytest.raises(BrokerUnavailableError, match="did not start"):
        EmbeddedBroker(binary="/bin/false", startup_timeout=2).start()
