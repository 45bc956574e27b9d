"""Alert replies in short form, as both ``meshctl alerts`` and ``meshctl top`` show them."""

from __future__ import annotations

from datetime import UTC, datetime

from meshctl.core.alerts import deliveries_cell, delivery_cells, parse_time, short


def test_enum_names_lose_their_prefix_and_absent_ones_are_a_dash():
    assert short("SEVERITY_HIGH", "SEVERITY_") == "high"
    assert short("ALERT_STATUS_ACKNOWLEDGED", "ALERT_STATUS_") == "acknowledged"
    assert short(None, "SEVERITY_") == short("", "SEVERITY_") == "-"


def test_each_delivery_reads_channel_colon_status():
    alert = {
        "deliveries": [
            {"channel": "ALERT_CHANNEL_WEBHOOK", "status": "DELIVERY_STATUS_SENT"},
            {"channel": "ALERT_CHANNEL_EMAIL", "status": "DELIVERY_STATUS_FAILED"},
        ]
    }
    assert delivery_cells(alert) == [("webhook", "sent"), ("email", "failed")]
    assert deliveries_cell(alert) == "webhook:sent email:failed"
    assert deliveries_cell({"deliveries": []}) == deliveries_cell({}) == "-"


def test_reply_timestamps_parse_and_bad_ones_are_none():
    assert parse_time("2025-06-15T15:06:28Z") == datetime(2025, 6, 15, 15, 6, 28, tzinfo=UTC)
    assert parse_time("2025-06-15T15:06:28.250Z") is not None
    assert parse_time(None) is None
    assert parse_time("yesterday") is None
