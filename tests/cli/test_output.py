"""render: golden files pin each format; colour only where welcome."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from meshctl.cli.output import Column, OutputFormat, format_cell, render, use_color

GOLDEN = Path(__file__).parent / "golden"

ROWS = [
    {
        "service": "analytics",
        "instance_id": "a1b2c3",
        "address": "10.0.0.7:50052",
        "weight": 1.5,
        "zone": None,
        "healthy": True,
        "metadata": {"region": "eu", "gpu": "t4"},
        "tags": ["edge", "cams"],
    },
    {
        "service": "alert",
        "instance_id": "ffee01",
        "address": "[::1]:50053",
        "weight": 0.0,
        "zone": "b",
        "healthy": False,
        "metadata": {},
        "tags": [],
    },
]
COLUMNS = ("service", Column("instance_id", "INSTANCE"), "address", "weight", "zone", "healthy")


@pytest.mark.parametrize(
    ("name", "fmt", "data", "columns"),
    [
        ("rows.table", OutputFormat.TABLE, ROWS, COLUMNS),
        ("rows_all_columns.table", OutputFormat.TABLE, ROWS, None),
        ("rows.json", OutputFormat.JSON, ROWS, COLUMNS),
        ("rows.yaml", OutputFormat.YAML, ROWS, COLUMNS),
        ("mapping.table", OutputFormat.TABLE, {"redis_url": "redis://x:1/0", "prefix": "m"}, None),
        ("empty.table", OutputFormat.TABLE, [], COLUMNS),
    ],
)
def test_render_matches_golden_file(name, fmt, data, columns):
    assert render(data, fmt, columns=columns) == (GOLDEN / f"{name}.txt").read_text()


def test_json_and_yaml_carry_every_key_and_read_back():
    assert json.loads(render(ROWS, "json")) == ROWS
    assert yaml.safe_load(render(ROWS, "yaml")) == ROWS


def test_json_keys_are_sorted_so_scripts_see_a_stable_shape():
    text = render({"b": 1, "a": {"d": 2, "c": 3}}, OutputFormat.JSON)
    assert text.index('"a"') < text.index('"b"') and text.index('"c"') < text.index('"d"')


def test_plain_table_has_no_ansi_codes_and_coloured_one_has():
    assert "\x1b[" not in render(ROWS, "table", columns=COLUMNS)
    assert "\x1b[" in render(ROWS, "table", columns=COLUMNS, color=True)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        render(ROWS, "xml")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        ("", "-"),
        (True, "yes"),
        (2.50, "2.5"),
        ({"b": 1, "a": 2}, "a=2,b=1"),
        ([1, 2], "1,2"),
        (
            {"deduplicated": False, "failed": [], "sent": ["webhook"]},
            'deduplicated=no,failed=[],sent=["webhook"]',
        ),
        ([{"violation_id": "v-1", "resolved": False}], '{"violation_id":"v-1","resolved":false}'),
    ],
)
def test_cells_read_naturally(value, text):
    assert format_cell(value) == text


class _Tty:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    assert use_color(_Tty(True))
    assert not use_color(_Tty(False))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(_Tty(True))
