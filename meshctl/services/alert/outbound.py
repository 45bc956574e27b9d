"""Where the alert service may send HTTP requests: the outbound allow-list.

A webhook URL the operator configured (``webhook_url``, ``sms_gateway_url``,
``webhook:`` entries of ``alert_recipients``) is trusted as it is, loopback
or not: ``meshctl up``'s embedded sink is such a one. A URL a caller puts in
``SendAlert`` is someone else's choice, so it goes out only when

1. it matches ``alert_allowed_urls``: a host (``hooks.example.com``, or with
   a port, ``hooks.example.com:8443``) or a URL prefix
   (``https://hooks.example.com/its/``: same scheme, host and port, and a
   path under the prefix's); and
2. every address its host resolves to is public, or inside
   ``alert_allowed_networks``: loopback, private (10/8, 172.16/12,
   192.168/16, fc00::/7), link-local (169.254/16 with the cloud metadata
   address, fe80::/10) and other non-global addresses are refused otherwise,
   so an allowed name that resolves inside the network reaches nothing there.

The check runs when the request arrives (refused: INVALID_ARGUMENT, nothing
stored or sent) and again before each delivery attempt, retries included.
Redirects are not followed (httpx's default), so an allowed host cannot
bounce a request elsewhere. Between the check's DNS lookup and the
connection's own, a name could change what it resolves to; an allow-list of
names the operator controls is what closes that gap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from meshctl.errors import InvalidRequestError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DestinationRefused(InvalidRequestError):
    """A URL the alert service will not send to."""


@dataclass(frozen=True, slots=True)
class _Rule:
    """One ``alert_allowed_urls`` entry: a host (any scheme, path) or a URL prefix."""

    host: str
    port: int | None
    scheme: str | None = None
    path: str = ""

    @classmethod
    def parse(cls, entry: str) -> _Rule:
        entry = entry.strip()
        url = "://" in entry
        parts = urlsplit(entry if url else f"//{entry}")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1 or (not url and (parts.path or parts.query)):
            raise InvalidRequestError(f"alert_allowed_urls: {entry!r} is not a host or URL")
        if not url:
            return cls(parts.hostname, port)
        if parts.scheme not in _DEFAULT_PORTS:
            raise InvalidRequestError(f"alert_allowed_urls: {entry!r} is not an http(s) URL")
        return cls(parts.hostname, port or _DEFAULT_PORTS[parts.scheme], parts.scheme, parts.path)

    def matches(self, parts: SplitResult, port: int) -> bool:
        if parts.hostname != self.host or (self.port is not None and port != self.port):
            return False
        if self.scheme is None:
            return True
        # A path prefix counts at a segment boundary: /its matches /its and /its/x, not /itsy.
        prefix = self.path.rstrip("/")
        path = parts.path or "/"
        return parts.scheme == self.scheme and (
            not prefix or path == prefix or path.startswith(prefix + "/")
        )


class OutboundPolicy:
    """Decides whether a webhook URL may be posted to."""

    def __init__(
        self,
        configured: Iterable[str] = (),
        allowed: Iterable[str] = (),
        allowed_networks: Iterable[str] = (),
    ) -> None:
        """Raises InvalidRequestError when an allow-list entry or network is malformed."""
        self._configured = frozenset(url.strip() for url in configured)
        self._rules = tuple(_Rule.parse(entry) for entry in allowed)
        try:
            self._networks = tuple(ipaddress.ip_network(n.strip()) for n in allowed_networks)
        except ValueError as exc:
            raise InvalidRequestError(f"alert_allowed_networks: {exc}") from None

    async def check(self, url: str, field: str) -> None:
        """Return if ``url`` may be posted to; else raise DestinationRefused naming ``field``."""
        if url in self._configured:
            return
        parts = urlsplit(url)
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
        except ValueError:
            raise DestinationRefused(f"{field}: {url!r} has a malformed port") from None
        if parts.hostname is None or not any(rule.matches(parts, port) for rule in self._rules):
            raise DestinationRefused(
                f"{field}: {url!r} is not an allowed webhook destination "
                "(the configured webhook_url, or one allowed by alert_allowed_urls)"
            )
        for address in await _resolve(parts.hostname, port, field):
            if not _public(address) and not any(address in net for net in self._networks):
                raise DestinationRefused(
                    f"{field}: {parts.hostname} resolves to {address}, a private, loopback or "
                    "link-local address (allow its network with alert_allowed_networks)"
                )


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return address.is_global and not address.is_multicast


async def _resolve(host: str, port: int, field: str) -> list[Address]:
    """Every address ``host`` resolves to (an IP literal: itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        raise DestinationRefused(f"{field}: cannot resolve {host}: {exc or 'timed out'}") from None
    return [ipaddress.ip_address(info[4][0]) for info in infos]
