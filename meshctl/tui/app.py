"""``meshctl top``: the live Textual view of services, instances, breakers and events.

The app is presentation only. It gets its data from a ``fetch`` coroutine
(one Redis round trip, see ``data.py``), sends breaker commands through a
``command`` coroutine and tails an event bus; all three run in exclusive
workers, so the screen stays responsive while Redis or Kafka are slow. The
alerts pane (``alerts_pane.py``) does the same with an ``AlertsClient``.
The Routing tab shows what ``routing.py`` makes of the route tables and SLO
statuses the fetch carries (read every few seconds, not every refresh).

The layout follows the terminal's width: the topology sidebar narrows, then
goes, and the services table keeps the columns that fit (``render.fit_columns``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from rich.text import Text
from textual import events as textual_events
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from meshctl.core.units import format_age
from meshctl.errors import MeshError
from meshctl.events import Event, EventBus
from meshctl.events.bus import Start
from meshctl.tui import render
from meshctl.tui.alerts import AlertsClient
from meshctl.tui.alerts_pane import AlertsPane
from meshctl.tui.model import (
    SORT_KEYS,
    History,
    MeshState,
    MeshView,
    compute,
    filter_services,
    sort_services,
)
from meshctl.tui.routing import percent, routing_text
from meshctl.tui.screens import ConfirmScreen, CorrelationScreen, HelpScreen, event_cells
from meshctl.tui.topology import DrillScreen, TopologyPane

Fetch = Callable[[], Awaitable[MeshState]]
#: command(action, service, instance_id) -> the clients' answers (see control.send_command)
Command = Callable[[str, str, str | None], Awaitable[list[dict[str, Any]]]]

Row = tuple[str | Text, ...]
EVENTS_KEPT = 1000
EMPTY_HINT = "The mesh is empty: no service is registered and no client reports. Run `meshctl up`."
SCROLLBAR = 2
ALERTS_EVERY = 3
"""The alerts pane refreshes every this many intervals: alerts change less often."""


def sidebar_width(width: int) -> int:
    """Cells the topology sidebar takes (border included) on a ``width``-cell terminal."""
    return 0 if width < 120 else 29 if width < 160 else 43


class MeshTopApp(App[None]):
    """The mesh at a glance.

    Args:
        fetch: returns the mesh's state; raises RegistryUnavailableError when Redis is away.
        command: sends a breaker command to every mesh client.
        events: the bus to tail; None shows that no broker is configured.
        interval: seconds between refreshes; 0 refreshes only on Ctrl+R (tests).
        clock: wall-clock seconds, for the "last refreshed" time.
        event_start: where the events pane starts tailing (see ``EventBus.tail``).
        alerts: the alert service's RPCs for the alerts pane (refreshed every
            ``ALERTS_EVERY`` intervals); None shows that there is none.
    """

    CSS_PATH = "top.tcss"
    TITLE = "meshctl top"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("v", "toggle_source", "Served/Callers"),
        Binding("r", "breaker('reset')", "Reset"),
        Binding("o", "breaker('force_open')", "Open"),
        Binding("c", "breaker('close')", "Close"),
        Binding("escape", "go_back", "Back"),
        Binding("1", "tab('services')", "Services", show=False),
        Binding("2", "tab('breakers')", "Breakers", show=False),
        Binding("3", "tab('events')", "Events", show=False),
        Binding("4", "tab('topology-view')", "Topology", show=False),
        Binding("5", "tab('alerts')", "Alerts", show=False),
        Binding("6", "tab('routing')", "Routing", show=False),
        Binding("colon", "command_palette", "Commands", show=False),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
        Binding("j", "cursor('down')", show=False),
        Binding("k", "cursor('up')", show=False),
    ]

    def __init__(
        self,
        fetch: Fetch,
        *,
        command: Command | None = None,
        events: EventBus | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        event_start: Start = -200,
        alerts: AlertsClient | None = None,
    ) -> None:
        super().__init__()
        self.fetch = fetch
        self.command = command
        self.bus = events
        self.interval = interval
        self.clock = clock
        self.event_start = event_start
        self.alerts = alerts
        self.previous: MeshState | None = None
        self.view: MeshView | None = None
        self.history = History()
        self.events: deque[Event] = deque(maxlen=EVENTS_KEPT)
        self.filters = dict.fromkeys(
            ("services", "breakers", "events", "topology-view", "alerts", "routing"), ""
        )
        self.sort_key = "name"
        self.source = "served"
        self.columns_shown: tuple[int, ...] = ()
        self.error: str | None = None
        self.refreshed_at: float | None = None
        self.cells: dict[str, dict[str, Row]] = {}  # per table: what each row shows
        self.topology_shown: tuple[object, ...] = ()

    # -- layout -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("", id="banner")
        with TabbedContent(initial="services"):
            with TabPane("Services [1]", id="services"):
                with Horizontal():
                    with VerticalScroll(id="topology-box"):
                        yield Static("", id="topology")
                    with Vertical(id="main"):
                        yield DataTable(id="service-table", cursor_type="row")
                        with Horizontal(id="sparks"):
                            with Vertical():
                                yield Static("RPS", id="rps-label", classes="spark-label")
                                yield Sparkline([], id="rps-spark")
                            with Vertical():
                                yield Static("errors", id="errors-label", classes="spark-label")
                                yield Sparkline([], id="errors-spark")
                            with Vertical():
                                yield Static("p99", id="p99-label", classes="spark-label")
                                yield Sparkline([], id="p99-spark")
                        yield Static("", id="details")
            with TabPane("Breakers [2]", id="breakers"):
                yield DataTable(id="breaker-table", cursor_type="row")
            with TabPane("Events [3]", id="events"):
                yield Static("", id="events-status")
                yield DataTable(id="event-table", cursor_type="row")
            with TabPane("Topology [4]", id="topology-view"):
                yield TopologyPane(id="topology-pane")
            with TabPane("Alerts [5]", id="alerts"):
                yield AlertsPane(
                    self.alerts, clock=self.clock, interval=self.interval * ALERTS_EVERY
                )
            with TabPane("Routing [6]", id="routing"):
                with VerticalScroll(id="routing-box"):
                    yield Static("", id="routing-text")
        yield Input(placeholder="filter (Enter to apply, Esc to clear)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#breaker-table", DataTable).add_columns(*render.BREAKER_COLUMNS)
        self.query_one("#event-table", DataTable).add_columns(*render.EVENT_COLUMNS)
        self.query_one("#service-table", DataTable).focus()
        self.refresh_mesh()
        if self.interval > 0:
            self.set_interval(self.interval, self.refresh_mesh)
        if self.bus is None:
            self.set_events_status(
                "No event broker configured: set --kafka or MESH_KAFKA_BOOTSTRAP."
            )
        else:
            self.set_events_status("Waiting for events…")
            self.tail_events()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for tab in ("services", "breakers", "events", "alerts", "routing"):
            yield SystemCommand(tab.title(), f"Show the {tab}", lambda t=tab: self.action_tab(t))
        yield SystemCommand(
            "Topology", "Show the call graph", lambda: self.action_tab("topology-view")
        )
        yield SystemCommand("Refresh", "Fetch the mesh's state now", self.action_refresh)
        yield SystemCommand("Sort", "Sort services by the next column", self.action_sort)
        yield SystemCommand(
            "Served / callers", "Show metrics as served or as callers see them",
            self.action_toggle_source,
        )  # fmt: skip

    def on_resize(self, event: textual_events.Resize) -> None:
        box = self.query_one("#topology-box")
        width = sidebar_width(event.size.width)
        box.display = width > 0
        if width:
            box.styles.width = width
        if self.view is not None:
            self.show_services(self.view)

    # -- data -------------------------------------------------------------------

    @work(exclusive=True, group="refresh")
    async def refresh_mesh(self) -> None:
        """Fetch the state and show it; on failure keep the last view and say so."""
        try:
            state = await self.fetch()
        except MeshError as exc:
            self.error = str(exc)
        else:
            self.error = None
            self.view = compute(self.previous, state)
            self.previous = state
            self.history.add(self.view)
            self.refreshed_at = self.clock()
        self.show()

    @work(exclusive=True, group="events")
    async def tail_events(self) -> None:
        assert self.bus is not None
        try:
            async for event in self.bus.tail(start=self.event_start, follow=True):
                self.events.append(event)
                self.set_events_status(f"{len(self.events)} recent events (live)")
                if self.event_matches(event):
                    table = self.query_one("#event-table", DataTable)
                    table.add_row(*event_cells(event), key=event.event_id)
        except MeshError as exc:
            self.set_events_status(f"Events unavailable: {exc}")

    def set_events_status(self, text: str) -> None:
        self.query_one("#events-status", Static).update(text)

    def event_matches(self, event: Event) -> bool:
        needle = self.filters["events"].lower()
        return not needle or needle in event.event_type or needle in event.correlation_id.lower()

    # -- drawing ----------------------------------------------------------------

    def show(self) -> None:
        """Redraw everything from the current view."""
        self.show_banner()
        view = self.view
        if view is None:
            return
        shape = render.topology_key(view)
        if shape != self.topology_shown:
            self.query_one("#topology", Static).update(render.topology(view))
            self.topology_shown = shape
        self.show_services(view)
        self.show_breakers(view)
        self.show_selection()
        self.query_one(TopologyPane).show(view, self.history, self.filters["topology-view"])
        self.show_routing(view)
        if isinstance(self.screen, DrillScreen):
            self.screen.show(view)

    def show_banner(self) -> None:
        banner = self.query_one("#banner", Static)
        if self.error is not None:
            since = "nothing fetched yet"
            if self.refreshed_at is not None:
                since = (
                    f"showing the state fetched {format_age(self.clock() - self.refreshed_at)} ago"
                )
            banner.update(f"Redis unreachable: {self.error} ({since}; retrying)")
            banner.set_class(True, "error")
        elif self.view is not None and self.view.empty:
            banner.update(EMPTY_HINT)
            banner.set_class(False, "error")
        else:
            banner.update("")
        banner.display = bool(self.error is not None or (self.view and self.view.empty))
        clients, servers = (self.view.clients, self.view.servers) if self.view else (0, 0)
        self.sub_title = (
            f"{clients} clients · {servers} servers · "
            f"metrics {render.SOURCES[self.source]} · sort: {SORT_KEYS[self.sort_key]}"
        )

    def show_services(self, view: MeshView) -> None:
        services = filter_services(view.services, self.filters["services"])
        rows: list[tuple[str, Row]] = []
        for s in sort_services(services, self.sort_key, self.source):
            rows.append((f"svc:{s.name}", render.service_cells(s, self.source)))
            rows.extend(
                (f"ins:{s.name}:{i.endpoint.instance_id}", render.instance_cells(i, self.source))
                for i in s.instances
            )
        table = self.query_one("#service-table", DataTable)
        widths = [
            max([render.cell_width(name), *(render.cell_width(cells[i]) for _, cells in rows)])
            for i, name in enumerate(render.SERVICE_COLUMNS)
        ]
        room = self.size.width - sidebar_width(self.size.width) - SCROLLBAR
        chosen = tuple(render.fit_columns(widths, room))
        selected = self.selected_key(table)
        if chosen != self.columns_shown:
            table.clear(columns=True)
            table.add_columns(*(render.SERVICE_COLUMNS[i] for i in chosen))
            self.cells.pop(table.id or "", None)
            self.columns_shown = chosen
        self.fill(table, [(key, tuple(cells[i] for i in chosen)) for key, cells in rows])
        self.restore(table, selected)

    def show_breakers(self, view: MeshView) -> None:
        needle = self.filters["breakers"].lower()
        rows: list[tuple[str, Row]] = [
            (f"brk:{b.client_id}:{b.target}", render.breaker_cells(b))
            for b in view.breakers
            if needle in b.target.lower() or needle in b.client.lower()
        ]
        self.fill(self.query_one("#breaker-table", DataTable), rows)

    def show_routing(self, view: MeshView) -> None:
        """Drawn only while its tab is shown (a large mesh's text costs milliseconds a
        refresh); showing the tab draws the latest view."""
        if self.tab != "routing":
            return
        needle = self.filters["routing"].strip().lower()
        shown = [r for r in view.routing if needle in r.service.lower()]
        text = routing_text(shown, view.routing_problems)
        self.query_one("#routing-text", Static).update(text)

    def fill(self, table: DataTable[Any], rows: list[tuple[str, Row]]) -> None:
        """Show ``rows``: only changed cells are touched while the rows stay the same.

        Rebuilding a table of a thousand rows every second costs far more than
        comparing its cells, and keeps the cursor where the operator left it.
        """
        shown = self.cells.setdefault(table.id or "", {})
        if list(shown) == [key for key, _ in rows]:
            columns = list(table.columns)
            for key, cells in rows:
                old = shown[key]
                for column, value, before in zip(columns, cells, old, strict=True):
                    if value != before:
                        table.update_cell(key, column, value, update_width=True)
                shown[key] = cells
            return
        selected = self.selected_key(table)
        table.clear()
        shown.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
            shown[key] = cells
        self.restore(table, selected)

    def show_events(self) -> None:
        table = self.query_one("#event-table", DataTable)
        table.clear()
        for event in self.events:
            if self.event_matches(event):
                table.add_row(*event_cells(event), key=event.event_id)

    def show_selection(self) -> None:
        """The sparklines and details panel of the selected service or instance."""
        if self.view is None:
            return
        key = self.selected_key(self.query_one("#service-table", DataTable)) or ""
        parts = key.split(":")
        service = self.view.service(parts[1]) if len(parts) > 1 else None
        if service is None:
            self.query_one("#details", Static).update("")
            return
        shown_as = (self.source, service.name)
        h = self.history
        rps, errors, p99 = (list(s.get(shown_as, ())) for s in (h.rps, h.errors, h.p99))
        self.query_one("#rps-spark", Sparkline).data = rps
        self.query_one("#errors-spark", Sparkline).data = errors
        self.query_one("#p99-spark", Sparkline).data = p99
        where = f"{service.name} ({self.source})"
        self.query_one("#rps-label", Static).update(f"RPS {where}: {rps[-1]:.1f}/s")
        self.query_one("#errors-label", Static).update(f"errors {where}: {percent(errors[-1])}")
        self.query_one("#p99-label", Static).update(f"p99 {where}: {render.millis(p99[-1])}")
        instance = next((i for i in service.instances if i.endpoint.instance_id == parts[-1]), None)
        details = (
            render.instance_details(instance, self.view.at)
            if parts[0] == "ins" and instance is not None
            else render.service_details(service)
        )
        self.query_one("#details", Static).update(details)

    @staticmethod
    def selected_key(table: DataTable[Any]) -> str | None:
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    @staticmethod
    def restore(table: DataTable[Any], key: str | None) -> None:
        if key is not None and key in table.rows:
            table.move_cursor(row=table.get_row_index(key), animate=False)

    @on(DataTable.RowHighlighted, "#service-table")
    def _highlighted(self) -> None:
        self.show_selection()

    @on(DataTable.RowSelected, "#service-table")
    def _drill_into_service(self, message: DataTable.RowSelected) -> None:
        key = message.row_key.value or ""
        self.filters["breakers"] = key.split(":")[1] if ":" in key else ""
        self.action_tab("breakers")
        if self.view is not None:
            self.show_breakers(self.view)

    @on(TabbedContent.TabActivated, pane="#routing")
    def _routing_shown(self) -> None:
        if self.view is not None:
            self.show_routing(self.view)

    @on(DataTable.RowSelected, "#event-table")
    def _drill_into_event(self, message: DataTable.RowSelected) -> None:
        event = next((e for e in self.events if e.event_id == message.row_key.value), None)
        if event is not None:
            self.push_screen(CorrelationScreen(event.correlation_id, list(self.events), self.bus))

    # -- actions ----------------------------------------------------------------

    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        focus = {
            "services": "#service-table",
            "breakers": "#breaker-table",
            "topology-view": "#topology-pane",
            "alerts": "#alert-table",
            "routing": "#routing-box",
        }.get(tab, "#event-table")
        self.query_one(focus).focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.refresh_mesh()
        self.query_one(AlertsPane).refresh_alerts()

    def action_cursor(self, direction: str) -> None:
        if isinstance(self.focused, DataTable):
            getattr(self.focused, f"action_cursor_{direction}")()

    def action_sort(self) -> None:
        keys = list(SORT_KEYS)
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self.show()

    def action_toggle_source(self) -> None:
        self.source = "callers" if self.source == "served" else "served"
        self.show()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.filters[self.tab]
        box.display = True
        box.focus()

    def action_go_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display or self.filters[self.tab]:
            box.display = False
            self.apply_filter("")
        elif self.tab != "services":
            self.action_tab("services")

    @on(Input.Changed, "#filter")
    def _filter_changed(self, message: Input.Changed) -> None:
        self.apply_filter(message.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#filter", Input).display = False
        self.action_tab(self.tab)

    def apply_filter(self, text: str) -> None:
        self.filters[self.tab] = text
        if self.tab == "events":
            self.show_events()
        elif self.tab == "alerts":
            self.query_one(AlertsPane).apply_filter(text)
        else:
            self.show()

    def breaker_target(self) -> tuple[str, str | None] | None:
        """The (service, instance id) of the selected breaker, service row or instance row."""
        if self.view is None:
            return None
        if self.tab == "breakers":
            key = self.selected_key(self.query_one("#breaker-table", DataTable)) or ""
            target = key.split(":", 2)[-1]
            service, _, instance = target.partition("/")
            return (service, instance or None) if key else None
        if self.tab == "services":
            parts = (self.selected_key(self.query_one("#service-table", DataTable)) or "").split(
                ":"
            )
            if parts[0] == "svc":
                return parts[1], None
            if parts[0] == "ins":
                return parts[1], parts[2]
        if self.tab == "topology-view":  # a service, or an edge's callee
            selected = self.query_one(TopologyPane).selected or ""
            edge = render.find_edge(self.view, selected)
            name = edge.callee if edge is not None else selected
            return (name, None) if self.view.service(name) else None
        return None

    def action_breaker(self, action: str) -> None:
        target = self.breaker_target()
        if target is None or self.command is None:
            self.notify("Select a breaker, service or instance first.", severity="warning")
            return
        service, instance = target
        label = service if instance is None else f"{service}/{instance}"
        verb = action.replace("_", " ")

        def answered(yes: bool | None) -> None:
            if yes:
                self.send_command(action, service, instance)

        self.push_screen(ConfirmScreen(f"{verb.capitalize()} the breaker of {label}?"), answered)

    @work(exclusive=True, group="command")
    async def send_command(self, action: str, service: str, instance: str | None) -> None:
        assert self.command is not None
        try:
            answers = await self.command(action, service, instance)
        except MeshError as exc:
            self.notify(f"{action} failed: {exc}", severity="error")
            return
        changes = sum(len(a.get("changes", ())) for a in answers)
        self.notify(f"{action}: {len(answers)} clients answered, {changes} breakers changed")
        self.refresh_mesh()
