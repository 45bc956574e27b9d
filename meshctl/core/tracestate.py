"""W3C Trace Context Level 1 ``tracestate``: validate, combine and bound the list.

The rules (https://www.w3.org/TR/trace-context-1/#tracestate-header):

- The header is a comma-separated list of ``key=value`` members. Spaces and
  tabs around a member are ignored; empty and whitespace-only members are
  allowed (they come from joining several header lines) and are dropped.
- Several header lines are one list, joined with commas in order (RFC 7230
  field order) before they are parsed.
- A key is a *simple key* ``[a-z][a-z0-9_\\-*/]{0,255}`` or a *multi-tenant
  key* ``tenant@system``: a tenant id ``[a-z0-9][a-z0-9_\\-*/]{0,240}``, a
  system id ``[a-z][a-z0-9_\\-*/]{0,13}``.
- A value is 1 to 256 printable ASCII characters (0x20-0x7E) other than
  ``,`` and ``=``, not ending in a space.
- At most 32 members, and one member per key.

A header that breaks any rule is invalid as a whole and dropped (the spec
lets a participant discard a tracestate it cannot parse); nothing here raises
on bad input. A valid list is propagated unchanged, in canonical form (no
optional whitespace, no empty members), up to ``PROPAGATED_LENGTH``
characters; a longer one is truncated as the spec says: whole members, those
over 128 characters first, then from the right.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

Member = tuple[str, str]
"""One list member: ``(key, value)``."""

MAX_MEMBERS = 32
PROPAGATED_LENGTH = 512
"""The longest tracestate meshctl passes on (the spec asks for at least 512)."""
LONG_MEMBER = 128
"""Members longer than this are the first dropped when truncating."""

_KEYCHARS = r"[a-z0-9_\-*/]"
_KEY = rf"[a-z]{_KEYCHARS}{{0,255}}|[a-z0-9]{_KEYCHARS}{{0,240}}@[a-z]{_KEYCHARS}{{0,13}}"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_MEMBER = re.compile(rf"({_KEY})=({_VALUE})")
OWS = " \t"
"""Optional whitespace around a header's value and its members."""


def parse_tracestate(header: str) -> tuple[Member, ...] | None:
    """The header's members in order, or None if it is invalid or has none."""
    members: list[Member] = []
    keys: set[str] = set()
    for item in header.split(","):
        item = item.strip(OWS)
        if not item:
            continue
        match = _MEMBER.fullmatch(item)
        if match is None or match[1] in keys or len(members) == MAX_MEMBERS:
            return None
        keys.add(match[1])
        members.append((match[1], match[2]))
    return tuple(members) or None


def format_tracestate(members: Iterable[Member]) -> str:
    """The members as a header value, in canonical form."""
    return ",".join(f"{key}={value}" for key, value in members)


def truncate(members: Sequence[Member], limit: int = PROPAGATED_LENGTH) -> tuple[Member, ...]:
    """Whole members dropped until the list fits ``limit``: long ones first, then from the right."""
    sizes = [len(key) + 1 + len(value) for key, value in members]
    length = sum(sizes) + len(sizes) - 1
    kept = [True] * len(members)
    long_first = [i for i in reversed(range(len(members))) if sizes[i] > LONG_MEMBER]
    for i in [*long_first, *reversed(range(len(members)))]:
        if length <= limit:
            break
        if kept[i]:
            kept[i] = False
            length -= sizes[i] + 1
    return tuple(member for member, keep in zip(members, kept, strict=True) if keep)


def propagated_tracestate(header: str) -> str | None:
    """What a participant that does not change tracestate passes on; None drops it."""
    members = parse_tracestate(header)
    if members is None:
        return None
    if len(header) > PROPAGATED_LENGTH:
        members = truncate(members)
    return format_tracestate(members) or None
