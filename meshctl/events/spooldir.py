"""Where spools live and who may use one: a directory per process, held by a lock.

Every bus spools into a directory of its own under the spool root
(``$XDG_CACHE_HOME/meshctl/spool``): ``<client_id>-<pid>-<random>`` unless
it is given a durable directory by name (``spool_dir``, ``MESH_SPOOL_DIR``).
Whoever uses a spool holds an exclusive ``flock`` on its ``lock`` file for
as long as it does, so two live processes never share one; the kernel
drops the lock when its holder dies, which is how ``meshctl events drain``
tells an orphaned spool (lock free) from a busy one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
from pathlib import Path

LOCK_FILE = "lock"
CURSOR_FILE = "cursor"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class SpoolInUseError(RuntimeError):
    """Another live process holds the spool's lock."""

    def __init__(self, directory: Path, holder: str) -> None:
        super().__init__(f"event spool {directory} is in use by another process ({holder})")
        self.directory = directory


def default_spool_root() -> Path:
    """``$XDG_CACHE_HOME/meshctl/spool`` (``~/.cache`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "meshctl" / "spool"


def private_spool_dir(root: Path, client_id: str) -> Path:
    """A directory name no other process uses: client id, pid and a random part."""
    name = _UNSAFE.sub("_", client_id) or "meshctl"
    return root / f"{name}-{os.getpid()}-{secrets.token_hex(4)}"


def spool_dirs(root: Path) -> list[Path]:
    """Every spool directory under ``root`` (busy or not), by name.

    A directory with segments but no lock file is a spool of a release before
    locks (``spool/<client_id>``, shared by name) and counts too.
    """
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and ((p / LOCK_FILE).exists() or any(p.glob("segment-*.jsonl")))
    )


class SpoolLock:
    """The exclusive lock on one spool directory, held until ``release``."""

    def __init__(self, directory: Path) -> None:
        """Create ``directory`` (0700) if need be and lock it; raises SpoolInUseError if held."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown pid"
            os.close(fd)
            raise SpoolInUseError(directory, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self, *, discard: bool = False) -> None:
        """Let another process take the spool (idempotent).

        ``discard``: remove the directory too, when nothing but bookkeeping is left in it
        (a private spool that was drained; one with lines set aside stays).
        """
        if self._fd is None:
            return
        if discard:
            for name in (CURSOR_FILE, LOCK_FILE):
                (self.directory / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.directory.rmdir()
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None
