"""Correlation context: correlation id, W3C trace context, user and session.

The current context lives in a contextvar so nested calls inherit it; every
outgoing hop carries a child (same trace, new span id, the parent's
tracestate). Headers follow W3C Trace Context Level 1 (``traceparent``,
``tracestate``) plus ``x-correlation-id``, ``x-user-id`` and ``x-session-id``.

Incoming headers (https://www.w3.org/TR/trace-context-1/#processing-model):

- Names are case-insensitive. A header's repeated lines are one value, joined
  with commas (RFC 7230 3.2.2), whether a transport hands them over as
  repeated pairs, as a list per name or already joined. Two ``traceparent``
  lines are therefore invalid; ``tracestate`` lines make one list.
- ``traceparent`` is ``version-trace_id-parent_id-flags`` in lower-case hex,
  optional spaces or tabs around it. Version ``ff`` is invalid; ``00`` has
  exactly these four fields; a later version may add ``-`` and more, which
  is ignored. All-zero ids are invalid. Only the sampled flag is defined:
  the others are set to zero.
- An invalid or missing ``traceparent`` restarts the trace (new trace id, no
  tracestate) and keeps the correlation id, so one request's logs line up.
- ``tracestate`` is validated as a whole by ``meshctl.core.tracestate`` and
  dropped when invalid; a valid one is passed on as it came, canonical.
"""

from __future__ import annotations

import contextvars
import re
import secrets
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from meshctl.core.tracestate import OWS, propagated_tracestate

CORRELATION_HEADER = "x-correlation-id"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"
USER_HEADER = "x-user-id"
CALLER_HEADER = "x-mesh-caller"
"""The calling mesh client's name, so servers can tell who calls them (``top``'s edges)."""
SESSION_HEADER = "x-session-id"

_READ = frozenset(
    {CORRELATION_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER, USER_HEADER, SESSION_HEADER}
)
SAMPLED = 0x01
"""The one trace flag Level 1 defines; the others are passed on as zero."""

HeaderValue = str | bytes
Headers = (
    Mapping[str, HeaderValue | Sequence[HeaderValue]]
    | Iterable[tuple[str | bytes, HeaderValue | None]]
)
"""Headers as transports give them: a mapping (a value may be a list of lines) or pairs
(a Kafka header's value may be None)."""

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
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
        if self.tracestate is not None:
            tracestate = propagated_tracestate(self.tracestate)
            if tracestate is None:
                raise ValueError(f"tracestate is not a valid W3C list: {self.tracestate!r}")
            object.__setattr__(self, "tracestate", tracestate)

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

    def child(
        self, span_id: str | None = None, trace_flags: int | None = None
    ) -> CorrelationContext:
        """Same trace and correlation, a new span whose parent is this one.

        ``span_id`` and ``trace_flags`` are the new span's when a tracer made it
        (16 lower-case hex digits, not all zero; the flags' sampled bit); by
        default a fresh id and this context's flags.
        """
        # Every hop and every event makes one, and this context's ids are already
        # valid: build it without the validation __init__ does on outside input.
        child = object.__new__(CorrelationContext)
        for name in _FIELDS:
            object.__setattr__(child, name, getattr(self, name))
        object.__setattr__(child, "span_id", span_id or _new_span_id())
        object.__setattr__(child, "parent_span_id", self.span_id)
        if trace_flags is not None:
            object.__setattr__(child, "trace_flags", trace_flags)
        return child

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.trace_flags:02x}"

    @property
    def sampled(self) -> bool:
        return bool(self.trace_flags & SAMPLED)

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
    def from_headers(cls, headers: Headers) -> CorrelationContext:
        """Rebuild the caller's context; what is missing or invalid is made fresh.

        Never raises on what the headers hold: see the module docstring for
        what is accepted, combined and dropped.
        """
        values = _values(headers)
        correlation_id = values.get(CORRELATION_HEADER) or str(uuid.uuid4())
        user_id = values.get(USER_HEADER) or None
        session_id = values.get(SESSION_HEADER) or None
        parsed = parse_traceparent(values.get(TRACEPARENT_HEADER, ""))
        if parsed is None:
            return cls.new(correlation_id, user_id=user_id, session_id=session_id)
        trace_id, span_id, flags = parsed
        ctx = cls(
            correlation_id=correlation_id,
            trace_id=trace_id,
            span_id=span_id,
            user_id=user_id,
            session_id=session_id,
            trace_flags=flags,
        )
        tracestate = values.get(TRACESTATE_HEADER)
        if tracestate:
            # Validated here, where invalid means dropped; __init__ would parse it again.
            object.__setattr__(ctx, "tracestate", propagated_tracestate(tracestate))
        return ctx


_FIELDS = tuple(CorrelationContext.__dataclass_fields__)


def parse_traceparent(value: str) -> tuple[str, str, int] | None:
    """``(trace_id, span_id, flags)`` from a W3C traceparent, or None if invalid."""
    match = _TRACEPARENT.fullmatch(value.strip(OWS))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id, int(flags, 16) & SAMPLED


def _values(headers: Headers) -> dict[str, str]:
    """Each header this module reads as one value, by lower-case name."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    values: dict[str, str] = {}
    for name, value in pairs:
        key = name.decode("latin-1").lower() if isinstance(name, bytes) else name.lower()
        if key in _READ and value is not None:
            text = _text(value) if isinstance(value, str | bytes) else ",".join(map(_text, value))
            values[key] = f"{values[key]},{text}" if key in values else text
    return values


def _text(value: HeaderValue) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


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
