"""The user's config file: named contexts, like kubectl's, in TOML.

    current-context = "local"

    [contexts.local]
    redis_url = "redis://127.0.0.1:6379/0"
    prefix = "mesh"

    [contexts.prod]
    redis_url = "redis://redis.prod:6379/0"
    kafka_bootstrap = "kafka.prod:9092"

It lives at ``$XDG_CONFIG_HOME/meshctl/config.toml`` (``~/.config`` when the
variable is unset). Writes go to a temporary file that is then renamed over
the old one, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshctl.config.settings import CONTEXT_KEYS
from meshctl.errors import InvalidRequestError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


class ConfigFileError(InvalidRequestError):
    """The config file cannot be read or says something meshctl does not understand."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(slots=True)
class ConfigFile:
    """The parsed config file."""

    current_context: str | None = None
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/meshctl/config.toml``, defaulting to ``~/.config``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "meshctl" / "config.toml"


def load_config(path: Path) -> ConfigFile:
    """Read the config file; a missing file is an empty config.

    Raises:
        ConfigFileError: the file is not valid TOML (the message names file and
            line) or has keys or values meshctl does not understand.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ConfigFile()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read the config file: {exc}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "config.toml") -> ConfigFile:
    """Parse config file text; see ``load_config``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        where = f"{source}:{match.group(1)}" if match else source
        reason = _TOML_POSITION.sub("", message).strip()
        raise ConfigFileError(f"{where}: invalid TOML: {reason}") from None
    return _from_toml(raw, source)


def _from_toml(raw: dict[str, Any], source: str) -> ConfigFile:
    """Check the parsed document's shape."""
    unknown = set(raw) - {"current-context", "contexts"}
    if unknown:
        raise ConfigFileError(f"{source}: unknown top-level key {sorted(unknown)[0]!r}")
    current = raw.get("current-context")
    if current is not None and not isinstance(current, str):
        raise ConfigFileError(f"{source}: current-context must be a string")
    contexts = raw.get("contexts", {})
    if not isinstance(contexts, dict):
        raise ConfigFileError(f"{source}: contexts must be a table of [contexts.NAME] tables")
    for name, values in contexts.items():
        if not isinstance(values, dict):
            raise ConfigFileError(f"{source}: [contexts.{name}] must be a table")
        for key, value in values.items():
            if key not in CONTEXT_KEYS:
                raise ConfigFileError(
                    f"{source}: unknown setting {key!r} in [contexts.{name}]"
                    f" (known: {', '.join(sorted(CONTEXT_KEYS))})"
                )
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ConfigFileError(
                    f"{source}: {key} in [contexts.{name}] must be a string or a number"
                )
    return ConfigFile(current_context=current, contexts=contexts)


def to_toml(config: ConfigFile) -> str:
    """The TOML text of a config (strings and numbers only, which is all a context holds)."""
    lines: list[str] = []
    if config.current_context is not None:
        lines.append(f"current-context = {_toml_value(config.current_context)}")
    for name in sorted(config.contexts):
        lines.append("")
        lines.append(f"[contexts.{_toml_key(name)}]")
        for key, value in sorted(config.contexts[name].items()):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: str | int | float) -> str:
    # A JSON string is a valid TOML basic string: the escapes it emits are TOML's too.
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def save_config(path: Path, config: ConfigFile) -> None:
    """Write the config file atomically."""
    atomic_write_text(path, to_toml(config))


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so readers see the old or the new content, never a mix.

    The text goes to a temporary file in the same directory, which is then
    renamed over ``path`` (a rename within one file system is atomic).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
