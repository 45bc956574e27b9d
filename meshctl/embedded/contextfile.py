"""The context file ``meshctl up`` writes so other meshctl commands find its mesh.

Path: ``$XDG_STATE_HOME/meshctl/up.json`` (``~/.local/state/meshctl/up.json``
without it). Shape::

    {"redis_url", "kafka_bootstrap", "database_url", "prefix", "pid",
     "started_at", "run_dir", "processes": [{"name", "service", "pid"}, ...]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """meshctl's state directory under ``$XDG_STATE_HOME`` (or ``~/.local/state``)."""
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "meshctl"


def context_path(env: Mapping[str, str] | None = None) -> Path:
    return state_dir(env) / "up.json"


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    name: str
    service: str
    pid: int


@dataclass(frozen=True, slots=True)
class UpContext:
    """Where a running ``meshctl up`` mesh lives and which processes make it."""

    redis_url: str
    kafka_bootstrap: str
    database_url: str | None
    prefix: str
    pid: int
    started_at: float
    run_dir: str
    processes: tuple[ProcessRecord, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> UpContext:
        """Parse a context file; raises ``ValueError`` on anything malformed."""
        try:
            raw: Any = json.loads(text)
            procs = tuple(ProcessRecord(**p) for p in raw.pop("processes", []))
            ctx = cls(**raw, processes=procs)
        except (TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed context file: {exc}") from exc
        if not isinstance(ctx.pid, int) or not isinstance(ctx.redis_url, str):
            raise ValueError("malformed context file: pid or redis_url has the wrong type")
        return ctx


def write_context(ctx: UpContext, path: Path) -> None:
    """Write atomically so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(ctx.to_json())
    os.replace(tmp, path)


def read_context(path: Path) -> UpContext | None:
    """The context at ``path``, or ``None`` when there is none; ``ValueError`` if garbled."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return UpContext.from_json(text)


def remove_context(path: Path, pid: int | None = None) -> None:
    """Remove the file; with ``pid``, only if it still belongs to that process."""
    if pid is not None:
        try:
            current = read_context(path)
        except ValueError:
            current = None
        if current is None or current.pid != pid:
            return
    path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
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
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
