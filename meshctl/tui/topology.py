"""The topology tab of ``meshctl top``: the call graph, a cursor over its nodes and edges,
the selected one's figures and trends, and Enter to drill into it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Region
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from meshctl.tui import render
from meshctl.tui.model import History, MeshView

EMPTY = "Nothing to draw: no service is registered and no client reports calls."


class TopologyPane(Vertical, can_focus=True):
    """The graph (scrolling when taller than the pane) over the selection's details."""

    BINDINGS = [
        Binding("j,down", "move(1)", "Next", show=False),
        Binding("k,up", "move(-1)", "Previous", show=False),
        Binding("enter", "drill", "Drill in"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: MeshView | None = None
        self.history = History()
        self.needle = ""
        self.selected: str | None = None
        self.rows: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="graph-box", can_focus=False):
            yield Static("", id="graph")
        yield Static("", id="graph-details")

    def show(self, view: MeshView, history: History, needle: str = "") -> None:
        """Draw ``view``; ``needle`` keeps the services it matches and their neighbours.

        Drawn only while on screen (a large mesh's graph costs tens of milliseconds);
        the resize that showing the tab brings draws the latest view.
        """
        self.view, self.history, self.needle = view, history, needle
        if self.is_on_screen:
            self.redraw()

    def items(self) -> list[str]:
        if self.view is None:
            return []
        return render.topology_items(self.view, render.neighbourhood(self.view, self.needle))

    def redraw(self) -> None:
        if self.view is None:
            return
        items = self.items()
        if self.selected not in items:
            self.selected = items[0] if items else None
        only = render.neighbourhood(self.view, self.needle)
        width = max(self.app.size.width - 4, 20)  # the scrollbar and padding
        drawing = render.topology_graph(self.view, width, self.selected, only)
        self.rows = drawing.rows
        self.query_one("#graph", Static).update(drawing.text if items else EMPTY)
        self.query_one("#graph-details", Static).update(self.details())

    def details(self) -> str:
        """The selected service's figures and trends, or the selected edge's figures."""
        view, key = self.view, self.selected or ""
        if view is None or not key:
            return ""
        edge = render.find_edge(view, key)
        if edge is not None:
            return render.edge_details(view, edge) + "\n[dim]Enter: the callee's breakers[/dim]"
        service = view.service(key)
        if service is None:
            return render.client_details(view, key)
        h = self.history
        rps, errors, p99 = (list(s.get(("served", key), ())) for s in (h.rps, h.errors, h.p99))
        return "\n".join(
            [
                render.service_details(service).split("\n", 1)[0],
                f"served: {render.trends(rps, errors, p99)}",
                "[dim]Enter: its instances and breakers[/dim]",
            ]
        )

    def action_move(self, step: int) -> None:
        items = self.items()
        if not items:
            return
        index = items.index(self.selected) if self.selected in items else 0
        self.selected = items[min(max(index + step, 0), len(items) - 1)]
        self.redraw()
        row = self.rows.get(self.selected)
        if row is not None:
            box = self.query_one("#graph-box", VerticalScroll)
            box.scroll_to_region(Region(0, max(row - 1, 0), 1, 5), animate=False)

    def action_drill(self) -> None:
        if self.view is not None and self.selected is not None:
            self.app.push_screen(DrillScreen(self.selected, self.view))

    def on_resize(self) -> None:
        self.redraw()


class DrillScreen(Screen[None]):
    """A node's instances and breakers, or an edge's figures and its callee's breakers;
    ``show`` keeps it live."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, key: str, view: MeshView) -> None:
        super().__init__()
        self.key = key
        self.view = view

    def compose(self) -> ComposeResult:
        yield Static(f"Topology › {self.key}   (Esc: back)", id="drill-title", markup=False)
        with VerticalScroll(id="drill-box"):
            yield Static("", id="drill")
        yield DataTable(id="drill-breakers", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#drill-breakers", DataTable).add_columns(*render.BREAKER_COLUMNS)
        self.show(self.view)

    def show(self, view: MeshView) -> None:
        self.view = view
        text, breakers = render.drill(view, self.key)
        self.query_one("#drill", Static).update(text)
        table = self.query_one("#drill-breakers", DataTable)
        table.clear()
        for b in breakers:
            table.add_row(*render.breaker_cells(b))
