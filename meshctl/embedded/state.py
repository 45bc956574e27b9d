"""Process liveness and the run directory of a ``meshctl up`` mesh.

The context file itself (path and shape) belongs to ``meshctl.cli.settings``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


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


def new_run_dir(state_dir: Path, now: float | None = None) -> Path:
    """A fresh directory for one mesh's logs and data: ``<state>/runs/<time>-<pid>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path = state_dir / "runs" / f"{stamp}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path
