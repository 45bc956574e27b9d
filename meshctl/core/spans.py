"""Finished spans as compact records, and the waterfall ``meshctl trace`` draws from them.

A record is what the mesh keeps of a span for a while (see
``meshctl.registry.spanstore``): ids, name, kind, service, start and duration,
status, a few attributes and the span's events. The waterfall orders one
request's records as a tree, each span under its parent and siblings by start
time; a span whose parent was not kept (sampled out elsewhere, a hop without
tracing, a store that dropped it) starts a tree of its own, so nothing is lost
from the picture.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("internal", "server", "client", "producer", "consumer")


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span; times in nanoseconds since the epoch."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    service: str
    start_ns: int
    duration_ns: int
    status: str = "ok"  # "ok" or "error"
    error: str | None = None
    correlation_id: str | None = None
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "kind": self.kind,
            "service": self.service,
            "start_ns": self.start_ns,
            "duration_ns": self.duration_ns,
            "status": self.status,
        }
        optional = {"error": self.error, "correlation_id": self.correlation_id}
        data.update({k: v for k, v in optional.items() if v is not None})
        if self.attributes:
            data["attributes"] = self.attributes
        if self.events:
            data["events"] = self.events
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SpanRecord:
        """A record from its JSON form; raises ValueError when it is not one."""
        try:
            record = cls(
                trace_id=str(data["trace_id"]),
                span_id=str(data["span_id"]),
                parent_id=str(data["parent_id"]) if data.get("parent_id") else None,
                name=str(data["name"]),
                kind=str(data["kind"]),
                service=str(data["service"]),
                start_ns=int(data["start_ns"]),
                duration_ns=int(data["duration_ns"]),
                status=str(data.get("status", "ok")),
                error=str(data["error"]) if data.get("error") is not None else None,
                correlation_id=data.get("correlation_id"),
                attributes=dict(data.get("attributes") or {}),
                events=list(data.get("events") or []),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a span record: {exc}") from None
        if record.duration_ns < 0:
            raise ValueError("not a span record: negative duration")
        return record

    @property
    def endpoint(self) -> str:
        """Where the span ran or went: the instance called, else the server address."""
        attrs = self.attributes
        return str(attrs.get("mesh.endpoint.instance_id") or attrs.get("server.address") or "")


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    """One span's place in the waterfall: its depth and times relative to the first span."""

    record: SpanRecord
    depth: int
    offset_ms: float
    duration_ms: float


@dataclass(frozen=True, slots=True)
class Waterfall:
    rows: list[WaterfallRow]
    total_ms: float  # from the first start to the last end

    def bar(self, row: WaterfallRow, width: int) -> tuple[int, int]:
        """``(start column, length)`` of ``row``'s bar in ``width`` columns; at least one wide."""
        if width <= 0:
            return 0, 0
        scale = width / self.total_ms if self.total_ms > 0 else 0.0
        start = min(width - 1, int(row.offset_ms * scale))
        length = max(1, round(row.duration_ms * scale))
        return start, min(length, width - start)


def waterfall(records: Iterable[SpanRecord]) -> Waterfall:
    """The records as a tree in depth-first order, siblings by start time.

    A span id seen twice (a record delivered twice) is drawn once.
    """
    unique: dict[str, SpanRecord] = {}
    for record in records:
        unique.setdefault(record.span_id, record)
    if not unique:
        return Waterfall([], 0.0)
    children: dict[str | None, list[SpanRecord]] = {}
    for record in unique.values():
        parent = record.parent_id if record.parent_id in unique else None
        children.setdefault(parent, []).append(record)
    for group in children.values():
        group.sort(key=lambda r: (r.start_ns, r.span_id))
    origin = min(r.start_ns for r in unique.values())
    end = max(r.start_ns + r.duration_ns for r in unique.values())
    rows: list[WaterfallRow] = []
    drawn: set[str] = set()
    roots = children.get(None, [])
    # Records whose parents form a loop have no root: they are drawn after the rest.
    leftover = sorted(unique.values(), key=lambda r: (r.start_ns, r.span_id))
    for root in [*roots, *leftover]:
        stack = [(root, 0)]
        while stack:
            record, depth = stack.pop()
            if record.span_id in drawn:
                continue
            drawn.add(record.span_id)
            offset = (record.start_ns - origin) / 1e6
            rows.append(WaterfallRow(record, depth, offset, record.duration_ns / 1e6))
            kids = children.get(record.span_id, [])
            stack.extend((child, depth + 1) for child in reversed(kids))
    return Waterfall(rows, (end - origin) / 1e6)


def published(records: Sequence[SpanRecord]) -> list[SpanRecord]:
    """The producer spans (events published), by start time."""
    return sorted((r for r in records if r.kind == "producer"), key=lambda r: r.start_ns)
