"""Parsing of what a command is given: ``-d`` JSON (inline, @file, @-) and ``-H`` headers.

Pure functions apart from reading the named file or stdin; every failure is
an InvalidRequestError naming what is wrong and where.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from meshctl.errors import InvalidRequestError


def parse_json(text: str, origin: str = "-d") -> Any:
    """JSON ``text``; errors name the line and column (and ``origin``: -d, a file, stdin)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"invalid JSON in {origin} at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


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
    """``key=value`` (or ``key: value``) strings as metadata; keys lower-cased as gRPC wants."""
    headers: dict[str, str] = {}
    for pair in pairs:
        sep = "=" if "=" in pair else ":"
        key, found, value = pair.partition(sep)
        key = key.strip().lower()
        if not found or not key or any(c.isspace() for c in key):
            raise InvalidRequestError(f"invalid -H {pair!r}: expected KEY=VALUE")
        headers[key] = value.strip()
    return headers


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
