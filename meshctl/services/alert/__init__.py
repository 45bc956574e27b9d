"""The alert reference service: violations and anomalies become alerts, delivered and tracked.

Channels (webhook, e-mail, SMS gateway) follow severity rules; every delivery
is recorded in SQL and failed ones are retried with backoff on request.
"""

from __future__ import annotations

from meshctl.services.alert.app import AlertApp
from meshctl.services.alert.rules import RetryPolicy, SeverityRules
from meshctl.services.base import ServiceSettings

__all__ = ["AlertApp", "RetryPolicy", "SeverityRules", "build"]


def build(settings: ServiceSettings) -> AlertApp:
    """The alert service configured from ``settings``.

    Raises:
        InvalidRequestError: ``alert_recipients`` holds an entry that is no valid address.
    """
    return AlertApp(settings)
