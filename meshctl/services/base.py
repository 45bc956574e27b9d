"""What every reference service provides so that one host can run it.

A service package ``meshctl/services/<name>/`` exports
``build(settings: ServiceSettings) -> GrpcServiceApp | HttpServiceApp``;
``meshctl.services.host.serve`` runs either kind, registers it in the mesh
and stops it gracefully.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import grpc
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meshctl.config import MeshSettings


class ServiceSettings(MeshSettings):
    """Options of the reference services (env prefix ``MESH_``), on top of the mesh's own.

    Build them with ``meshctl.config.resolve_settings(flags, model=ServiceSettings)``
    so the config file's context and the ``meshctl up`` context count too.
    """

    model_config = SettingsConfigDict(env_prefix="MESH_", extra="ignore")

    def database_url_of(self, service: str) -> str:
        """Where ``service`` keeps its data: ``database_url`` with ``{service}`` replaced.

        ``sqlite+aiosqlite:///run/{service}.db`` gives each service a file of its own, so
        one service's write transactions never wait for another's lock on a shared file.
        """
        return self.database_url.replace("{service}", service)

    database_schema: str | None = Field(
        None, description="PostgreSQL schema holding the service tables (default: the search path)"
    )
    metrics: bool = Field(True, description="serve Prometheus /metrics and announce it")
    metrics_port: int = Field(
        0, ge=0, le=65535, description="port of the Prometheus /metrics endpoint (0: a free one)"
    )
    sli: bool = Field(
        True, description="count what the instance serves in the SLI buckets `meshctl slo` reads"
    )
    trace_ttl_seconds: float = Field(
        900.0, gt=0, description="how long the span store keeps a trace after its last span"
    )

    # analytics
    default_speed_limit_kmh: float = Field(50.0, gt=0)
    speed_limits_kmh: dict[str, float] = Field(
        default_factory=dict,
        description='limits by zone or camera id, e.g. {"highway": 100, "cam-7": 30}',
    )
    anomaly_window_seconds: int = Field(60, gt=0)
    anomaly_z_threshold: float = Field(3.0, gt=0)
    anomaly_min_history: int = Field(5, ge=2)
    anomaly_history_windows: int = Field(30, ge=2)
    analytics_recent_seconds: float = Field(
        6 * 3600.0, gt=0, description="how far back analytics reads are answered from memory"
    )
    analytics_recent_max_frames: int = Field(
        100_000,
        ge=0,
        description="frames, and violations and anomalies, held in memory at most each "
        "(0: every read from SQL)",
    )
    analytics_refresh_seconds: float = Field(
        0.25, ge=0, description="other replicas' writes show in reads within this time"
    )
    analytics_commit_window_seconds: float = Field(
        0.002, ge=0, le=1, description="frames arriving within this time share one transaction"
    )
    analytics_commit_max_frames: int = Field(
        256, ge=1, le=5000, description="frames in one transaction at most"
    )
    analytics_remembered_frames: int = Field(
        10_000, ge=0, description="redeliveries of the last this many frames answered from memory"
    )

    # instance labels: route tables pick subsets by them (docs/routing.md)
    labels: dict[str, str] = Field(default_factory=dict, description="metadata labels, k=v")
    instance_version: str | None = Field(
        default=None, description="the version instances register (default: meshctl's)"
    )

    # streaming
    forward_timeout: float = Field(5.0, gt=0)
    forward_retry_initial: float = Field(0.5, gt=0)
    forward_retry_max: float = Field(30.0, gt=0)
    streaming_depth_resync_seconds: float = Field(
        1.0, gt=0, description="queue_depth counts other replicas' frames within this time"
    )

    # alert
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, gt=0, lt=65536)
    smtp_sender: str = "alerts@its.local"
    webhook_url: str | None = None
    sms_gateway_url: str | None = None
    alert_recipients: list[str] = Field(default_factory=list)
    alert_allowed_urls: list[str] = Field(
        default_factory=list,
        description="hosts (host or host:port) or URL prefixes a caller's own webhook URL "
        "may go to; the configured webhook_url is always allowed",
    )
    alert_allowed_networks: list[str] = Field(
        default_factory=list,
        description="private, loopback or link-local networks (CIDR) allowed webhook hosts "
        "may resolve to; none by default",
    )

    # auth
    jwt_secret: str = "change-me"
    jwt_ttl_seconds: int = Field(900, gt=0)
    refresh_ttl_seconds: int = Field(86400, gt=0)
    admin_user: str = "admin"
    admin_password: str = Field(
        "", description="the initial administrator's password; `meshctl up` generates one"
    )
    auth_dev_mode: bool = Field(
        False, description="auth may start without a JWT secret, generating a throwaway one"
    )


@runtime_checkable
class GrpcServiceApp(Protocol):
    """A gRPC service the host serves on a ``grpc.aio`` server."""

    name: str

    @property
    def grpc_service_names(self) -> Sequence[str]:
        """Full proto names of the services, for health and reflection."""

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register the servicers on ``server``."""

    async def start(self) -> None:
        """Open storage (creating tables) and start background tasks."""

    async def stop(self) -> None:
        """Drain background work and close storage."""


@runtime_checkable
class HttpServiceApp(Protocol):
    """An HTTP service the host serves with uvicorn."""

    name: str
    asgi_app: Any  # a FastAPI application
    # Registered with the endpoint: "route.<method>" = "<VERB> <path>", and "health_path".
    metadata: dict[str, str]

    async def start(self) -> None:
        """Open storage and start background tasks."""

    async def stop(self) -> None:
        """Drain background work and close storage."""


ServiceApp = GrpcServiceApp | HttpServiceApp


class ServiceBuilder(Protocol):
    """The ``build`` function every service package exports."""

    def __call__(self, settings: ServiceSettings) -> ServiceApp: ...
