"""The run directory of a ``meshctl up`` mesh.

The context file itself (path, shape and the liveness of its process)
belongs to ``meshctl.config.upcontext``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def new_run_dir(state_dir: Path, now: float | None = None) -> Path:
    """A fresh directory for one mesh's logs and data: ``<state>/runs/<time>-<pid>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path = state_dir / "runs" / f"{stamp}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path
