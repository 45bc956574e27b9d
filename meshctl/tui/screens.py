"""The screens ``meshctl top`` opens over its main view: help, confirmation, a request's path,
an alert's details."""

from __future__ import annotations

import json
from collections.abc import Sequence

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Label, Static

from meshctl.errors import MeshError
from meshctl.events import Event, EventBus
from meshctl.tui.alerts import Alert, details

HELP = """\
[b]meshctl top[/b]: the mesh at a glance, refreshed every second.

  [b]1 2 3 4 5 6[/b]  services / breakers / events / topology / alerts /
               routing (route tables, subsets, zones, SLOs)
  [b]↑ ↓ j k[/b]      move
  [b]Enter[/b]        drill in: a service's breakers, an event's request
               path, an alert's details
  [b]/[/b]            filter the current list (Esc clears it)
  [b]s[/b]            sort services by the next column
  [b]v[/b]            metrics as served, or as callers see them
  [b]r o c[/b]        reset, force open or close the selected breaker
  [b]a t[/b]          acknowledge the selected alert, or retry its failed
               deliveries (both ask first)
  [b]: Ctrl+P[/b]     command palette
  [b]?[/b]            this help        [b]q[/b]  quit
"""


class HelpScreen(ModalScreen[None]):
    """The keys, k9s style."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="help")


class ConfirmScreen(ModalScreen[bool]):
    """Asks before a command (breaker, alert); dismisses with True on yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Label(self.question, id="question")
            with Horizontal(id="answers"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class AlertScreen(ModalScreen[None]):
    """One alert whole: every field, each delivery with its last error."""

    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self.alert = alert

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="alert-details"):
            yield Static(details(self.alert))
            yield Static("Esc, q or Enter closes", classes="hint")


def event_cells(event: Event) -> tuple[str, str, str, str, str]:
    """Time, type, source, correlation id and a short data summary of an event."""
    data = json.dumps(event.data, separators=(",", ":"), sort_keys=True, default=str)
    when = event.occurred_at.strftime("%H:%M:%S.%f")[:-3]
    summary = data if len(data) <= 60 else data[:59] + "…"
    return when, event.event_type, event.source, event.correlation_id, summary


class CorrelationScreen(Screen[None]):
    """Every event of one correlation id, in order: the request's whole path."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, correlation_id: str, known: Sequence[Event], bus: EventBus | None) -> None:
        super().__init__()
        self.correlation_id = correlation_id
        self.events = {e.event_id: e for e in known if e.correlation_id == correlation_id}
        self.bus = bus

    def compose(self) -> ComposeResult:
        yield Static(
            f"Request path of correlation id [b]{self.correlation_id}[/b]", id="path-title"
        )
        yield DataTable(id="path", cursor_type="row", zebra_stripes=True)
        yield Static("", id="path-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#path", DataTable).add_columns("TIME", "TYPE", "SOURCE", "DATA")
        self.show()
        if self.bus is not None:
            self.load_history()

    def show(self) -> None:
        table = self.query_one("#path", DataTable)
        table.clear()
        for event in sorted(self.events.values(), key=lambda e: e.occurred_at):
            when, kind, source, _, data = event_cells(event)
            table.add_row(when, kind, source, data, key=event.event_id)
        self.query_one("#path-status", Static).update(f"{len(self.events)} events")

    @work(exclusive=True)
    async def load_history(self) -> None:
        """Events of this id published before the live pane started, read from the bus."""
        assert self.bus is not None
        try:
            async for event in self.bus.tail(self.correlation_id, start="beginning", follow=False):
                self.events.setdefault(event.event_id, event)
        except MeshError as exc:
            self.query_one("#path-status", Static).update(f"history unavailable: {exc}")
            return
        self.show()
