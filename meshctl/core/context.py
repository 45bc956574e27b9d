"""Correlation context: correlation id, W3C trace context, user and session.

The current context lives in a contextvar so nested calls inherit it; every
outgoing hop carries a child (same trace, new span id). Headers follow W3C
Trace Context (``traceparent``, ``tracestate``) plus ``x-correlation-id``,
``x-user-id`` and ``x-session-id``.
"""

from __future__ import annotations

import contextvars
import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

CORRELATION_HEADER = "x-correlation-id"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"
USER_HEADER = "x-user-id"
SESSION_HEADER = "x-session-id"

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_HEX = re.compile(r"^[0-9a-f]+$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def _new_trace_id() -> str:
    return secrets.token_hex(16)


def _new_span_id() -> str:
    return secrets.token_hex(8)


_CANONICAL = {16: re.compile(r"[0-9a-f]{16}"), 32: re.compile(r"[0-9a-f]{32}")}


def _normalise_id(value: str, length: int, what: str) -> str:
    """Accept W3C hex ids and ``str(uuid.uuid4())`` values (truncated to fit)."""
    # Fast path: ids this module generated are already canonical (every hop makes one).
    if _CANONICAL[length].fullmatch(value) and value.count("0") < length:
        return value
    text = value.strip().lower().replace("-", "")
    if not _HEX.match(text) or len(text) < length:
        raise ValueError(f"{what} must be {length} hex digits or a UUID, not {value!r}")
    text = text[:length]
    if set(text) == {"0"}:
        raise ValueError(f"{what} must not be all zeros")
    return text


@dataclass(frozen=True, slots=True)
class CorrelationContext:
    """Who and what a request belongs to, carried across every hop."""

    correlation_id: str
    trace_id: str
    span_id: str
    user_id: str | None = None
    session_id: str | None = None
    parent_span_id: str | None = None
    trace_flags: int = 1
    tracestate: str | None = None

    def __post_init__(self) -> None:
        if not self.correlation_id:
            raise ValueError("correlation_id must not be empty")
        object.__setattr__(self, "trace_id", _normalise_id(self.trace_id, 32, "trace_id"))
        object.__setattr__(self, "span_id", _normalise_id(self.span_id, 16, "span_id"))
        if self.parent_span_id is not None:
            parent = _normalise_id(self.parent_span_id, 16, "parent_span_id")
            object.__setattr__(self, "parent_span_id", parent)
        if not 0 <= self.trace_flags <= 0xFF:
            raise ValueError("trace_flags must fit in one byte")

    @classmethod
    def new(
        cls,
        correlation_id: str | None = None,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> CorrelationContext:
        """A fresh trace; the correlation id defaults to a new UUID."""
        return cls(
            correlation_id=correlation_id or str(uuid.uuid4()),
            trace_id=_new_trace_id(),
            span_id=_new_span_id(),
            user_id=user_id,
            session_id=session_id,
        )

    def child(self) -> CorrelationContext:
        """Same trace and correlation, a new span whose parent is this one."""
        # Every hop and every event makes one, and this context's ids are already
        # valid: build it without the validation __init__ does on outside input.
        child = object.__new__(CorrelationContext)
        for name in _FIELDS:
            object.__setattr__(child, name, getattr(self, name))
        object.__setattr__(child, "span_id", _new_span_id())
        object.__setattr__(child, "parent_span_id", self.span_id)
        return child

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.trace_flags:02x}"

    @property
    def sampled(self) -> bool:
        return bool(self.trace_flags & 1)

    def to_headers(self) -> dict[str, str]:
        """Headers for gRPC metadata, HTTP or Kafka (all lower-case names)."""
        headers = {CORRELATION_HEADER: self.correlation_id, TRACEPARENT_HEADER: self.traceparent}
        if self.tracestate:
            headers[TRACESTATE_HEADER] = self.tracestate
        if self.user_id:
            headers[USER_HEADER] = self.user_id
        if self.session_id:
            headers[SESSION_HEADER] = self.session_id
        return headers

    @classmethod
    def from_headers(cls, headers: Mapping[str, str | bytes]) -> CorrelationContext:
        """Rebuild the caller's context; what is missing or invalid is made fresh.

        An invalid ``traceparent`` starts a new trace (W3C says to ignore it) but
        keeps the correlation id, so one request's logs still line up.
        """
        values = {
            k.lower(): v.decode("utf-8", "replace") if isinstance(v, bytes) else v
            for k, v in headers.items()
        }
        correlation_id = values.get(CORRELATION_HEADER) or str(uuid.uuid4())
        parsed = parse_traceparent(values.get(TRACEPARENT_HEADER, ""))
        user_id = values.get(USER_HEADER) or None
        session_id = values.get(SESSION_HEADER) or None
        if parsed is None:
            return cls.new(correlation_id, user_id=user_id, session_id=session_id)
        trace_id, span_id, flags = parsed
        return cls(
            correlation_id=correlation_id,
            trace_id=trace_id,
            span_id=span_id,
            user_id=user_id,
            session_id=session_id,
            trace_flags=flags,
            tracestate=values.get(TRACESTATE_HEADER) or None,
        )


_FIELDS = tuple(CorrelationContext.__dataclass_fields__)


def parse_traceparent(value: str) -> tuple[str, str, int] | None:
    """``(trace_id, span_id, flags)`` from a W3C traceparent, or None if invalid."""
    match = _TRACEPARENT.match(value.strip()) if value else None
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id, int(flags, 16)


_current: contextvars.ContextVar[CorrelationContext | None] = contextvars.ContextVar(
    "meshctl_correlation_context", default=None
)


def current_context() -> CorrelationContext | None:
    """The context of the code running now, if any."""
    return _current.get()


def ensure_context() -> CorrelationContext:
    """The current context, or a fresh one (not installed)."""
    return _current.get() or CorrelationContext.new()


@contextmanager
def use_context(ctx: CorrelationContext) -> Iterator[CorrelationContext]:
    """Make ``ctx`` current for the body of the ``with`` block."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def set_context(ctx: CorrelationContext | None) -> contextvars.Token[CorrelationContext | None]:
    """Install ``ctx`` for the rest of this task (server handlers do this per call)."""
    return _current.set(ctx)
