"""An on-disk spool for events the broker could not take.

Records are appended as one JSON line each (topic, key, value, headers) to
segment files ``segment-<n>.jsonl`` and fsynced before the caller is told
the event was accepted. Draining reads the oldest segment first; a segment
is rewritten without its delivered head, or deleted once all of it is
delivered, so a crash mid-drain replays (at least once) and never loses.
Lines that do not parse are moved to ``corrupt-<n>.jsonl`` with a warning.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from meshctl.errors import SpoolFullError

log = logging.getLogger(__name__)

_SEGMENT = "segment-"
_CORRUPT = "corrupt-"


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """A record as it will be produced: topic, key, value and headers."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def to_line(self) -> bytes:
        body = {
            "topic": self.topic,
            "key": None if self.key is None else self.key.decode(),
            "value": self.value.decode(),
            "headers": [[k, base64.b64encode(v).decode()] for k, v in self.headers],
        }
        return json.dumps(body, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> SpooledRecord:
        """Parse one spool line; raises ValueError when it is not one."""
        try:
            body = json.loads(line)
            key = body["key"]
            return cls(
                topic=str(body["topic"]),
                key=None if key is None else str(key).encode(),
                value=str(body["value"]).encode(),
                headers=[(str(k), base64.b64decode(v)) for k, v in body["headers"]],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a spool record: {exc}") from exc


class Spool:
    """Append-only, byte-bounded, crash-safe spool in ``directory``."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("spool max_bytes must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._size = sum(p.stat().st_size for p in self._segments())
        self._next = max((self._number(p) for p in self._segments()), default=0) + 1
        self._active: Path | None = None

    @property
    def size(self) -> int:
        """Bytes held on disk."""
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def append(self, records: list[SpooledRecord]) -> None:
        """Write and fsync ``records``; raises SpoolFullError when they do not fit."""
        data = b"".join(r.to_line() for r in records)
        if self._size + len(data) > self.max_bytes:
            raise SpoolFullError(
                f"event spool {self.directory} is full ({self._size} of {self.max_bytes} bytes) "
                "and the broker is unreachable; the event was not accepted"
            )
        if self._active is None:
            self._active = self.directory / f"{_SEGMENT}{self._next:09d}.jsonl"
            self._next += 1
        fd = os.open(self._active, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._size += len(data)

    def seal(self) -> None:
        """Start a new segment for later appends, so a drain reads a closed file."""
        self._active = None

    def oldest(self) -> tuple[Path, list[SpooledRecord]] | None:
        """The oldest sealed segment and its records (corrupt lines moved aside)."""
        for path in self._segments():
            if path == self._active:
                return None
            records: list[SpooledRecord] = []
            bad: list[bytes] = []
            for line in path.read_bytes().splitlines(keepends=True):
                if not line.strip():
                    continue
                try:
                    records.append(SpooledRecord.from_line(line))
                except ValueError as exc:
                    log.warning("moving a corrupt spool line of %s aside: %s", path.name, exc)
                    bad.append(line if line.endswith(b"\n") else line + b"\n")
            if bad:
                self._set_aside(path, bad)
                self._rewrite(path, records)
            if records:
                return path, records
            self._remove(path)
        return None

    def consume(self, path: Path, delivered: int) -> None:
        """Drop the first ``delivered`` records of ``path`` (all of them deletes it)."""
        lines = [ln for ln in path.read_bytes().splitlines(keepends=True) if ln.strip()]
        rest = lines[delivered:]
        if rest:
            self._rewrite(path, [SpooledRecord.from_line(ln) for ln in rest])
        else:
            self._remove(path)

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob(f"{_SEGMENT}*.jsonl"))

    @staticmethod
    def _number(path: Path) -> int:
        return int(path.stem.removeprefix(_SEGMENT))

    def _remove(self, path: Path) -> None:
        self._size -= path.stat().st_size
        path.unlink()

    def _rewrite(self, path: Path, records: list[SpooledRecord]) -> None:
        """Replace ``path`` atomically (write, fsync, rename)."""
        before = path.stat().st_size
        tmp = path.with_suffix(".tmp")
        data = b"".join(r.to_line() for r in records)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._size += len(data) - before

    def _set_aside(self, path: Path, lines: list[bytes]) -> None:
        aside = self.directory / f"{_CORRUPT}{path.stem.removeprefix(_SEGMENT)}.jsonl"
        with open(aside, "ab") as fh:
            fh.write(b"".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
