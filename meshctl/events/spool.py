"""An on-disk spool for events the broker could not take.

Layout of a spool directory (one process at a time holds it, see
``spooldir.py``):

    segment-<n>.jsonl  records, one JSON line each, appended and fsynced
                       before the publisher is told the event was accepted;
                       a segment rolls over at ``segment_bytes``
    cursor             (segment, byte offset) of the first record not yet
                       delivered; segments wholly before it are deleted
    inflight           the batch being sent and, per partition it goes to,
                       the broker's end offset just before the send
    corrupt-<n>.jsonl  lines that did not parse, set aside with a warning

Replay reads a batch from the cursor, records ``inflight``, sends, then
moves the cursor past the batch and removes ``inflight``. A batch found
in flight (a crash or a failed send between the two) is checked against
the broker from the recorded offsets before anything is sent again, so the
spool never sends one record twice (``replay.py`` does the checking).
``size`` counts the segment bytes on disk, exactly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from meshctl.errors import SpoolFullError

from .spooldir import CURSOR_FILE as _CURSOR

log = logging.getLogger(__name__)

_SEGMENT = "segment-"
_CORRUPT = "corrupt-"
_INFLIGHT = "inflight"
Headers = list[tuple[str, bytes]]


def record_digest(topic: str, key: bytes | None, value: bytes, headers: Headers) -> str:
    """What identifies a record on the broker: its topic, key, value and headers."""
    h = hashlib.sha256()
    for part in [topic.encode(), key or b"", value, *(k.encode() + b"=" + v for k, v in headers)]:
        h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()


class SpooledRecord(NamedTuple):
    """A record as it will be produced: topic, key, value and headers.

    A named tuple, not a frozen dataclass: every publish makes one, and a
    tuple is built several times faster.
    """

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers
    timestamp_ms: int | None = None  # when the event happened, so a replay keeps its time

    @property
    def digest(self) -> str:
        return record_digest(self.topic, self.key, self.value, self.headers)

    def to_line(self) -> bytes:
        body = {
            "topic": self.topic,
            "key": None if self.key is None else self.key.decode(),
            "value": self.value.decode(),
            "headers": [[k, base64.b64encode(v).decode()] for k, v in self.headers],
            "ts": self.timestamp_ms,
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
                timestamp_ms=None if body.get("ts") is None else int(body["ts"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a spool record: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Records of one segment between two byte offsets, and what replay knows of them.

    ``marks`` (``"topic/partition"`` → end offset before the send) is set once the
    batch is in flight: the broker may hold some of its records already.
    """

    segment: int
    start: int
    end: int
    records: list[SpooledRecord]
    corrupt: list[bytes] = field(default_factory=list)
    marks: dict[str, int] | None = None


