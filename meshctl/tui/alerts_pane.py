"""The alerts pane of ``meshctl top``: recent alerts, their statistics, ack and retry.

All I/O goes through an ``AlertsClient`` in workers, so a slow or absent
alert service never blocks the screen; when it cannot answer, the pane says
so in one line and keeps the last list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from meshctl.core.alerts import one_line
from meshctl.errors import MeshError
from meshctl.tui import alerts as view
from meshctl.tui.render import cell_width, fit_columns
from meshctl.tui.screens import AlertScreen, ConfirmScreen

NOT_CONFIGURED = "No alert service client: alerts are not shown."


class AlertsPane(Vertical):
    """Recent alerts, newest first, refreshed every ``interval`` seconds (0: on demand).

    Args:
        client: the alert service's RPCs; None shows that there is none.
        clock: wall-clock seconds, for ages.
        interval: seconds between refreshes.
    """

    BINDINGS = [
        Binding("a", "ack", "Ack"),
        Binding("t", "retry", "Retry"),
    ]

    def __init__(
        self, client: view.AlertsClient | None, *, clock: Callable[[], float], interval: float
    ) -> None:
        super().__init__(id="alerts-pane")
        self.client = client
        self.clock = clock
        self.interval = interval
        self.alerts: list[Mapping[str, Any]] = []
        self.stats: Mapping[str, Any] = {}
        self.needle = ""
        self.error: str | None = None
        self.fetched_at: float | None = None
        self.columns_shown: tuple[int, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("", id="alerts-status")
        yield Static("", id="alerts-stats")
        yield DataTable(id="alert-table", cursor_type="row")

    def on_mount(self) -> None:
        if self.client is None:
            self.query_one("#alerts-status", Static).update(NOT_CONFIGURED)
            return
        self.show()
        self.refresh_alerts()
        if self.interval > 0:
            self.set_interval(self.interval, self.tick)

    def on_resize(self) -> None:
        self.show()

    def tick(self) -> None:
        """A periodic refresh, skipped while the last one still waits on the service."""
        if not any(w.group == "alerts" and not w.is_finished for w in self.workers):
            self.refresh_alerts()

    # -- data -------------------------------------------------------------------

    @work(exclusive=True, group="alerts")
    async def refresh_alerts(self) -> None:
        """Fetch the list and the statistics; on failure keep the last list and say why."""
        if self.client is None:
            return
        try:
            listed = await self.client.list()
            stats = await self.client.stats()
        except MeshError as exc:
            self.error = str(exc)
        else:
            self.error = None
            self.alerts = list(listed.get("alerts") or ())
            self.stats = stats
            self.fetched_at = self.clock()
        self.show()

    def apply_filter(self, needle: str) -> None:
        self.needle = needle
        self.show()

    # -- drawing ----------------------------------------------------------------

    def show(self) -> None:
        if self.client is None:
            return
        now = self.clock()
        rows = view.rows(self.alerts, self.needle, now)
        age = None if self.fetched_at is None else now - self.fetched_at
        status = self.query_one("#alerts-status", Static)
        status.update(view.status_line(len(rows), len(self.alerts), self.needle, self.error, age))
        status.set_class(self.error is not None, "error")
        room = self.size.width - 2  # the lines' padding, the table's scrollbar
        if self.stats:
            self.query_one("#alerts-stats", Static).update(
                view.pack(view.stats_parts(self.stats), room)
            )
        table = self.query_one("#alert-table", DataTable)
        widths = [
            max([cell_width(name), *(cell_width(cells[i]) for _, cells in rows)])
            for i, name in enumerate(view.COLUMNS)
        ]
        chosen = tuple(fit_columns(widths, room, view.COLUMNS, view.PRIORITY))
        selected = self.selected()
        if chosen != self.columns_shown:
            table.clear(columns=True)
            table.add_columns(*(view.COLUMNS[i] for i in chosen))
            self.columns_shown = chosen
        table.clear()
        for key, cells in rows:
            table.add_row(*(cells[i] for i in chosen), key=key)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), animate=False)

    def selected(self) -> str | None:
        table = self.query_one("#alert-table", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    def alert(self, alert_id: str | None) -> Mapping[str, Any] | None:
        return next((a for a in self.alerts if a.get("alert_id") == alert_id), None)

    @on(DataTable.RowSelected, "#alert-table")
    def _open_details(self, message: DataTable.RowSelected) -> None:
        alert = self.alert(message.row_key.value)
        if alert is not None:
            self.app.push_screen(AlertScreen(alert))

    # -- actions ----------------------------------------------------------------

    def confirm(self, question: str, then: Callable[[str], Any]) -> None:
        """Ask ``question`` about the selected alert (``{}`` is its id); on yes, ``then(id)``."""
        alert_id = self.selected()
        if self.client is None or alert_id is None:
            self.notify("Select an alert first.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                then(alert_id)

        self.app.push_screen(ConfirmScreen(question.format(alert_id)), answered)

    def action_ack(self) -> None:
        self.confirm("Acknowledge alert {}?", self.acknowledge)

    def action_retry(self) -> None:
        self.confirm("Retry the failed deliveries of alert {}?", self.retry)

    @work(group="alert-command")
    async def acknowledge(self, alert_id: str) -> None:
        assert self.client is not None
        try:
            reply = await self.client.ack(alert_id)
        except MeshError as exc:
            self.notify(f"Acknowledge failed: {one_line(exc)}", severity="error")
            return
        self.notify(view.acked(reply, self.client.operator))
        self.refresh_alerts()

    @work(group="alert-command")
    async def retry(self, alert_id: str) -> None:
        assert self.client is not None
        try:
            reply = await self.client.retry(alert_id)
        except MeshError as exc:
            self.notify(f"Retry failed: {one_line(exc)}", severity="error")
            return
        self.notify(view.retried(alert_id, reply))
        self.refresh_alerts()
