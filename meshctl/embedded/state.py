"""The state directory of ``meshctl up`` meshes: run directories and the admin password.

The context file itself (path, shape and the liveness of its process)
belongs to ``meshctl.config.upcontext``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
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


def admin_password(state_dir: Path, env: Mapping[str, str]) -> tuple[str, str]:
    """The auth service's administrator password for a mesh, and where it is, to tell.

    ``MESH_ADMIN_PASSWORD`` when set; else the one in ``<state>/admin-password``,
    generated on first use (0600), so it stays the same from one mesh to the next.
    """
    given = env.get("MESH_ADMIN_PASSWORD", "")
    if given:
        return given, "MESH_ADMIN_PASSWORD"
    path = admin_password_path(state_dir)
    return _read_or_create(path), str(path)


def admin_password_path(state_dir: Path) -> Path:
    return state_dir / "admin-password"


def known_admin_password(state_dir: Path, env: Mapping[str, str]) -> str | None:
    """What ``admin_password`` would give, without generating one: None before the first mesh."""
    try:
        kept = admin_password_path(state_dir).read_text().strip()
    except OSError:
        kept = ""
    return env.get("MESH_ADMIN_PASSWORD", "") or kept or None


def _read_or_create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(18)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        path.chmod(0o600)  # written by hand, or under another umask
        kept = path.read_text().strip()
        if kept:
            return kept
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as file:
        file.write(password + "\n")
    return password
