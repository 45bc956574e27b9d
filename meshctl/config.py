"""Settings for the mesh runtime and the command, parsed once at the edge.

Precedence (highest first): command-line flag > ``MESH_*`` environment >
config file context > context written by ``meshctl up`` > defaults. The CLI
layers flags and files on top of this model; the runtime only reads it.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MeshSettings(BaseSettings):
    """Where the mesh's infrastructure lives and how the runtime behaves."""

    model_config = SettingsConfigDict(env_prefix="MESH_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap: str | None = None
    database_url: str = "sqlite+aiosqlite:///meshctl.db"
    prefix: str = Field(default="mesh", description="key prefix of the registry and control plane")
    topic_prefix: str = "its"
    client_name: str | None = None
    default_timeout: float = 30.0
