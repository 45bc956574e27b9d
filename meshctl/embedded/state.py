"""The run directory of a ``meshctl up`` mesh.

The context file itself (path, shape and the liveness of its process)
belongs to ``meshctl.config.upcontext``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PRIVATE_UMASK = 0o077


def keep_files_private() -> None:
    """Make what this process and its children create from now on the user's alone
    (files 0600, directories 0700): logs, databases, alert files and the context file
    hold tokens, password hashes and URLs with passwords."""
    os.umask(PRIVATE_UMASK)


def new_run_dir(state_dir: Path, now: float | None = None) -> Path:
    """A fresh directory for one mesh's logs and data: ``<state>/runs/<time>-<pid>``,
    readable by the user alone, as is the state directory."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path = state_dir / "runs" / f"{stamp}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for private in (state_dir, state_dir / "runs", path):
        private.chmod(0o700)  # made by an older version, or under another umask
    return path
