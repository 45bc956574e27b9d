"""Parsing of what a command is given: ``-d`` JSON, ``-H`` headers, ids and durations.

Pure functions apart from reading the named file or stdin; every failure is
an InvalidRequestError naming what is wrong and where. What gRPC or HTTP
would refuse deep inside a call (a CR/LF in a header, a ``-bin`` key with a
text value, a deadline past what a clock holds) is refused here, at the edge,
with one line and exit 2.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from meshctl.errors import InvalidRequestError

MAX_JSON_DEPTH = 100
"""Deepest nesting a request may have: protobuf's own parser stops at 100 too."""

MAX_SECONDS = 86_400.0
"""Longest timeout or wait a command takes: a day, well inside what a deadline holds."""

# gRPC metadata keys: lower-case letters, digits, '-', '_' and '.'.
HEADER_KEY = re.compile(r"[0-9a-z_.-]+")


def parse_json(text: str, origin: str = "-d") -> Any:
    """JSON ``text``; errors name the line and column (and ``origin``: -d, a file, stdin)."""
    too_deep = InvalidRequestError(
        f"invalid JSON in {origin}: nested deeper than {MAX_JSON_DEPTH} levels"
    )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"invalid JSON in {origin} at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise too_deep from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise too_deep
    return data


def json_depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value`` (0 for a scalar), without recursion.

    Stops counting past ``MAX_JSON_DEPTH``: deeper is too deep whatever the figure.
    """
    deepest, stack = 0, [(value, 0)]
    while stack and deepest <= MAX_JSON_DEPTH:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            children = item.values() if isinstance(item, dict) else item
            stack += [(child, depth) for child in children]
        deepest = max(deepest, depth)
    return deepest


def read_data(value: str, stdin: IO[str] | None = None) -> Any:
    """The JSON a ``-d`` value holds: inline text, ``@path`` or ``@-`` for stdin."""
    if not value.startswith("@"):
        return parse_json(value)
    source = value[1:]
    if source == "-":
        return parse_json((stdin or sys.stdin).read(), "stdin")
    if not source:
        raise InvalidRequestError("invalid -d '@': name a file after @, or @- for stdin")
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidRequestError(f"cannot read -d file {source}: {reason}") from None
    return parse_json(text, source)


def read_object(value: str, stdin: IO[str] | None = None) -> dict[str, Any]:
    """Like ``read_data`` but the JSON must be an object (a request or event body)."""
    data = read_data(value, stdin)
    if not isinstance(data, dict):
        raise InvalidRequestError(f"-d must be a JSON object, not {_json_kind(data)}")
    return data


def parse_headers(pairs: Sequence[str]) -> dict[str, str]:
    """``key=value`` (or ``key: value``) strings as metadata; keys lower-cased as gRPC wants.

    Values must be printable ASCII, as gRPC metadata and HTTP headers both
    require; binary (``-bin``) metadata is refused, since the mesh's calls
    carry text metadata only.
    """
    headers: dict[str, str] = {}
    for pair in pairs:
        sep = "=" if "=" in pair else ":"
        key, found, value = pair.partition(sep)
        key = key.strip().lower()
        if not found or not HEADER_KEY.fullmatch(key):
            raise InvalidRequestError(
                f"invalid -H {printable(pair)}: expected KEY=VALUE, "
                "the key of letters, digits, '-', '_' and '.'"
            )
        if key.endswith("-bin"):
            raise InvalidRequestError(
                f"invalid -H {key}: binary (-bin) metadata is not supported; "
                "send the value under a key without -bin"
            )
        headers[key] = text_value(f"-H {key}", value.strip())
    return headers


def text_value(option: str, value: str) -> str:
    """``value`` if it is printable ASCII (what a header may carry), else InvalidRequestError."""
    bad = next((c for c in value if not " " <= c <= "~"), None)
    if bad is not None:
        raise InvalidRequestError(
            f"invalid {option}: {bad!r} is not allowed; values are printable ASCII only"
        )
    return value


def printable(text: str) -> str:
    """``text`` quoted, control characters escaped, so an error stays one line."""
    return repr(text) if text.isprintable() else ascii(text)


_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_moment(option: str, text: str, now: datetime) -> datetime:
    """A point in time: ``-10m``/``-2h``/``-30s``/``-1d`` ago, or a timestamp (UTC if no zone)."""
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        return now - timedelta(seconds=float(relative[1]) * _UNITS[relative[2]])
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(
            f"invalid {option} {text!r}: use -10m/-2h/-30s/-1d or a timestamp "
            "such as 2024-05-01T12:00:00Z"
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def seconds(option: str, value: float, *, zero: bool = False) -> float:
    """A timeout or wait: finite, positive (or zero when allowed), at most ``MAX_SECONDS``."""
    if not math.isfinite(value):
        raise InvalidRequestError(f"invalid {option} {value:g}: must be a finite number of seconds")
    if value < 0 or (value == 0 and not zero):
        low = "not be negative" if zero else "be more than 0 seconds"
        raise InvalidRequestError(f"invalid {option} {value:g}: must {low}")
    if value > MAX_SECONDS:
        raise InvalidRequestError(
            f"invalid {option} {value:g}: at most {MAX_SECONDS:g} seconds (a day)"
        )
    return value


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
