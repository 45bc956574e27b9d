"""The aiokafka boundary: the one place its clients are built, error translation, topics.

Everything in meshctl that talks Kafka gets its consumer, producer or admin
client from ``kafka_consumer``, ``kafka_producer`` or ``kafka_admin`` here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from meshctl.errors import BrokerUnavailableError

from .layout import DEFAULT_LAYOUT, TopicLayout
from .outage import quiet_connection_noise

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_INVALID_REPLICATION_FACTOR = 38
_SENDER_LOG = logging.getLogger("aiokafka.producer.sender")


def kafka_consumer(bootstrap: str, client_id: str, **options: Any) -> AIOKafkaConsumer:
    """An unstarted consumer that commits only when told (meshctl never auto-commits)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap, client_id=client_id, enable_auto_commit=False, **options
    )


def kafka_producer(bootstrap: str, client_id: str, **options: Any) -> AIOKafkaProducer:
    """An unstarted producer; ``options`` are aiokafka's (acks, linger_ms, ...)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, **options)


async def start_producer(
    bootstrap: str, client_id: str, idempotent: bool | None, **options: Any
) -> tuple[AIOKafkaProducer, bool]:
    """A started ``acks=all`` producer, and whether it is idempotent.

    ``idempotent=None`` tries an idempotent producer first and falls back to a
    plain one when the broker refuses (Tansu answers InitProducerId with an
    error). Raises KafkaError when the broker cannot be reached; the caller
    reports that, so aiokafka's own connection lines are held back.
    """
    for attempt in [idempotent] if idempotent is not None else [True, False]:
        producer = kafka_producer(
            bootstrap, client_id, acks="all", enable_idempotence=attempt, **options
        )
        try:
            # The idempotence probe's refusal is expected and logged by us at INFO;
            # aiokafka would also log it as an ERROR on every start.
            with _disabled(_SENDER_LOG) if attempt else nullcontext(), quiet_connection_noise():
                await producer.start()
        except KafkaError as exc:
            await producer.stop()
            if is_transient(exc) or not attempt:
                raise
            log.info("broker at %s refuses idempotent producers (%s)", bootstrap, exc)
            continue
        except BaseException:  # cancelled (a bus stopping) while connecting: close it all the same
            await producer.stop()
            raise
        return producer, attempt
    raise AssertionError("unreachable: the non-idempotent attempt returns or raises")


def kafka_admin(bootstrap: str, client_id: str) -> AIOKafkaAdminClient:
    """An unstarted admin client."""
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)


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


async def probe_broker(bootstrap: str, *, client_id: str, timeout: float) -> None:
    """Connect to the broker and read its topic list.

    Raises:
        BrokerUnavailableError: the broker refused or dropped the connection.
        TimeoutError: it did not answer within ``timeout`` seconds.
    """
    consumer = kafka_consumer(bootstrap, client_id)
    try:
        # The error raised says the broker is away; aiokafka's own line would repeat it.
        with kafka_errors(bootstrap, "checking it"), quiet_connection_noise():
            async with asyncio.timeout(timeout):
                await consumer.start()
                await consumer.topics()
    finally:
        await consumer.stop()


class TopicManager:
    """Creates topics on demand (tolerating "already exists") and remembers them.

    Topics are created with ``layout``'s partitions, replication factor and
    ``min.insync.replicas``; a replication factor above the cluster's broker
    count raises TopicLayoutError (checked before asking, and when the broker refuses).
    """

    def __init__(
        self, bootstrap: str, *, client_id: str, layout: TopicLayout = DEFAULT_LAYOUT
    ) -> None:
        self.bootstrap = bootstrap
        self.layout = layout
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

    def consumer(self, name: str, **options: Any) -> AIOKafkaConsumer:
        """An unstarted consumer on this broker, client id ``<client_id>-<name>``."""
        return kafka_consumer(self.bootstrap, f"{self.client_id}-{name}", **options)

    async def partitions_of(
        self, topics: Iterable[str], *, attempts: int = 40, pause: float = 0.05
    ) -> dict[str, set[int]]:
        """The partition ids of each of ``topics`` (empty for a topic the broker lacks).

        Reads fresh cluster metadata, asking again for a moment while any topic
        shows no partitions: a topic created just now may not show them yet.
        """
        wanted = set(topics)
        async with self._admin() as admin:
            for attempt in range(attempts):
                found = _partition_ids(await admin.describe_topics(), wanted)
                if all(found.values()) or attempt == attempts - 1:
                    break
                await asyncio.sleep(pause)
        return found

    async def _create(self, missing: list[str]) -> None:
        layout = self.layout
        new = [
            NewTopic(t, layout.partitions, layout.replication_factor, topic_configs=layout.configs)
            for t in missing
        ]
        async with self._admin() as admin:
            brokers = len((await admin.describe_cluster())["brokers"])
            layout.check_brokers(brokers, self.bootstrap)
            response = await admin.create_topics(new)
        for topic, code, message in response.topic_errors:
            if code == _INVALID_REPLICATION_FACTOR:
                raise layout.too_few_brokers(brokers, self.bootstrap, f"broker: {message}")
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                log.warning("could not create topic %s: error %s %s", topic, code, message)
        self._known.update(missing)

    @asynccontextmanager
    async def _admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        admin = kafka_admin(self.bootstrap, self.client_id)
        try:
            await admin.start()
            yield admin
        finally:
            await admin.close()

    def forget(self) -> None:
        """Check every topic again (after an outage the broker may have come back empty)."""
        self._known.clear()


def _partition_ids(described: list[dict[str, Any]], wanted: set[str]) -> dict[str, set[int]]:
    """Partition ids per wanted topic from a metadata answer (topics in error have none)."""
    found: dict[str, set[int]] = {t: set() for t in wanted}
    for topic in described:
        if topic["topic"] in wanted and topic["error_code"] == 0:
            found[topic["topic"]] = {p["partition"] for p in topic["partitions"]}
    return found


@contextmanager
def _disabled(logger: logging.Logger) -> Iterator[None]:
    """Silence ``logger`` for the body of the block."""
    previous = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = previous
