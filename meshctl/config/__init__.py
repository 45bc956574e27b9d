"""Settings, parsed once at the edge: the model, the config file, the up context, the resolver.

Precedence (highest first): command-line flag > ``MESH_*`` environment >
config file context > context written by ``meshctl up`` > defaults.
``resolve_settings`` layers them into one ``MeshSettings`` (or a subclass
such as the services' ``ServiceSettings``); the runtime only reads the result.

    settings.py   MeshSettings and the keys a context may hold
    file.py       the TOML config file with named contexts
    upcontext.py  the context file of the mesh ``meshctl up`` runs
    resolve.py    the layered resolver
"""

from meshctl.config.file import (
    ConfigFile,
    ConfigFileError,
    atomic_write_text,
    config_path,
    load_config,
    parse_config,
    save_config,
    to_toml,
)
from meshctl.config.resolve import (
    ResolvedSettings,
    ValuesSource,
    resolve_settings,
    select_context,
    validate_setting,
)
from meshctl.config.settings import CONTEXT_KEYS, MeshSettings
from meshctl.config.upcontext import (
    UpContext,
    pid_alive,
    read_up_context,
    remove_up_context,
    up_state_path,
    write_up_context,
)

__all__ = [
    "CONTEXT_KEYS",
    "ConfigFile",
    "ConfigFileError",
    "MeshSettings",
    "ResolvedSettings",
    "UpContext",
    "ValuesSource",
    "atomic_write_text",
    "config_path",
    "load_config",
    "parse_config",
    "pid_alive",
    "read_up_context",
    "remove_up_context",
    "resolve_settings",
    "save_config",
    "select_context",
    "to_toml",
    "up_state_path",
    "validate_setting",
    "write_up_context",
]
