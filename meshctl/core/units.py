"""Durations as people write and read them: ``500ms``, ``30s``, ``2m``, ``1h``; ``5m`` ago."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds from ``30s``, ``500ms``, ``2m``, ``1h`` or a bare number of seconds.

    Raises:
        ValueError: the text is not such a duration (negative ones are not).
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 500ms, 2m")
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_age(seconds: float | None) -> str:
    """A short age: ``42s``, ``5m``, ``3h``, ``2d``; ``-`` for none."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(int(seconds), 0)}s"
