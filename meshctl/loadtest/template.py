"""Per-request data from a JSON template: a small placeholder language, no eval.

Placeholders are replaced by text, then the result is parsed as JSON, so a
string placeholder goes inside quotes and a number does not:

    {"camera_id": "cam{{randint 1 100}}", "limit": {{n}}, "id": "{{uuid}}"}

    {{n}}               the request's number (0, 1, 2, ... across all workers)
    {{worker}}          the worker's number
    {{uuid}}            a random UUID
    {{randint A B}}     a random integer in [A, B]
    {{choice X Y ...}}  one of the words, at random
    {{now}}             the current time, ISO 8601 UTC (2025-01-31T12:00:00.000000Z)
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from meshctl.errors import InvalidRequestError

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")


@dataclass(slots=True)
class TemplateContext:
    """What placeholders draw on: the request number, the worker, randomness."""

    n: int = 0
    worker: int = 0
    rng: random.Random = field(default_factory=random.Random)


Part = Callable[[TemplateContext], str]


def _now(_: TemplateContext) -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _compile_placeholder(body: str) -> Part:
    words = body.split()
    if not words:
        raise InvalidRequestError("empty placeholder {{}} in the request template")
    name, args = words[0], words[1:]
    simple: dict[str, Part] = {
        "n": lambda c: str(c.n),
        "worker": lambda c: str(c.worker),
        "uuid": lambda c: str(uuid.UUID(int=c.rng.getrandbits(128), version=4)),
        "now": _now,
    }
    if name in simple:
        if args:
            raise InvalidRequestError(f"{{{{{name}}}}} takes no arguments, got {body!r}")
        return simple[name]
    if name == "randint":
        try:
            low, high = (int(a) for a in args)
        except ValueError:
            raise InvalidRequestError(
                f"invalid {{{{{body}}}}}: expected {{{{randint LOW HIGH}}}} with two integers"
            ) from None
        if low > high:
            raise InvalidRequestError(f"invalid {{{{{body}}}}}: {low} is greater than {high}")
        return lambda c: str(c.rng.randint(low, high))
    if name == "choice":
        if not args:
            raise InvalidRequestError("{{choice}} needs at least one word to choose from")
        return lambda c: c.rng.choice(args)
    raise InvalidRequestError(
        f"unknown placeholder {{{{{name}}}}}: use n, worker, uuid, randint, choice or now"
    )


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled request template; :meth:`render` gives one request's data."""

    parts: tuple[str | Part, ...]

    @classmethod
    def compile(cls, text: str) -> Template:
        """Parse ``text``; raises InvalidRequestError on bad placeholders or bad JSON."""
        parts: list[str | Part] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append(text[pos : match.start()])
            parts.append(_compile_placeholder(match.group(1)))
            pos = match.end()
        rest = text[pos:]
        if "{{" in rest:
            raise InvalidRequestError("unclosed {{ in the request template")
        parts.append(rest)
        template = cls(tuple(p for p in parts if p != ""))
        template.render(TemplateContext())  # bad JSON is caught now, not per request
        return template

    def render(self, ctx: TemplateContext) -> Any:
        """The request for ``ctx`` as parsed JSON."""
        text = "".join(p if isinstance(p, str) else p(ctx) for p in self.parts)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(
                f"the request template does not give JSON ({exc.msg} at column {exc.colno}): "
                f"{text[:80]}"
            ) from None


def load_lines(lines: Sequence[str], source: str) -> list[Any]:
    """Requests from JSON lines (blank lines skipped); errors name the line."""
    requests: list[Any] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            requests.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(f"{source}:{number}: not JSON ({exc.msg})") from None
    if not requests:
        raise InvalidRequestError(f"{source} holds no requests")
    return requests