class Spool:
    """Append-only, byte-bounded, crash-safe spool in ``directory`` (the caller holds its lock)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int,
        *,
        segment_bytes: int = 1024 * 1024,
        batch_records: int = 1000,
    ) -> None:
        if max_bytes <= 0 or segment_bytes <= 0 or batch_records <= 0:
            raise ValueError("spool max_bytes, segment_bytes and batch_records must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.batch_records = batch_records
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._cursor = self._load_cursor()
        self._size = sum(p.stat().st_size for p in self._segments())
        self._repair_torn_tail()
        self._last = max((_number(p) for p in self._segments()), default=self._cursor[0] - 1)

    @property
    def size(self) -> int:
        """Segment bytes on disk (delivered records included until their segment goes)."""
        return self._size

    @property
    def pending_bytes(self) -> int:
        """Bytes of records not yet delivered."""
        return self._size - self._cursor[1] if self._size else 0

    def __bool__(self) -> bool:
        return self.pending_bytes > 0

    def append(self, records: list[SpooledRecord]) -> None:
        """Write and fsync ``records``; raises SpoolFullError when they do not fit."""
        data = b"".join(r.to_line() for r in records)
        if self._size + len(data) > self.max_bytes:
            raise SpoolFullError(
                f"event spool {self.directory} is full ({self._size} of {self.max_bytes} bytes) "
                "and the broker is unreachable; the event was not accepted"
            )
        path = self._path(self._last)
        if not path.exists() or path.stat().st_size >= self.segment_bytes:
            self._last += 1
            path = self._path(self._last)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            before = os.fstat(fd).st_size
            written = os.write(fd, data)
            self._size += written
            if written != len(data):
                os.ftruncate(fd, before)  # never leave half a line behind
                self._size -= written
                raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)

    def next_batch(self) -> SpoolBatch | None:
        """The batch in flight if there is one, else up to ``batch_records`` from the cursor."""
        inflight = self._load_inflight()
        if inflight is not None:
            return inflight
        segment, offset = self._cursor
        while segment <= self._last:
            path = self._path(segment)
            if offset < (path.stat().st_size if path.exists() else 0):
                return self._read(segment, offset, self.batch_records)
            self._drop_segment(segment)  # wholly delivered
            segment, offset = segment + 1, 0
            self._cursor = (segment, offset)
        return None

    def begin(self, batch: SpoolBatch, marks: dict[str, int]) -> SpoolBatch:
        """Record ``batch`` as in flight, with the end offsets read just before its send."""
        body = {"segment": batch.segment, "start": batch.start, "end": batch.end, "marks": marks}
        self._write_atomic(_INFLIGHT, json.dumps(body).encode())
        return replace(batch, marks=marks)

    def commit(self, batch: SpoolBatch) -> None:
        """Every record of ``batch`` is with the broker: move the cursor past it."""
        if batch.corrupt:
            self._set_aside(batch.segment, batch.corrupt)
        self._cursor = (batch.segment, batch.end)
        self._write_atomic(_CURSOR, json.dumps(list(self._cursor)).encode())
        (self.directory / _INFLIGHT).unlink(missing_ok=True)
        if batch.end >= self._path(batch.segment).stat().st_size:
            self._drop_segment(batch.segment)
            self._cursor = (batch.segment + 1, 0)

    def _read(self, segment: int, offset: int, limit: int, until: int | None = None) -> SpoolBatch:
        """Up to ``limit`` records from ``offset`` (and not beyond byte ``until``)."""
        with open(self._path(segment), "rb") as fh:
            fh.seek(offset)
            data = fh.read()
        records: list[SpooledRecord] = []
        corrupt: list[bytes] = []
        end = offset
        for line in data.splitlines(keepends=True):
            done = len(records) >= limit or (until is not None and end >= until)
            if done or not line.endswith(b"\n"):
                break
            end += len(line)
            if not line.strip():
                continue
            try:
                records.append(SpooledRecord.from_line(line))
            except ValueError as exc:
                log.warning("setting a corrupt line of %s aside: %s", self._path(segment).name, exc)
                corrupt.append(line)
        return SpoolBatch(segment, offset, end, records, corrupt)

    def _load_cursor(self) -> tuple[int, int]:
        numbers = [_number(p) for p in self._segments()]
        try:
            segment, offset = (int(v) for v in json.loads(self._read_file(_CURSOR) or "null"))
        except (TypeError, ValueError):
            return (min(numbers, default=1), 0)
        for stale in [n for n in numbers if n < segment]:
            self._path(stale).unlink()  # delivered; a crash came between the cursor and the delete
        if segment in numbers:
            return (segment, offset)
        return (min((n for n in numbers if n > segment), default=segment + 1), 0)

    def _load_inflight(self) -> SpoolBatch | None:
        try:
            body: dict[str, Any] = json.loads(self._read_file(_INFLIGHT) or "null") or {}
            segment, start, end = int(body["segment"]), int(body["start"]), int(body["end"])
            marks = {str(k): int(v) for k, v in body["marks"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        if (segment, start) != self._cursor or not self._path(segment).exists():
            (self.directory / _INFLIGHT).unlink(missing_ok=True)  # already committed
            return None
        batch = self._read(segment, start, 1 << 30, until=end)
        return replace(batch, marks=marks)

    def _repair_torn_tail(self) -> None:
        """Set aside half a line left by a crash in the middle of an append."""
        segments = self._segments()
        if not segments:
            return
        path = segments[-1]
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            log.warning("setting a torn line at the end of %s aside", path.name)
            self._set_aside(_number(path), [data[keep:] + b"\n"])
            os.truncate(path, keep)
            self._size -= len(data) - keep

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob(f"{_SEGMENT}*.jsonl"))

    def _path(self, segment: int) -> Path:
        return self.directory / f"{_SEGMENT}{segment:09d}.jsonl"

    def _drop_segment(self, segment: int) -> None:
        path = self._path(segment)
        if path.exists():
            self._size -= path.stat().st_size
            path.unlink()

    def _read_file(self, name: str) -> str | None:
        try:
            return (self.directory / name).read_text()
        except FileNotFoundError:
            return None

    def _write_atomic(self, name: str, data: bytes) -> None:
        """Replace ``name`` atomically (write, fsync, rename)."""
        tmp = self.directory / f"{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / name)

    def _set_aside(self, segment: int, lines: list[bytes]) -> None:
        aside = self.directory / f"{_CORRUPT}{segment:09d}.jsonl"
        with open(aside, "ab") as fh:
            fh.write(b"".join(lines))
            fh.flush()
            os.fsync(fh.fileno())


def _number(path: Path) -> int:
    return int(path.stem.removeprefix(_SEGMENT))
