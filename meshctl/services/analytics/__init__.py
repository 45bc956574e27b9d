"""Analytics: traffic metrics, violation rules, anomalies and reports over camera frames."""

from __future__ import annotations

from meshctl.services.analytics.service import AnalyticsApp, AnalyticsServicer
from meshctl.services.base import ServiceSettings

__all__ = ["AnalyticsApp", "AnalyticsServicer", "build"]


def build(settings: ServiceSettings) -> AnalyticsApp:
    """The analytics app configured by ``settings``."""
    return AnalyticsApp(settings)
