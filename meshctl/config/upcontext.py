"""The context file of the mesh ``meshctl up`` runs, which other commands read as a layer.

It is a JSON file at ``up_state_path()``::

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
at closed ports. ``meshctl.embedded.mesh`` writes it with ``write_up_context``
and removes it with ``remove_up_context`` when the mesh stops.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshctl.config.file import ConfigFileError, atomic_write_text
from meshctl.config.settings import CONTEXT_KEYS

UP_CONTEXT_VERSION = 1


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may hold spaces.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass(slots=True)
class UpContext:
    """Where the mesh started by ``meshctl up`` lives."""

    settings: dict[str, Any]
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    services: dict[str, str] = field(default_factory=dict)

    def is_running(self) -> bool:
        """Whether the process that wrote the context is still alive."""
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
