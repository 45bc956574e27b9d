"""The Event, how a publish builds one, and the older JSON envelope it replaces on the wire.

meshctl now writes CloudEvents (``cloudevents.py``); records written before
are the envelope this module encodes and still decodes: the value is a JSON
object ``{event_id, event_type, source, occurred_at, correlation_id,
trace_id, data}``, headers ``correlation_id``, ``traceparent`` and
``event_type`` (plus ``tracestate``, ``x-user-id`` and ``x-session-id``
when the context has them). The key is the correlation id in both forms,
so one trace's events stay in order in one partition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from meshctl.core.context import (
    CORRELATION_HEADER,
    SESSION_HEADER,
    TRACEPARENT_HEADER,
    TRACESTATE_HEADER,
    USER_HEADER,
    CorrelationContext,
    current_context,
)
from meshctl.errors import InvalidRequestError

from .ids import new_event_id

EVENT_TYPES: tuple[str, ...] = (
    "frame.processed",
    "violation.detected",
    "anomaly.detected",
    "alert.sent",
    "alert.failed",
    "alert.acknowledged",
    "alert.escalated",
    "service.registered",
    "service.deregistered",
    "breaker.state_changed",
)

CORRELATION_ID = "correlation_id"
EVENT_TYPE = "event_type"
ERROR_HEADER = "error"
RAW_EVENT_TYPE = "<raw>"

_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_ENVELOPE_KEYS = ("event_id", "event_type", "source", "occurred_at", "correlation_id", "trace_id")
# Context headers that ride along unchanged; correlation id travels as ``correlation_id``.
_PASSTHROUGH = (TRACEPARENT_HEADER, TRACESTATE_HEADER, USER_HEADER, SESSION_HEADER)
_VALID_TYPES: set[str] = set()

Headers = list[tuple[str, bytes]]


def validate_event_type(event_type: str) -> str:
    """Return ``event_type`` if it is a dotted lowercase name, else raise InvalidRequestError."""
    if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
        raise InvalidRequestError(
            f"invalid event type {event_type!r}: expected a dotted lowercase name "
            "such as 'violation.detected'"
        )
    return event_type


@dataclass(frozen=True, slots=True)
class Event:
    """One event: as published, or decoded with where it was read from.

    ``headers`` are a published event's propagation headers (``traceparent``,
    ``tracestate``, ``x-user-id``, ``x-session-id``) or all of a read record's.
    A record that is no event is still delivered to tails as a *malformed*
    event: ``event_type`` is ``"<raw>"``, ``raw`` holds the bytes and
    ``error`` says what was wrong.
    """

    event_id: str
    event_type: str
    source: str
    occurred_at: datetime
    correlation_id: str
    trace_id: str
    data: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp_ms: int | None = None
    raw: bytes | None = None
    error: str | None = None

    @property
    def malformed(self) -> bool:
        return self.error is not None

    def context(self) -> CorrelationContext:
        """The publisher's correlation context, rebuilt from the headers."""
        values = {k: v for k, v in self.headers.items() if k in _PASSTHROUGH}
        values[CORRELATION_HEADER] = self.correlation_id
        return CorrelationContext.from_headers(values)

    def to_json(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict (the wire value)."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "source": self.source,
            "occurred_at": self.occurred_at.isoformat(),
            "correlation_id": self.correlation_id,
            "trace_id": self.trace_id,
            "data": self.data,
        }


def new_event(
    event_type: str,
    data: Mapping[str, Any],
    context: CorrelationContext,
    source: str,
    topic: str | None = None,
) -> Event:
    """Build an envelope for ``context``; raises InvalidRequestError on bad input.

    Whether ``data`` is JSON-serialisable is checked when it is encoded.
    """
    return _event(event_type, data, context, context.span_id, source, topic)


def build_event(
    event_type: str,
    data: Mapping[str, Any],
    context: CorrelationContext | None,
    source: str,
    topic: str | None = None,
) -> Event:
    """The envelope for a publish under the given, current or a new context.

    The event carries the context's span as its parent (``traceparent``): the
    publisher's producer span when it traces one, else the span publishing it.
    """
    ctx = context or current_context() or CorrelationContext.new()
    return new_event(event_type, data, ctx, source, topic)


