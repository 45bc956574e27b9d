"""Checks of what mesh clients publish and send: reports, commands, answers.

Every consumer (``meshctl breakers``, ``top``, ``check``, the clients
themselves) reads these as plain JSON objects, so anything another process
could have written is checked here first, field by field against the shapes
``ControlPlane.report``, the host's served report and ``CircuitBreaker.snapshot``
produce: a report,
command or answer that does not fit is skipped whole, with a reason. Sizes
are capped before parsing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

MAX_REPORT_BYTES = 4_000_000
"""Largest client report read back (a client with a thousand endpoints writes ~1.5 MB)."""

MAX_MESSAGE_BYTES = 8_192
"""Largest command or answer parsed; real ones are a few hundred bytes."""

SERVER_ROLE = "server"
"""The ``role`` of a report a service instance publishes about what it served."""


def served_report_id(service: str, instance_id: str) -> str:
    """The id an instance's served report is stored under."""
    return f"{service}@{instance_id}"


Check = Callable[[Any], bool]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _fields(shape: Mapping[str, Check]) -> Check:
    """An object whose listed fields, where present, pass their checks (others are free)."""
    return lambda value: (
        isinstance(value, dict)
        and all(check(value[name]) for name, check in shape.items() if name in value)
    )


def _list_of(check: Check) -> Check:
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def _map_of(check: Check) -> Check:
    return lambda value: isinstance(value, dict) and all(check(item) for item in value.values())


_TEXT, _NUMBER = _optional(_is_str), _optional(_is_number)

_STATS = _fields(
    {
        **dict.fromkeys(("requests", "failures", "active", "error_rate"), _NUMBER),
        "errors": _map_of(_NUMBER),
        "latency_ms": _map_of(_NUMBER),
        "interval": _map_of(_NUMBER),
    }
)

_BREAKER = _fields(
    {
        **dict.fromkeys(("service", "scope", "instance_id", "address", "name", "state"), _TEXT),
        **dict.fromkeys(
            ("failure_count", "error_percentage", "window_requests", "trip_count"), _NUMBER
        ),
        **dict.fromkeys(("retry_after", "opened_at"), _NUMBER),
        "config": _map_of(_NUMBER),
    }
)

_REPORT = _fields(
    {
        **dict.fromkeys(("name", "host", "role", "instance_id", "address", "version"), _TEXT),
        **dict.fromkeys(("pid", "started_at", "published_at"), _NUMBER),
        "breakers": _list_of(_BREAKER),
        "services": _map_of(_STATS),
        "endpoints": _map_of(_map_of(_STATS)),
        "served": _map_of(_STATS),
        "within": _map_of(_list_of(_is_number)),
    }
)

_CHANGE = _fields(dict.fromkeys(("breaker", "from", "to"), _is_str))
_ANSWER = _fields({"client_id": _is_str, "name": _TEXT, "changes": _list_of(_CHANGE)})
_COMMAND = _fields(
    {"action": _is_str, **dict.fromkeys(("id", "service", "instance_id", "client_id"), _TEXT)}
)


def _decode(raw: bytes | str, limit: int, what: str) -> Any:
    """JSON from ``raw``; ValueError naming ``what`` when it is too big or not JSON."""
    if len(raw) > limit:
        raise ValueError(f"{what} of {len(raw)} bytes is over the {limit}-byte limit")
    try:
        return json.loads(raw)
    except ValueError:  # includes UnicodeDecodeError
        raise ValueError(f"{what} is not JSON") from None


def check_report(raw: bytes | str) -> dict[str, Any]:
    """A client report as ``ControlPlane.report`` writes it; ValueError saying why not."""
    report = _decode(raw, MAX_REPORT_BYTES, "report")
    if not (isinstance(report, dict) and _is_str(report.get("client_id"))):
        raise ValueError("report is not an object with a client_id")
    if not _REPORT(report):
        raise ValueError("report has fields of the wrong shape")
    return report


def check_message(raw: bytes | str, what: str) -> dict[str, Any]:
    """A command (``what="command"``) or an answer to one; ValueError saying why not."""
    message = _decode(raw, MAX_MESSAGE_BYTES, what)
    shape, required = (_COMMAND, "action") if what == "command" else (_ANSWER, "client_id")
    if not (isinstance(message, dict) and required in message and shape(message)):
        raise ValueError(f"{what} has fields missing or of the wrong shape")
    return message
