"""The settings model of the mesh runtime and the command.

``resolve_settings`` (``meshctl.config.resolve``) fills it from every layer;
the runtime only reads it.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MeshSettings(BaseSettings):
    """Where the mesh's infrastructure lives and how the runtime behaves."""

    model_config = SettingsConfigDict(env_prefix="MESH_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap: str | None = None
    kafka_partitions: int = Field(
        default=3, ge=1, description="partitions of topics meshctl creates"
    )
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="replicas of each partition of topics meshctl creates"
    )
    kafka_min_insync_replicas: int = Field(
        default=1, ge=1, description="min.insync.replicas of topics meshctl creates (acks=all)"
    )
    database_url: str = "sqlite+aiosqlite:///meshctl.db"
    prefix: str = Field(default="mesh", description="key prefix of the registry and control plane")
    topic_prefix: str = "its"
    client_name: str | None = None
    default_timeout: float = 30.0
    trace_store: bool = Field(
        default=True, description="keep this process's spans in the mesh for `meshctl trace`"
    )
    zone: str | None = Field(
        default=None,
        description="this process's zone: its instances register in it, its calls prefer it",
    )
    tls: bool = Field(
        default=True,
        description="mTLS in meshes `up` and `demo` start, and with the files below (off: plain)",
    )
    tls_ca: str | None = Field(
        default=None, description="CA bundle (PEM) that peers' certificates must chain to"
    )
    tls_cert: str | None = Field(default=None, description="this process's certificate chain (PEM)")
    tls_key: str | None = Field(default=None, description="this process's private key (PEM)")
    tls_trust_domain: str = Field(
        default="mesh.local", description="trust domain of the SPIFFE ids the mesh CA issues"
    )
    tls_cert_hours: float = Field(
        default=24.0, gt=0, description="lifetime of the certificates the mesh CA issues"
    )


CONTEXT_KEYS = frozenset(MeshSettings.model_fields)
"""Settings a config-file context or the up context may hold: the fields of ``MeshSettings``."""
