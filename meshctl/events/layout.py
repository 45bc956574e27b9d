"""How the topics a bus creates are laid out: partitions, replicas, in-sync replicas.

``TopicLayout`` is read once from the settings (``MESH_KAFKA_PARTITIONS``,
``MESH_KAFKA_REPLICATION_FACTOR``, ``MESH_KAFKA_MIN_INSYNC_REPLICAS``) and
handed to the ``TopicManager``, which creates every topic with it. A
replication factor larger than the cluster's broker count cannot be met:
Kafka refuses such a topic (INVALID_REPLICATION_FACTOR), and the manager
checks it itself first, since some brokers (Tansu) accept it silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings

REPLICATION_SETTING = "MESH_KAFKA_REPLICATION_FACTOR"
MIN_INSYNC_SETTING = "MESH_KAFKA_MIN_INSYNC_REPLICAS"


class TopicLayoutError(InvalidRequestError):
    """The topic layout asked for does not fit the cluster (exit 2: fix the settings)."""


@dataclass(frozen=True, slots=True)
class TopicLayout:
    """Partitions, replication factor and ``min.insync.replicas`` of new topics.

    The defaults suit one broker (the embedded one); production wants
    replication 3 and ``min_insync_replicas=2`` (see docs/deployment.md).
    """

    partitions: int = 3
    replication_factor: int = 1
    min_insync_replicas: int = 1

    def __post_init__(self) -> None:
        if min(self.partitions, self.replication_factor, self.min_insync_replicas) < 1:
            raise TopicLayoutError(
                f"invalid topic layout {self}: partitions and replicas must be at least 1"
            )
        if self.min_insync_replicas > self.replication_factor:
            raise TopicLayoutError(
                f"{MIN_INSYNC_SETTING}={self.min_insync_replicas} exceeds "
                f"{REPLICATION_SETTING}={self.replication_factor}: no write could ever succeed"
            )

    @classmethod
    def of(cls, settings: MeshSettings) -> TopicLayout:
        """The layout the settings ask for; raises TopicLayoutError when it contradicts itself."""
        return cls(
            settings.kafka_partitions,
            settings.kafka_replication_factor,
            settings.kafka_min_insync_replicas,
        )

    @property
    def configs(self) -> dict[str, str]:
        """Topic configs to create topics with."""
        return {"min.insync.replicas": str(self.min_insync_replicas)}

    def check_brokers(self, brokers: int, bootstrap: str) -> None:
        """Raise TopicLayoutError when the cluster has fewer brokers than replicas wanted."""
        if self.replication_factor > brokers:
            raise self.too_few_brokers(brokers, bootstrap)

    def too_few_brokers(self, brokers: int, bootstrap: str, detail: str = "") -> TopicLayoutError:
        """The error for a replication factor the cluster at ``bootstrap`` cannot meet."""
        said = f" ({detail})" if detail else ""
        return TopicLayoutError(
            f"{REPLICATION_SETTING}={self.replication_factor} but the Kafka cluster at "
            f"{bootstrap} has {brokers} broker{'' if brokers == 1 else 's'}{said}: "
            "its topics cannot be created"
        )


DEFAULT_LAYOUT = TopicLayout()
"""The embedded defaults: 3 partitions, one replica, ``min.insync.replicas=1``."""
