"""Rendering of command results as a table, JSON or YAML, and printing them.

``render`` is pure: data in, text out, so golden files pin every format.
JSON and YAML carry the data as given, keys sorted, so scripts can rely on
them; the table is for people. rich and pyyaml are imported on first use to
keep ``meshctl --help`` fast.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.table import Table


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output", "-o", help="Output format: table for people, json or yaml for scripts."
    ),
]
"""The shared ``-o/--output`` option every data command takes."""


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: which key of a row it shows, its header and how a cell reads."""

    key: str
    header: str | None = None
    format: Callable[[Any], str] | None = None

    @property
    def title(self) -> str:
        return self.header if self.header is not None else self.key.replace("_", " ").upper()

    def cell(self, row: Mapping[str, Any]) -> str:
        value = row.get(self.key)
        return self.format(value) if self.format is not None else format_cell(value)


def format_cell(value: Any) -> str:
    """How one value reads in a table: ``-`` for nothing, lists and maps spelled out.

    A list or map nested in another is written as compact JSON, never as a
    Python repr, so ``failed=[]`` and ``sent=["webhook"]`` read the same to
    anyone.
    """
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return ",".join(f"{k}={_nested(v)}" for k, v in sorted(value.items())) or "-"
    if isinstance(value, list | tuple):
        return ",".join(_nested(v) for v in value) or "-"
    return str(value)


def _nested(value: Any) -> str:
    """A value inside a list or map: scalars as cells, collections as compact JSON."""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return format_cell(value)


def flatten(data: Any, path: str = "") -> dict[str, Any]:
    """Nested maps and lists as one map of ``a.b[0].c`` paths to scalar leaves.

    An empty list or map stays as one leaf (shown ``-``), so every field of a
    reply keeps a row; a bare scalar is ``{"value": it}``, and an empty reply
    has no row at all.
    """
    if isinstance(data, Mapping) and data:
        items: list[tuple[str, Any]] = [
            (f"{path}.{k}" if path else str(k), v) for k, v in data.items()
        ]
    elif isinstance(data, list | tuple) and data:
        items = [(f"{path}[{i}]", v) for i, v in enumerate(data)]
    elif path or isinstance(data, Mapping | list | tuple):
        return {path: data} if path else {}
    else:
        return {"value": data}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, key))
    return flat


def render(
    data: Any,
    fmt: OutputFormat | str,
    *,
    columns: Sequence[str | Column] | None = None,
    color: bool = False,
    width: int = 200,
) -> str:
    """Render command output.

    Args:
        data: A list of rows (mappings) or one mapping, made of JSON-safe values.
        fmt: ``table``, ``json`` or ``yaml``.
        columns: Table columns (keys or ``Column``); default: the keys of the first row.
            JSON and YAML ignore it and show every key.
        color: Style the table header with ANSI codes (only for a terminal).
        width: Widest table line before cells wrap.

    Returns:
        The text, ending with a newline.
    """
    fmt = OutputFormat(fmt)
    if fmt is OutputFormat.JSON:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if fmt is OutputFormat.YAML:
        import yaml

        text: str = yaml.safe_dump(
            data, sort_keys=True, default_flow_style=False, allow_unicode=True
        )
        return text
    return _render_table(data, columns, color=color, width=width)


def _render_table(
    data: Any, columns: Sequence[str | Column] | None, *, color: bool, width: int
) -> str:
    """A borderless rich table; a single mapping becomes KEY/VALUE rows."""
    from rich.table import Table

    if isinstance(data, Mapping):
        data = [{"key": k, "value": v} for k, v in sorted(data.items())]
        columns = columns or ("key", "value")
    rows: list[Mapping[str, Any]] = list(data)
    if columns is None:
        columns = list(rows[0]) if rows else []
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    if not rows:
        return "No resources found.\n"
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for col in cols:
        table.add_column(col.title, overflow="fold")
    for row in rows:
        table.add_row(*(col.cell(row) for col in cols))
    return table_text(table, color=color, width=width)


def table_text(table: Table, *, color: bool, width: int) -> str:
    """``table`` rendered as text, without trailing spaces, coloured only when asked."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        markup=False,
    )
    console.print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def use_color(stream: Any = None) -> bool:
    """Colour only on a terminal and only when ``NO_COLOR`` is unset (https://no-color.org)."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def emit(
    data: Any, fmt: OutputFormat | str, *, columns: Sequence[str | Column] | None = None
) -> None:
    """Render ``data`` and print it on stdout, coloured only where that is welcome."""
    color = use_color()
    width = typer.get_terminal_size().columns if color else 200
    typer.echo(render(data, fmt, columns=columns, color=color, width=width), nl=False)
