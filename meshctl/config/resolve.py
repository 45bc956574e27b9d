"""The one settings resolver: flags, environment, config file, up context and defaults.

Precedence, highest first (each layer is a pydantic-settings source):

    flag      values given on the command line
    env       MESH_* environment variables
    config    the selected context of the config file (``meshctl.config.file``)
    up        the context ``meshctl up`` wrote for the mesh it runs (``meshctl.config.upcontext``)
    default   the model's defaults

The model is ``MeshSettings`` or a subclass of it (the services'
``ServiceSettings``); the config file and the up context hold
``MeshSettings`` keys only, flags and environment may set any field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
)
from pydantic_settings.sources import DefaultSettingsSource

from meshctl.config.file import ConfigFile, ConfigFileError, config_path, load_config
from meshctl.config.settings import CONTEXT_KEYS, MeshSettings
from meshctl.config.upcontext import read_up_context

S = TypeVar("S", bound=MeshSettings)


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
class ResolvedSettings(Generic[S]):
    """The effective settings, the layer each value came from and the context chosen."""

    settings: S
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


@overload
def resolve_settings(
    flags: Mapping[str, Any],
    *,
    context: str | None = None,
    config_file: Path | None = None,
    up_file: Path | None = None,
) -> ResolvedSettings[MeshSettings]: ...


@overload
def resolve_settings(
    flags: Mapping[str, Any],
    *,
    model: type[S],
    context: str | None = None,
    config_file: Path | None = None,
    up_file: Path | None = None,
) -> ResolvedSettings[S]: ...


def resolve_settings(
    flags: Mapping[str, Any],
    *,
    model: type[MeshSettings] = MeshSettings,
    context: str | None = None,
    config_file: Path | None = None,
    up_file: Path | None = None,
) -> ResolvedSettings[Any]:
    """Build the settings from every layer.

    Args:
        flags: Values given on the command line (None means not given).
        model: The settings class to build: ``MeshSettings`` or a subclass.
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
        ("flag", InitSettingsSource(model, {k: v for k, v in flags.items() if v is not None})),
        ("env", EnvSettingsSource(model)),
        (f"config:{name}", ValuesSource(model, config.contexts.get(name or "", {}))),
        ("up", ValuesSource(model, up.settings if up and up.is_running() else {})),
        ("default", DefaultSettingsSource(model)),
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
        settings = model(_build_sources=built)  # type: ignore[call-arg]
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "?"
        raise ConfigFileError(
            f"invalid {key} (from {sources.get(key, 'default')}): {error['msg']}"
        ) from None
    for key in model.model_fields:
        sources.setdefault(key, "default")
    return ResolvedSettings(settings, sources, name, config_file)
