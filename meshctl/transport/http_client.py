"""HTTP transport: mesh method names map to routes the service registered.

An HTTP service registers its routes in endpoint metadata as
``route.<method> = "<VERB> <path>"`` (the auth service: login, refresh, verify,
health). A call may also name the route directly, e.g. ``"GET /api/v1/auth/verify"``.
GET and DELETE send the request as query parameters, other verbs as a JSON body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import (
    CallTimeoutError,
    ConnectionFailedError,
    InvalidRequestError,
    RemoteCallError,
    UnknownMethodError,
)

_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_BODYLESS = ("GET", "DELETE")


@dataclass(slots=True)
class HttpReply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def route_for(endpoint: ServiceEndpoint, method: str) -> tuple[str, str]:
    """``(verb, path)`` of ``method`` on ``endpoint``; UnknownMethodError lists the routes."""
    spec = endpoint.metadata.get(f"route.{method}", method).strip()
    verb, _, path = spec.partition(" ")
    verb = verb.upper()
    if verb in _VERBS and path.startswith("/"):
        return verb, path.strip()
    routes = sorted(k.removeprefix("route.") for k in endpoint.metadata if k.startswith("route."))
    listing = ", ".join(routes) if routes else "none registered"
    raise UnknownMethodError(f"{endpoint.service_name} has no method {method} (methods: {listing})")


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"body": response.text}
    return data if isinstance(data, dict) else {"body": data}


def _detail(body: dict[str, Any]) -> str:
    detail = body.get("detail", body.get("error", body.get("body", "")))
    return detail if isinstance(detail, str) else str(detail)


class HttpTransport:
    """One httpx.AsyncClient per service, reused for every call."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, service: str) -> httpx.AsyncClient:
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
            )
        return client

    async def call(
        self,
        endpoint: ServiceEndpoint,
        method: str,
        request: object,
        *,
        timeout: float,
        headers: Mapping[str, str],
    ) -> HttpReply:
        """Send one request; 5xx trips breakers, 4xx is the caller's error."""
        verb, path = route_for(endpoint, method)
        if request is not None and not isinstance(request, Mapping):
            raise InvalidRequestError(f"{method} takes a JSON object, not {type(request).__name__}")
        payload = dict(request or {})
        url = f"http://{endpoint.address}{path}"
        target = f"{endpoint.service_name}/{method}"
        kwargs: dict[str, Any] = {"params": payload} if verb in _BODYLESS else {"json": payload}
        try:
            response = await self._client(endpoint.service_name).request(
                verb, url, headers=dict(headers), timeout=timeout, **kwargs
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ConnectionFailedError(endpoint.address, str(exc) or type(exc).__name__) from None
        except httpx.TimeoutException:
            raise CallTimeoutError(target, timeout) from None
        except httpx.TransportError as exc:
            raise ConnectionFailedError(endpoint.address, str(exc) or type(exc).__name__) from None
        body = _body(response)
        if response.status_code >= 400:
            server_fault = response.status_code >= 500 or response.status_code == 429
            raise RemoteCallError(
                target,
                f"HTTP {response.status_code}",
                _detail(body),
                trips_breaker=server_fault,
                caller_error=response.status_code in (400, 422),
            )
        return HttpReply(response.status_code, body, dict(response.headers))

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
