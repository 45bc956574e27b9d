"""Server-side faults: which calls a fault hits, and what it does to them.

A fault belongs to one service and is scoped further by any of: the method,
an instance id prefix, the instance's version or zone, the calling mesh
client (``x-mesh-caller``) and request headers that must match exactly. It
delays a call (seconds, plus or minus a uniform jitter), aborts it (a gRPC
status name, or an HTTP code 400-599 for HTTP services), or both, on
``percent`` of the calls it applies to.

Every fault carries ``expires_at`` and is checked against the injected clock
on every decision: it stops at that instant whether or not its record is
still in Redis, so a fault nobody clears still ends. Records are validated
before use (``parse_fault``); one that is not valid is skipped by its reader.

``ServerFaults`` is what a server holds: its own service's faults and who it
is. With no fault for the service a call costs the truth test of an empty
tuple.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from meshctl.core.context import CALLER_HEADER
from meshctl.core.units import parse_duration

MAX_TTL = 24 * 3600.0
"""The longest a fault may last: one left behind by a killed process ends within a day."""

DEFAULT_TTL = 300.0

GRPC_CODES = frozenset(
    "CANCELLED UNKNOWN INVALID_ARGUMENT DEADLINE_EXCEEDED NOT_FOUND ALREADY_EXISTS "
    "PERMISSION_DENIED RESOURCE_EXHAUSTED FAILED_PRECONDITION ABORTED OUT_OF_RANGE "
    "UNIMPLEMENTED INTERNAL UNAVAILABLE DATA_LOSS UNAUTHENTICATED".split()
)
"""gRPC statuses a fault may abort with (every one but OK)."""

INJECTED = " (injected)"
"""Appended to an injected failure's status wherever it is counted."""

_SCOPES = ("method", "instance", "version", "zone", "caller")
_KEYS = {"id", "service", *_SCOPES, "headers", "delay", "jitter", "abort", "percent",
         "created_at", "expires_at"}  # fmt: skip


class FaultError(ValueError):
    """A fault that cannot be used; the message names the offending part."""


class Instance(NamedTuple):
    """Who a server is, as a fault's scope sees it."""

    instance_id: str
    version: str | None = None
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class Fault:
    id: str
    service: str
    expires_at: float
    created_at: float
    delay: float | None = None
    jitter: float = 0.0
    abort: str | None = None  # a gRPC status name, or an HTTP code as digits
    percent: float = 100.0
    method: str | None = None
    instance: str | None = None  # an instance id prefix
    version: str | None = None
    zone: str | None = None
    caller: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def http(self) -> bool:
        """Whether the fault aborts with an HTTP code (for HTTP services only)."""
        return self.abort is not None and self.abort.isdigit()

    def record(self) -> dict[str, Any]:
        """The JSON object the fault is stored as; ``parse_fault`` reads it back."""
        record = {"id": self.id, "service": self.service, "percent": self.percent,
                  "created_at": self.created_at, "expires_at": self.expires_at}  # fmt: skip
        for name in ("delay", "abort", *_SCOPES):
            value = getattr(self, name)
            if value is not None:
                record[name] = value
        if self.jitter:
            record["jitter"] = self.jitter
        if self.headers:
            record["headers"] = dict(self.headers)
        return record


class Injection(NamedTuple):
    """What a call suffers: a delay in seconds (0: none), an abort status (None: none)."""

    delay: float
    abort: str | None


def applies(
    fault: Fault, method: str, instance: Instance, headers: Mapping[str, str], now: float
) -> bool:
    """Whether ``fault`` is in force at ``now`` for a call of ``method`` served by
    ``instance`` with ``headers`` (names lower-case, the caller's name among them)."""
    if now >= fault.expires_at:
        return False
    if fault.method is not None and fault.method != method:
        return False
    if fault.instance is not None and not instance.instance_id.startswith(fault.instance):
        return False
    if fault.version is not None and fault.version != instance.version:
        return False
    if fault.zone is not None and fault.zone != instance.zone:
        return False
    if fault.caller is not None and headers.get(CALLER_HEADER) != fault.caller:
        return False
    return all(headers.get(k) == v for k, v in fault.headers)


