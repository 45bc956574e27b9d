"""The aiokafka boundary: error translation and on-demand topic creation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from meshctl.errors import BrokerUnavailableError

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36


@contextmanager
def kafka_errors(bootstrap: str, action: str) -> Iterator[None]:
    """Turn aiokafka (and socket) errors into BrokerUnavailableError naming the broker."""
    try:
        yield
    except (KafkaError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        raise BrokerUnavailableError(
            f"Kafka broker at {bootstrap} is unreachable while {action}: {detail}"
        ) from exc


def is_transient(exc: BaseException) -> bool:
    """Whether the broker being away explains ``exc`` (so spooling and retrying help)."""
    return isinstance(exc, OSError) or bool(getattr(exc, "retriable", False))


class TopicManager:
    """Creates topics on demand (tolerating "already exists") and remembers them."""

    def __init__(self, bootstrap: str, *, partitions: int, client_id: str) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.client_id = client_id
        self._known: set[str] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, topics: Iterable[str]) -> None:
        """Create whichever of ``topics`` this process has not seen yet."""
        if not set(topics) - self._known:
            return
        # One creation at a time: Tansu leaves a topic without partitions when two
        # CreateTopics requests for it race.
        async with self._lock:
            missing = sorted(set(topics) - self._known)
            if missing:
                await self._create(missing)

    async def _create(self, missing: list[str]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id)
        try:
            await admin.start()
            response = await admin.create_topics([NewTopic(t, self.partitions, 1) for t in missing])
        finally:
            await admin.close()
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                log.warning("could not create topic %s: error %s %s", topic, code, message)
        self._known.update(missing)

    def forget(self) -> None:
        """Check every topic again (after an outage the broker may have come back empty)."""
        self._known.clear()
