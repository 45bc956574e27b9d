"""What a registry read skipped: bad keys, records, scores and reports, named for operators.

Anything in Redis may have been written by something other than meshctl. A
read never fails because of one bad entry: it leaves the entry out and
returns a :class:`Problem` naming it, which ``meshctl check`` shows. Each
distinct problem is logged once by a :class:`ProblemLog`, so a poisoned key
read every second does not flood the log, and every logged value is cut
short with :func:`brief`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

BRIEF_CHARS = 120
"""Characters of a foreign value shown in a log line or a problem."""

_REMEMBERED = 1024  # distinct problems a ProblemLog remembers before starting afresh


def brief(value: object, limit: int = BRIEF_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how long the whole was."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str | bytes) else len(text)
    return f"{text[:limit]}... ({size} in all)"


def text(value: bytes | str) -> str:
    """A Redis value as text; bytes that are not UTF-8 are replaced, never an error."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Problem:
    """One entry a read skipped: the key, the member or field ('' for the whole key), why."""

    key: str
    member: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.key}[{self.member}]" if self.member else self.key
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "member": self.member, "reason": self.reason}


def from_script(rows: Iterable[Sequence[Any]] | None) -> list[Problem]:
    """Problems as the Lua scripts return them: ``{key, member, reason}`` triples."""
    return [
        Problem(text(key)[:BRIEF_CHARS], text(member)[:BRIEF_CHARS], text(reason)[:BRIEF_CHARS])
        for key, member, reason in rows or ()
    ]


class ProblemLog:
    """Logs each distinct problem once (a warning), however often it is read again."""

    def __init__(self) -> None:
        self._seen: set[Problem] = set()

    def report(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            if problem in self._seen:
                continue
            if len(self._seen) >= _REMEMBERED:
                self._seen.clear()
            self._seen.add(problem)
            log.warning("Skipping bad registry data %s", problem)
