"""The alert service as the host runs it: channels, storage and the gRPC servicer."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence

import grpc
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from meshctl.proto.its.v1 import alert_pb2 as apb
from meshctl.services.alert.channels import Channel, EmailChannel, SmsChannel, WebhookChannel
from meshctl.services.alert.dispatch import Dispatcher
from meshctl.services.alert.outbound import OutboundPolicy
from meshctl.services.alert.rules import RetryPolicy, SeverityRules
from meshctl.services.alert.servicer import AlertServicer
from meshctl.services.alert.storage import AlertStore
from meshctl.services.alert.validation import parse_default_recipients
from meshctl.services.base import ServiceSettings
from meshctl.services.rpc import service_handler
from meshctl.services.sql import open_database

SERVICE = apb.DESCRIPTOR.services_by_name["AlertService"]


class AlertApp:
    """Alert delivery over webhook, e-mail and SMS, recorded in SQL."""

    name: str = "alert"
    grpc_service_names: Sequence[str] = (SERVICE.full_name,)

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        rules: SeverityRules | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        http_timeout: float = 10.0,
    ) -> None:
        """Raises InvalidRequestError when ``settings.alert_recipients``, ``alert_allowed_urls``
        or ``alert_allowed_networks`` holds a bad entry."""
        self._settings = settings
        self._rules = rules or SeverityRules()
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._rng = rng
        self._http_timeout = http_timeout
        self._defaults = parse_default_recipients(settings.alert_recipients)
        if settings.webhook_url:
            self._defaults.setdefault("webhook", []).append(settings.webhook_url)
        self._outbound = OutboundPolicy(
            configured=self._defaults.get("webhook", []),
            allowed=settings.alert_allowed_urls,
            allowed_networks=settings.alert_allowed_networks,
        )
        self._engine: AsyncEngine | None = None
        self._http: httpx.AsyncClient | None = None
        self._servicer: AlertServicer | None = None
        self._store: AlertStore | None = None

    def add_to_server(self, server: grpc.aio.Server) -> None:
        if self._servicer is None:
            raise RuntimeError("start() the alert app before serving it")
        server.add_generic_rpc_handlers((service_handler(SERVICE, self._servicer),))

    async def start(self) -> None:
        self._engine, sessions = await open_database(self._settings, self.name)
        self._http = httpx.AsyncClient(timeout=self._http_timeout)
        store = self._store = AlertStore(sessions)
        dispatcher = Dispatcher(
            store, self._channels(self._http), self._retry, self._clock, self._rng
        )
        self._servicer = AlertServicer(
            store, dispatcher, self._rules, self._defaults, self._clock, self._outbound
        )

    async def stop(self) -> None:
        if self._store is not None:
            await self._store.drain()
            self._store = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def _channels(self, http: httpx.AsyncClient) -> Mapping[str, Channel]:
        s = self._settings
        channels: dict[str, Channel] = {
            "webhook": WebhookChannel(http, self._outbound),
            "email": EmailChannel(s.smtp_host, s.smtp_port, s.smtp_sender, self._http_timeout),
        }
        if s.sms_gateway_url:
            channels["sms"] = SmsChannel(http, s.sms_gateway_url)
        return channels
