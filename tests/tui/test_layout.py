"""meshctl top's layout follows the terminal: the sidebar narrows then goes, columns that do
not fit are dropped, lowest priority first, and none is cut."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from meshctl.tui import render
from meshctl.tui.app import MeshTopApp, sidebar_width
from tests.support.top import T0, ScriptedFetch, state


def test_columns_are_taken_by_priority_while_they_fit():
    widths = [10] * len(render.SERVICE_COLUMNS)
    shown = [render.SERVICE_COLUMNS[i] for i in render.fit_columns(widths, 12 * 4)]
    assert shown == ["NAME", "HEALTH", "BREAKER", "RPS"]  # in table order
    assert [render.SERVICE_COLUMNS[i] for i in render.fit_columns(widths, 5)] == ["NAME"]
    wide_errors = [30 if c == "ERRORS" else 4 for c in render.SERVICE_COLUMNS]
    shown = [render.SERVICE_COLUMNS[i] for i in render.fit_columns(wide_errors, 6 * 7)]
    assert "ERRORS" not in shown and "ADDRESS" in shown  # a narrower one still fits


def test_top_errors_names_the_most_frequent_kind():
    assert render.top_errors({}) == "-"
    assert render.top_errors({"UNAVAILABLE": 2, "DEADLINE_EXCEEDED": 5, "NOT_FOUND": 1}) == (
        "DEADLINE_EXCEEDED=5 +2"
    )


@pytest.mark.parametrize(
    ("width", "wanted"),
    [
        (80, {"NAME", "HEALTH", "BREAKER", "RPS", "SUCCESS", "P99"}),
        (120, {"NAME", "HEALTH", "BREAKER", "RPS", "SUCCESS", "P99", "ERRORS"}),
        (160, {"NAME", "HEALTH", "BREAKER", "RPS", "SUCCESS", "P99", "ERRORS", "ADDRESS"}),
        (240, set(render.SERVICE_COLUMNS)),
    ],
)
async def test_the_table_fits_the_terminal(width: int, wanted: set[str]):
    app = MeshTopApp(ScriptedFetch(state(1), state(2)), interval=0, clock=lambda: T0)
    async with app.run_test(size=(width, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+r")
        await pilot.pause()
        table = app.query_one("#service-table", DataTable)
        labels = {str(c.label) for c in table.columns.values()}
        assert wanted <= labels
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= width - sidebar_width(width) - 2
        assert app.query_one("#topology-box").display is (width >= 120)
        await pilot.press("v")  # the other source keeps the layout's promise
        await pilot.pause()
        used = sum(c.get_render_width(table) for c in table.columns.values())
        assert used <= width - sidebar_width(width) - 2
