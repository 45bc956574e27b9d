"""Service endpoints and their health, as stored in the registry."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

Protocol = Literal["grpc", "http"]
PROTOCOLS: tuple[str, ...] = ("grpc", "http")


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


def new_instance_id() -> str:
    """A short random instance id, unique enough within one service."""
    return uuid.uuid4().hex[:12]


@dataclass(slots=True, eq=False)
class ServiceEndpoint:
    """One instance of a service: where it listens and what the registry knows of it.

    Identity is ``(service_name, instance_id)``; two records of the same instance
    compare equal even when their health differs.
    """

    service_name: str
    host: str
    port: int
    protocol: Protocol = "grpc"
    weight: float = 1.0
    metadata: dict[str, str] = field(default_factory=dict)
    zone: str | None = None
    version: str | None = None
    instance_id: str = field(default_factory=new_instance_id)
    health_status: HealthStatus = HealthStatus.UNKNOWN
    registered_at: float | None = None
    last_check: float | None = None

    def __post_init__(self) -> None:
        if not self.service_name:
            raise ValueError("service_name must not be empty")
        if not self.host:
            raise ValueError("host must not be empty")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValueError(f"port must be an integer, not {self.port!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is outside 1-65535")
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"protocol must be one of {', '.join(PROTOCOLS)}, not {self.protocol!r}"
            )
        if isinstance(self.weight, bool) or not isinstance(self.weight, int | float):
            raise ValueError(f"weight must be a number, not {self.weight!r}")
        if self.weight < 0:
            raise ValueError(f"weight must be >= 0, not {self.weight}")
        self.weight = float(self.weight)
        self.health_status = HealthStatus(self.health_status)
        if not isinstance(self.metadata, dict):
            raise ValueError("metadata must be a mapping of strings")
        self.metadata = {str(k): str(v) for k, v in self.metadata.items()}

    @property
    def address(self) -> str:
        """``host:port``, with IPv6 hosts bracketed."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.service_name, self.instance_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServiceEndpoint):
            return NotImplemented
        return self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["health_status"] = self.health_status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceEndpoint:
        """Build from a mapping; raises ValueError on missing or ill-typed fields."""
        if not isinstance(data, dict):
            raise ValueError("endpoint record must be a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:  # missing required fields
            raise ValueError(str(exc)) from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ServiceEndpoint:
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"endpoint record is not JSON: {exc}") from None
        return cls.from_dict(data)