def decide(
    faults: Iterable[Fault],
    method: str,
    instance: Instance,
    headers: Mapping[str, str],
    now: float,
    rng: random.Random,
) -> Injection | None:
    """What the faults in force do to one call; None when none hits it.

    Each fault that applies rolls for its percentage on its own; the delays of
    those that hit add up, and the first of them that aborts names the status."""
    delay, abort, hit = 0.0, None, False
    for fault in faults:
        if not applies(fault, method, instance, headers, now):
            continue
        if fault.percent < 100 and rng.random() * 100 >= fault.percent:
            continue
        hit = True
        if fault.delay is not None:
            delay += fault.delay + (rng.uniform(-fault.jitter, fault.jitter) if fault.jitter else 0)
        if abort is None:
            abort = fault.abort
    return Injection(delay, abort) if hit else None


def header_map(pairs: Iterable[tuple[str | bytes, str | bytes]]) -> dict[str, str]:
    """Request headers or gRPC metadata as lower-case name -> text (the first of repeats)."""
    found: dict[str, str] = {}
    for name, value in pairs:
        key = (name.decode("latin-1") if isinstance(name, bytes) else name).lower()
        if key not in found:
            found[key] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return found


class ServerFaults:
    """The faults in force on one server, replaced as a whole when they change.

    Args:
        service: the service the server serves; only its faults are kept.
        protocol: ``grpc`` or ``http``; a fault aborting with the other kind of
            status is left out.
        clock: wall-clock seconds (faults expire at absolute times); injected in tests.
        rng: the percentage rolls' source; injected in tests.
    """

    def __init__(
        self,
        service: str,
        protocol: str,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.service = service
        self.http = protocol == "http"
        self.clock = clock
        self.rng = rng or random.Random()
        self.instance = Instance("")
        self.faults: tuple[Fault, ...] = ()

    def load(self, faults: Mapping[str, Sequence[Fault]]) -> None:
        """Keep the service's faults out of every service's ``faults``."""
        self.faults = tuple(
            f for f in faults.get(self.service, ()) if f.abort is None or f.http == self.http
        )

    def decide(self, method: str, headers: Mapping[str, str]) -> Injection | None:
        return decide(self.faults, method, self.instance, headers, self.clock(), self.rng)


# -- parsing and validation ------------------------------------------------------------


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FaultError(f"{where} must be a non-empty string")
    return value


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultError(f"{where} must be a number of seconds, not {value!r}")
    return float(value)


def check_abort(code: str) -> str:
    """A gRPC status name (any case) or an HTTP code 400-599, normalised."""
    text = code.strip()
    if text.isdigit():
        if not 400 <= int(text) <= 599:
            raise FaultError(f"abort code {code!r}: an HTTP code must be 4xx or 5xx")
        return str(int(text))
    name = text.upper()
    if name not in GRPC_CODES:
        raise FaultError(
            f"unknown abort code {code!r}: expected a gRPC status (e.g. UNAVAILABLE) "
            "or an HTTP code 4xx/5xx"
        )
    return name


def _check(fault: Fault) -> Fault:
    if fault.delay is None and fault.abort is None:
        raise FaultError("a fault needs a delay, an abort or both")
    if not 0 < fault.percent <= 100:
        raise FaultError(f"percent must be more than 0 and at most 100, not {fault.percent:g}")
    if fault.jitter and (fault.delay is None or fault.jitter > fault.delay):
        raise FaultError("jitter must not exceed the delay")
    if not fault.created_at < fault.expires_at <= fault.created_at + MAX_TTL:
        raise FaultError("a fault must expire after it is made, within 24h")
    return fault


def parse_fault(record: Any) -> Fault:
    """The fault a stored JSON object describes.

    Raises:
        FaultError: naming the first part that is wrong.
    """
    if not isinstance(record, Mapping):
        raise FaultError(f"a fault must be a JSON object, not {type(record).__name__}")
    unknown = sorted(set(map(str, record)) - _KEYS)
    if unknown:
        raise FaultError(f"unknown key {unknown[0]!r}")
    headers = record.get("headers", {})
    if not isinstance(headers, Mapping):
        raise FaultError("headers must be an object")
    percent = record.get("percent", 100)
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        raise FaultError(f"percent must be a number, not {percent!r}")
    abort = record.get("abort")
    scopes = {n: _text(record[n], n) for n in _SCOPES if record.get(n) is not None}
    return _check(
        Fault(
            id=_text(record.get("id"), "id"),
            service=_text(record.get("service"), "service"),
            created_at=_seconds(record.get("created_at"), "created_at"),
            expires_at=_seconds(record.get("expires_at"), "expires_at"),
            delay=None if record.get("delay") is None else _seconds(record["delay"], "delay"),
            jitter=_seconds(record.get("jitter", 0), "jitter"),
            abort=None if abort is None else check_abort(_text(abort, "abort")),
            percent=float(percent),
            headers=tuple(
                sorted(
                    (_text(k, "headers").lower(), _text(v, f"headers.{k}"))
                    for k, v in headers.items()
                )
            ),  # fmt: skip
            method=scopes.get("method"),
            instance=scopes.get("instance"),
            version=scopes.get("version"),
            zone=scopes.get("zone"),
            caller=scopes.get("caller"),
        )
    )


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise FaultError(f"{option}: {exc}") from None


def parse_headers(args: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``k=v`` arguments as sorted (lower-case name, value) pairs."""
    pairs: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name.strip() or not value:
            raise FaultError(f"invalid header {arg!r}: expected NAME=VALUE")
        pairs[name.strip().lower()] = value
    return tuple(sorted(pairs.items()))


def fault_from_options(
    service: str,
    *,
    now: float,
    ttl: str = "5m",
    delay: str | None = None,
    jitter: str | None = None,
    abort: str | None = None,
    percent: float = 100.0,
    headers: Sequence[str] = (),
    method: str | None = None,
    instance: str | None = None,
    version: str | None = None,
    zone: str | None = None,
    caller: str | None = None,
) -> Fault:
    """The fault ``meshctl fault inject`` options describe (durations as ``200ms``, ``2m``).

    Raises:
        FaultError: naming the option that is wrong.
    """
    seconds = _duration(ttl, "--for")
    if not 0 < seconds <= MAX_TTL:
        raise FaultError(f"--for {ttl}: a fault lasts more than 0s and at most 24h")
    if jitter is not None and delay is None:
        raise FaultError("--jitter needs --delay")
    return _check(
        Fault(
            id=uuid.uuid4().hex[:8],
            service=service,
            created_at=now,
            expires_at=now + seconds,
            delay=None if delay is None else _duration(delay, "--delay"),
            jitter=0.0 if jitter is None else _duration(jitter, "--jitter"),
            abort=None if abort is None else check_abort(abort),
            percent=percent,
            headers=parse_headers(headers),
            method=method or None,
            instance=instance or None,
            version=version or None,
            zone=zone or None,
            caller=caller or None,
        )
    )


def describe(fault: Fault) -> tuple[str, str]:
    """The fault's scope and action as short text: ``method=X version=0.2.0``, ``delay 200ms``."""
    scope = [f"{n}={getattr(fault, n)}" for n in _SCOPES if getattr(fault, n) is not None]
    scope += [f"{k}={v}" for k, v in fault.headers]
    action = []
    if fault.delay is not None:
        jitter = f"±{fault.jitter * 1000:g}ms" if fault.jitter else ""
        action.append(f"delay {fault.delay * 1000:g}ms{jitter}")
    if fault.abort is not None:
        action.append(f"abort {fault.abort}")
    return " ".join(scope) or "every call", ", ".join(action) + f" on {fault.percent:g}%"
