"""Delivery channels: webhook and SMS gateway over HTTP (httpx), e-mail over SMTP.

Each channel sends one notification to one recipient and raises
``DeliveryError`` with a short reason when that fails; what to do next is
the dispatcher's business.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from meshctl.core.context import current_context
from meshctl.services.alert.outbound import DestinationRefused, OutboundPolicy


class DeliveryError(Exception):
    """One delivery attempt failed; the message says why."""


@dataclass(frozen=True, slots=True)
class Notification:
    """What a recipient is told about an alert."""

    alert_id: str
    severity: str
    title: str
    message: str
    camera_id: str = ""
    source: str = "manual"
    source_id: str = ""
    created_at: float = 0.0
    metadata: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "camera_id": self.camera_id,
            "source": self.source,
            "source_id": self.source_id,
            "created_at": self.created_at,
            "metadata": dict(self.metadata),
        }

    @property
    def subject(self) -> str:
        return f"[{self.severity.upper()}] {self.title}"


class Channel(Protocol):
    """Sends a notification to one recipient of this channel."""

    async def send(self, notification: Notification, recipient: str) -> None: ...


def _trace_headers() -> dict[str, str]:
    ctx = current_context()
    return ctx.child().to_headers() if ctx is not None else {}


async def _post_json(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> None:
    """POST ``body``; any transport error or non-2xx answer is a DeliveryError."""
    try:
        response = await client.post(url, json=body, headers=_trace_headers())
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
    if not response.is_success:
        raise DeliveryError(f"HTTP {response.status_code} from {url}")


class WebhookChannel:
    """POSTs the alert as JSON to the recipient URL, if ``outbound`` allows it."""

    def __init__(self, client: httpx.AsyncClient, outbound: OutboundPolicy) -> None:
        self._client = client
        self._outbound = outbound

    async def send(self, notification: Notification, recipient: str) -> None:
        try:
            await self._outbound.check(recipient, "webhook")
        except DestinationRefused as exc:
            raise DeliveryError(str(exc)) from exc
        await _post_json(self._client, recipient, notification.as_json())


class SmsChannel:
    """Asks an HTTP SMS gateway to text the recipient's number."""

    def __init__(self, client: httpx.AsyncClient, gateway_url: str) -> None:
        self._client = client
        self._gateway_url = gateway_url

    async def send(self, notification: Notification, recipient: str) -> None:
        text = f"{notification.subject}: {notification.message}"[:480]
        body = {"to": recipient, "message": text, "alert_id": notification.alert_id}
        await _post_json(self._client, self._gateway_url, body)


class EmailChannel:
    """Sends a plain-text e-mail through an SMTP relay (stdlib smtplib, in a thread)."""

    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    async def send(self, notification: Notification, recipient: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = recipient
        message["Subject"] = notification.subject
        message["X-Alert-Id"] = notification.alert_id
        lines = [notification.message, "", f"alert: {notification.alert_id}"]
        if notification.camera_id:
            lines.append(f"camera: {notification.camera_id}")
        message.set_content("\n".join(lines))
        try:
            await asyncio.to_thread(self._send_sync, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP {self._host}:{self._port}: {exc}") from exc

    def _send_sync(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.send_message(message)
