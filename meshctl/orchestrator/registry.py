"""Workflows by name, with their parameters, so any of them can be listed and run.

A workflow module builds a :class:`WorkflowSpec` and passes it to
:func:`register`; parameters arrive as text (from ``meshctl workflow run
NAME --param value``) and each parameter's ``parse`` turns it into a value,
raising ``InvalidRequestError`` with the parameter's name on bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshctl.core import units
from meshctl.errors import InvalidRequestError
from meshctl.orchestrator.model import Flow


def parse_duration(text: str) -> float:
    """``"30s"``, ``"500ms"``, ``"2m"``, ``"1h"`` or plain seconds, as seconds (> 0)."""
    try:
        seconds = units.parse_duration(text)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration such as 30s, 500ms or 2m")
    return seconds


def parse_json_object(text: str) -> dict[str, Any]:
    """A JSON object given inline or as ``@path`` to a file holding one."""
    source = ""
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ValueError(f"cannot read {path}: not UTF-8 text") from None
        source = f" in {path}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON{source}: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object{source}, not {type(value).__name__}")
    return value


def choice(*allowed: str) -> Callable[[str], str]:
    """A parser accepting one of ``allowed`` (case-insensitive)."""

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return value

    return parse


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter of a workflow; ``--NAME VALUE`` on the command line."""

    name: str
    help: str
    parse: Callable[[str], Any] = str
    default: Any = None  # None: absent unless given

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "help": self.help, "default": self.default}


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """A named workflow: what it does, what it takes, and how to build its flow.

    ``build`` receives the parsed parameters (absent ones at their default) and
    returns the flow to run.
    """

    name: str
    description: str
    parameters: tuple[Parameter, ...]
    build: Callable[[Mapping[str, Any]], Flow]

    def parse(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Parsed parameters; unknown names or bad values raise InvalidRequestError."""
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            allowed = ", ".join(f"--{n}" for n in known) or "none"
            raise InvalidRequestError(
                f"workflow {self.name} takes no --{unknown[0]} (parameters: {allowed})"
            )
        values: dict[str, Any] = {}
        for name, param in known.items():
            if name not in raw:
                values[name] = param.default
                continue
            try:
                values[name] = param.parse(raw[name])
            except ValueError as exc:
                raise InvalidRequestError(f"invalid --{name}: {exc}") from None
        return values

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": [p.to_dict() for p in self.parameters],
        }


_WORKFLOWS: dict[str, WorkflowSpec] = {}


def register(spec: WorkflowSpec) -> WorkflowSpec:
    """Make ``spec`` runnable by name; a second workflow of the same name is refused."""
    if spec.name in _WORKFLOWS and _WORKFLOWS[spec.name] is not spec:
        raise ValueError(f"a workflow named {spec.name!r} is already registered")
    _WORKFLOWS[spec.name] = spec
    return spec


def get_workflow(name: str) -> WorkflowSpec:
    """The workflow called ``name``; InvalidRequestError naming the known ones otherwise."""
    spec = _WORKFLOWS.get(name)
    if spec is None:
        known = ", ".join(sorted(_WORKFLOWS)) or "none"
        raise InvalidRequestError(f"unknown workflow {name!r} (known: {known})")
    return spec


def workflows() -> list[WorkflowSpec]:
    """Every registered workflow, by name."""
    return [_WORKFLOWS[name] for name in sorted(_WORKFLOWS)]
