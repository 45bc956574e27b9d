"""Layered configuration: one ``MeshSettings`` from flags, environment, files and defaults.

Precedence, highest first (each layer is a pydantic-settings source):

    flag      --redis-url, --kafka, --prefix on the command line
    env       MESH_* environment variables
    config    the selected context of the config file (see ``configfile``)
    up        the context ``meshctl up`` wrote for the mesh it runs
    default   MeshSettings' defaults

The ``meshctl up`` context is a JSON file at ``up_state_path()``::

    {
      "version": 1,
      "pid": 4242,                      # the process running the mesh
      "started_at": 1732650000.0,       # unix time
      "settings": {"redis_url": "redis://127.0.0.1:40123/0",
                   "kafka_bootstrap": "127.0.0.1:40125", "prefix": "mesh", ...},
      "services": {"streaming": "127.0.0.1:50051", ...}
    }

``settings`` holds ``MeshSettings`` fields only. The context is ignored once
its process has exited, so a mesh that died does not leave commands pointing
at closed ports. Write it with ``write_up_context`` and remove it with
``remove_up_context`` when the mesh stops.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
)
from pydantic_settings.sources import DefaultSettingsSource

from meshctl.cli.configfile import (
    CONTEXT_KEYS,
    ConfigFile,
    ConfigFileError,
    atomic_write_text,
    config_path,
    load_config,
)
from meshctl.config import MeshSettings

UP_CONTEXT_VERSION = 1


@dataclass(slots=True)
class UpContext:
    """Where the mesh started by ``meshctl up`` lives."""

    settings: dict[str, Any]
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    services: dict[str, str] = field(default_factory=dict)

    def is_running(self) -> bool:
        """Whether the process that wrote the context is still alive."""
        from meshctl.embedded.state import pid_alive

        return pid_alive(self.pid)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": UP_CONTEXT_VERSION,
                "pid": self.pid,
                "started_at": self.started_at,
                "settings": self.settings,
                "services": self.services,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str) -> UpContext:
        """Parse the state file; raises ValueError when it is not an up context."""
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != UP_CONTEXT_VERSION:
            raise ValueError(f"not a version {UP_CONTEXT_VERSION} meshctl up context")
        settings, services, pid = data.get("settings"), data.get("services", {}), data.get("pid")
        if not isinstance(settings, dict) or not isinstance(services, dict):
            raise ValueError("settings and services must be objects")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError("pid must be a positive integer")
        unknown = set(settings) - CONTEXT_KEYS
        if unknown:
            raise ValueError(f"unknown setting {sorted(unknown)[0]!r}")
        started_at = data.get("started_at", 0.0)
        if not isinstance(started_at, int | float):
            raise ValueError("started_at must be a number")
        return cls(
            settings=settings,
            pid=pid,
            started_at=float(started_at),
            services={str(k): str(v) for k, v in services.items()},
        )


def up_state_path() -> Path:
    """``$XDG_STATE_HOME/meshctl/up.json``, defaulting to ``~/.local/state``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "meshctl" / "up.json"


def write_up_context(context: UpContext, path: Path | None = None) -> Path:
    """Publish the running mesh's context (atomically); returns the file written."""
    path = path or up_state_path()
    atomic_write_text(path, context.to_json() + "\n")
    return path


def read_up_context(path: Path | None = None) -> UpContext | None:
    """The ``meshctl up`` context, or None when there is none.

    Raises:
        ConfigFileError: the file exists but is not an up context.
    """
    path = path or up_state_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read the meshctl up context: {exc}") from None
    try:
        return UpContext.from_json(raw)
    except ValueError as exc:
        raise ConfigFileError(
            f"{path}: {exc}", hint="remove the file or run `meshctl up` again"
        ) from None


def remove_up_context(path: Path | None = None) -> None:
    """Forget the ``meshctl up`` context (when the mesh stops)."""
    (path or up_state_path()).unlink(missing_ok=True)


class ValuesSource(PydanticBaseSettingsSource):
    """A settings layer whose values were read elsewhere (a config context, the up context)."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = dict(values)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k in self.settings_cls.model_fields}


def validate_setting(key: str, value: str) -> str | int | float:
    """Check a value for a context the way the settings will read it; returns it typed.

    Raises:
        ConfigFileError: the key is not a setting or the value does not fit it.
    """
    if key not in CONTEXT_KEYS:
        raise ConfigFileError(
            f"unknown setting {key!r}", hint=f"settings: {', '.join(sorted(CONTEXT_KEYS))}"
        )
    field_type: Any = MeshSettings.model_fields[key].annotation
    try:
        typed = TypeAdapter(field_type).validate_python(value)
    except ValidationError as exc:
        raise ConfigFileError(f"invalid {key} {value!r}: {exc.errors()[0]['msg']}") from None
    return typed if isinstance(typed, str | int | float) else value


@dataclass(slots=True)
class ResolvedSettings:
    """The effective settings, the layer each value came from and the context chosen."""

    settings: MeshSettings
    sources: dict[str, str]
    context: str | None
    config_file: Path


def select_context(config: ConfigFile, requested: str | None, path: Path) -> str | None:
    """The context to use: the one asked for, else the file's current-context."""
    name = requested or config.current_context
    if name is not None and name not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or "none"
        raise ConfigFileError(
            f"no context named {name!r} in {path} (known: {known})",
            hint="list them with `meshctl config get-contexts`",
        )
    return name


def resolve_settings(
    flags: Mapping[str, Any],
    *,
    context: str | None = None,
    config_file: Path | None = None,
    up_file: Path | None = None,
) -> ResolvedSettings:
    """Build the settings from every layer.

    Args:
        flags: Values given on the command line (None means not given).
        context: The config-file context to use instead of current-context.
        config_file: The config file (default ``config_path()``).
        up_file: The ``meshctl up`` context file (default ``up_state_path()``).

    Returns:
        The settings with, for each field, the layer that set it.

    Raises:
        ConfigFileError: a file is malformed, the context is unknown or a value is invalid.
    """
    config_file = config_file or config_path()
    config = load_config(config_file)
    name = select_context(config, context, config_file)
    up = read_up_context(up_file)
    layers: list[tuple[str, PydanticBaseSettingsSource]] = [
        (
            "flag",
            InitSettingsSource(MeshSettings, {k: v for k, v in flags.items() if v is not None}),
        ),
        ("env", EnvSettingsSource(MeshSettings)),
        (f"config:{name}", ValuesSource(MeshSettings, config.contexts.get(name or "", {}))),
        ("up", ValuesSource(MeshSettings, up.settings if up and up.is_running() else {})),
        ("default", DefaultSettingsSource(MeshSettings)),
    ]
    sources: dict[str, str] = {}
    for label, source in layers:
        for key in source():
            sources.setdefault(key, label)
    try:
        # BaseSettings' ``_build_sources`` takes ready-made sources, so the layers can
        # carry this call's state (the chosen context); the typed signature omits it.
        built: tuple[tuple[PydanticBaseSettingsSource, ...], dict[str, Any]]
        built = (tuple(s for _, s in layers), {})
        settings = MeshSettings(_build_sources=built)  # type: ignore[call-arg]
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "?"
        raise ConfigFileError(
            f"invalid {key} (from {sources.get(key, 'default')}): {error['msg']}"
        ) from None
    for key in MeshSettings.model_fields:
        sources.setdefault(key, "default")
    return ResolvedSettings(settings, sources, name, config_file)