def _event(
    event_type: str,
    data: Mapping[str, Any],
    context: CorrelationContext,
    span_id: str,
    source: str,
    topic: str | None,
) -> Event:
    if event_type not in _VALID_TYPES:
        validate_event_type(event_type)
        if len(_VALID_TYPES) < 4096:  # a bound: types are few, but callers name them
            _VALID_TYPES.add(event_type)
    if type(data) is not dict and not isinstance(data, Mapping):
        raise InvalidRequestError(f"event data must be a mapping, not {type(data).__name__}")
    # The context's propagation headers on span ``span_id``, without building a child
    # context per event (CorrelationContext.child/to_headers cost more than the rest).
    headers = {TRACEPARENT_HEADER: f"00-{context.trace_id}-{span_id}-{context.trace_flags:02x}"}
    if context.tracestate:
        headers[TRACESTATE_HEADER] = context.tracestate
    if context.user_id:
        headers[USER_HEADER] = context.user_id
    if context.session_id:
        headers[SESSION_HEADER] = context.session_id
    return Event(
        event_id=new_event_id(),
        event_type=event_type,
        source=source,
        occurred_at=datetime.now(UTC),
        correlation_id=context.correlation_id,
        trace_id=context.trace_id,
        data=dict(data),
        headers=headers,
        topic=topic,
    )


def settle(event: Event, partition: int, offset: int, timestamp_ms: int | None) -> Event:
    """``event``, now saying where the broker put it.

    Only for the publish that built ``event`` and has not handed it out yet:
    the fields are filled in place (as ``__init__`` fills them), because
    ``dataclasses.replace`` would build a second Event per publish.
    """
    object.__setattr__(event, "partition", partition)
    object.__setattr__(event, "offset", offset)
    object.__setattr__(event, "timestamp_ms", timestamp_ms)
    return event


def encode_value(event: Event) -> bytes:
    """The wire value; raises InvalidRequestError when ``data`` is not JSON-serialisable."""
    try:
        return json.dumps(event.to_json(), separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"event data is not JSON-serialisable: {exc}") from exc


def encode_headers(event: Event) -> Headers:
    """The older envelope's headers: the propagation headers, the correlation id and the type."""
    wire = {**event.headers, CORRELATION_ID: event.correlation_id, EVENT_TYPE: event.event_type}
    return [(k, v.encode()) for k, v in wire.items()]


def decode_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Kafka headers as text; the last value of a repeated name wins."""
    return {k: (v or b"").decode("utf-8", "replace") for k, v in headers or ()}


def header(headers: Iterable[tuple[str, bytes | None]] | None, name: str) -> str | None:
    """One header's text without decoding the rest (the tail's cheap filter)."""
    for key, value in headers or ():
        if key == name:
            return (value or b"").decode("utf-8", "replace")
    return None


def decode_event(value: bytes | None, headers: Mapping[str, str], **where: Any) -> Event:
    """Decode a record; garbage becomes a malformed Event instead of an exception."""
    try:
        body = json.loads(value) if value is not None else None
        if not isinstance(body, dict):
            raise ValueError("value is not a JSON object")
        missing = [k for k in _ENVELOPE_KEYS if not isinstance(body.get(k), str)]
        if missing or not isinstance(body.get("data"), dict):
            raise ValueError(f"not an event envelope (missing or wrong {missing or ['data']})")
        occurred_at = datetime.fromisoformat(body["occurred_at"])
        return Event(
            event_id=body["event_id"],
            event_type=body["event_type"],
            source=body["source"],
            occurred_at=occurred_at,
            correlation_id=body["correlation_id"],
            trace_id=body["trace_id"],
            data=body["data"],
            headers=dict(headers),
            **where,
        )
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return malformed_event(value, headers, str(exc), **where)


def malformed_event(
    value: bytes | None,
    headers: Mapping[str, str],
    error: str,
    correlation_id: str | None = None,
    **where: Any,
) -> Event:
    """What a record that is no event becomes: ``<raw>``, its bytes and what was wrong."""
    return Event(
        event_id="",
        event_type=RAW_EVENT_TYPE,
        source="",
        occurred_at=datetime.fromtimestamp((where.get("timestamp_ms") or 0) / 1000, UTC),
        correlation_id=correlation_id or headers.get(CORRELATION_ID, ""),
        trace_id="",
        data={},
        headers=dict(headers),
        raw=value,
        error=error,
        **where,
    )
