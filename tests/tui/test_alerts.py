"""The pure side of top's alerts pane: cells, order, filtering, columns, statistics, details."""

from __future__ import annotations

from meshctl.tui import alerts as view
from meshctl.tui.render import fit_columns
from tests.support.alerts import alert, alerts, delivery, stats
from tests.support.top import T0


def plain(cells: view.Cells) -> list[str]:
    return [str(c) for c in cells]


def test_a_row_shows_time_age_short_names_each_delivery_and_a_short_id():
    critical = alerts()[1]
    assert plain(view.alert_cells(critical, T0)) == [
        "15:06:28", "12s", "critical", "open", "cam-east-1", "violation",
        "webhook:sent email:failed sms:pending", "9f3c2a1b",
        "wrong way violation at camera cam-east-1",
    ]  # fmt: skip


def test_failed_deliveries_and_critical_alerts_stand_out():
    cells = view.alert_cells(alerts()[1], T0)
    deliveries = cells[view.COLUMNS.index("DELIVERIES")]
    assert not isinstance(deliveries, str)
    failed = [span for span in deliveries.spans if span.style == "bold red"]
    assert [deliveries.plain[s.start : s.end] for s in failed] == ["failed"]
    severity = cells[view.COLUMNS.index("SEVERITY")]
    assert not isinstance(severity, str) and severity.style == "bold red"


def test_missing_fields_read_as_dashes_and_text_stays_on_one_line():
    bare = {"alert_id": "x", "title": "two\nlines\x1b[31m"}
    assert plain(view.alert_cells(bare, T0)) == [
        "-", "-", "-", "-", "-", "-", "-", "x", "two lines [31m",
    ]  # fmt: skip


def test_rows_are_newest_first_whatever_order_the_reply_has():
    ids = [key for key, _ in view.rows(alerts(), "", T0)]
    assert [i[:4] for i in ids] == ["9f3c", "7c6b", "5b1e", "0a1b"]


def test_the_filter_matches_id_camera_severity_status_type_title_and_deliveries():
    def matching(needle: str) -> list[str]:
        return [key[:4] for key, _ in view.rows(alerts(), needle, T0)]

    assert matching("CAM-WEST") == ["7c6b"]
    assert matching("critical") == ["9f3c"]
    assert matching("acknowledged") == ["5b1e"]
    assert matching("manual") == ["0a1b"]
    assert matching("email:failed") == ["9f3c"]
    assert matching("0a1b2c") == ["0a1b"]
    assert matching("cleaning") == ["0a1b"]
    assert matching("nothing like it") == []


def test_narrow_panes_keep_age_severity_status_and_deliveries_first():
    cells = [view.alert_cells(a, T0) for a in alerts()]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(view.COLUMNS))]

    def shown(room: int) -> list[str]:
        return [view.COLUMNS[i] for i in fit_columns(widths, room, view.COLUMNS, view.PRIORITY)]

    assert shown(78) == ["AGE", "SEVERITY", "STATUS", "DELIVERIES", "ALERT"]
    assert shown(118) == [
        "TIME", "AGE", "SEVERITY", "STATUS", "CAMERA", "TYPE", "DELIVERIES", "ALERT"
    ]  # fmt: skip
    assert shown(198) == list(view.COLUMNS)
    assert shown(3) == ["AGE"]


def test_the_statistics_give_totals_severities_in_rank_order_and_each_channel():
    assert view.stats_parts(stats()) == [
        "4 alerts, 3 unacknowledged", "critical 1 high 1 medium 1 low 1",
        "email 1 sent 1 failed (50%)", "sms 1 pending", "webhook 3 sent 1 failed (75%)",
    ]  # fmt: skip
    assert view.stats_parts({"total_alerts": 0, "unacknowledged": 0}) == [
        "0 alerts, 0 unacknowledged"
    ]


def test_the_statistics_break_between_phrases_only():
    parts = view.stats_parts(stats())
    assert view.pack(parts, 200) == " · ".join(parts)
    assert view.pack(parts, 78).splitlines() == [
        "4 alerts, 3 unacknowledged · critical 1 high 1 medium 1 low 1",
        "email 1 sent 1 failed (50%) · sms 1 pending · webhook 3 sent 1 failed (75%)",
    ]
    assert view.pack(["a long phrase"], 4) == "a long phrase"  # too long for any line: alone


def test_the_status_line_says_how_many_or_why_the_list_is_old():
    assert view.status_line(0, 0, "", None, None) == "Loading alerts…"
    assert view.status_line(4, 4, "", None, 0) == "4 of 4 recent alerts, newest first"
    assert view.status_line(1, 4, "cam", None, 0) == (
        "1 of 4 recent alerts matching 'cam', newest first"
    )
    assert view.status_line(4, 4, "", "No endpoints found for service alert", 75) == (
        "Alert service unavailable: No endpoints found for service alert"
        " (list fetched 1m ago; retrying)"
    )
    assert view.status_line(0, 0, "", "timed out\nafter 5s", None) == (
        "Alert service unavailable: timed out after 5s (nothing fetched yet; retrying)"
    )


def test_details_hold_every_field_and_each_deliverys_error():
    shown = view.details(alerts()[1]).plain
    for expected in (
        "Alert 9f3c2a1b7e6d4c5b8a9f0e1d2c3b4a59", "severity critical", "camera cam-east-1",
        "wrong way violation", "evidence attached", "corr-9f3c2a", "violation vio-9f3c",
        "webhook email sms", "SMTP 451: mailbox busy, try later", "3 attempts",
        "Deliveries (3)",
    ):  # fmt: skip
        assert expected in shown, expected
    acked = view.details(alerts()[0]).plain
    assert "by dana at" in acked
    assert "metadata ticket OPS-1729" in view.details(alerts()[2]).plain


def test_the_notifications_say_what_happened():
    mine = alert("a1", 0, "low", "c", "manual", "t", acknowledged_by="ops")
    theirs = alert("a1", 0, "low", "c", "manual", "t", acknowledged_by="dana")
    assert view.acked(mine, "ops") == "Alert a1 acknowledged"
    assert view.acked(theirs, "ops") == "Alert a1 acknowledged (already, by dana)"
    assert view.retried("a1", {"retried": 0}) == "Alert a1: no failed delivery is due for a retry"
    assert view.retried("a1", {"retried": 2, "succeeded": 1, "still_failing": 1}) == (
        "Alert a1: retried 2 deliveries, 1 delivered, 1 still failing"
    )
    assert delivery("sms", "sent")["recipient"] == "+15550100"
