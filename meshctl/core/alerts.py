"""How the alert service's replies read in tables: short enum names, deliveries, timestamps.

Shared by ``meshctl alerts`` and the alerts pane of ``meshctl top``; both get
replies as dicts with the proto's field and enum names (``SEVERITY_HIGH``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def short(value: Any, prefix: str) -> str:
    """``SEVERITY_HIGH`` → ``high``: an enum name as the tables show it."""
    return str(value or "").removeprefix(prefix).lower() or "-"


def delivery_cells(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Each delivery's (channel, status), e.g. ``("webhook", "sent")``."""
    return [
        (short(d.get("channel"), "ALERT_CHANNEL_"), short(d.get("status"), "DELIVERY_STATUS_"))
        for d in alert.get("deliveries") or ()
    ]


def deliveries_cell(alert: Mapping[str, Any]) -> str:
    """Each delivery as ``channel:status``, e.g. ``webhook:sent email:failed``."""
    return " ".join(f"{channel}:{status}" for channel, status in delivery_cells(alert)) or "-"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp of a reply (``...Z``); None when absent or malformed."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def one_line(text: Any) -> str:
    """``text`` with line breaks and control characters as spaces: a cell stays one line."""
    return "".join(c if c.isprintable() else " " for c in str(text or ""))
