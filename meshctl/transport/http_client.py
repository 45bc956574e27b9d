"""HTTP transport: mesh method names map to routes the service registered.

An HTTP service registers its routes in endpoint metadata as
``route.<method> = "<VERB> <path>"`` (the auth service: login, refresh, verify,
health). A call may also name the route directly, e.g. ``"GET /api/v1/auth/verify"``.
GET and DELETE send the request as query parameters, other verbs as a JSON body.

Errors say whether the request left: no connection (or none free in the
pool) is a :class:`ConnectionFailedError`, safe to retry anywhere; a timeout
or a connection lost once the request was on its way may have let the
service act on it (:class:`CallTimeoutError`, :class:`ConnectionLostError`).
A call takes ``timeout`` in all, of which connecting takes ``connect_timeout``
at most (httpx's timeouts are per read and per write, not per request).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import (
    CallTimeoutError,
    ConnectionFailedError,
    ConnectionLostError,
    InvalidRequestError,
    RemoteCallError,
    UnknownMethodError,
)
from meshctl.transport.tls import DRAIN_GRACE, TlsFiles, client_ssl_context, for_endpoint

_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_BODYLESS = ("GET", "DELETE")
DEFAULT_CONNECT_TIMEOUT = 1.0


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
    """One httpx.AsyncClient per service (and TLS generation), reused for every call.

    An instance that speaks TLS is called over HTTPS with ``tls`` as the client
    certificate; after a rotation a new client takes new calls.

    Args:
        connect_timeout: seconds a connection may take to be set up.
        tls: this process's certificate for instances that serve HTTPS.
    """

    def __init__(
        self, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, tls: TlsFiles | None = None
    ) -> None:
        if not connect_timeout > 0:
            raise ValueError(f"connect_timeout must be > 0 seconds, not {connect_timeout!r}")
        self.connect_timeout = connect_timeout
        self.tls = tls
        self._clients: dict[tuple[str, bool], tuple[int, httpx.AsyncClient]] = {}
        self._draining: set[asyncio.Task[None]] = set()

    def _client(self, endpoint: ServiceEndpoint) -> tuple[str, httpx.AsyncClient]:
        """The scheme to use and the client to use it with."""
        tls = for_endpoint(endpoint, self.tls)
        generation = tls.current().generation if tls is not None else 0
        key = (endpoint.service_name, tls is not None)
        held = self._clients.get(key)
        if held is None or held[0] != generation:
            if held is not None:
                task = asyncio.get_running_loop().create_task(_close_later(held[1]))
                self._draining.add(task)
                task.add_done_callback(self._draining.discard)
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                verify=client_ssl_context(tls) if tls is not None else True,
            )
            held = self._clients[key] = (generation, client)
        return ("https" if tls is not None else "http"), held[1]

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
        scheme, client = self._client(endpoint)
        url = f"{scheme}://{endpoint.address}{path}"
        target = f"{endpoint.service_name}/{method}"
        kwargs: dict[str, Any] = {"params": payload} if verb in _BODYLESS else {"json": payload}
        limits = httpx.Timeout(timeout, connect=min(timeout, self.connect_timeout))
        try:
            async with asyncio.timeout(timeout):
                response = await client.request(
                    verb, url, headers=dict(headers), timeout=limits, **kwargs
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ConnectionFailedError(endpoint.address, str(exc) or type(exc).__name__) from None
        except (httpx.TimeoutException, TimeoutError):
            raise CallTimeoutError(target, timeout) from None
        except httpx.TransportError as exc:
            raise ConnectionLostError(endpoint.address, str(exc) or type(exc).__name__) from None
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

    async def healthy(self, endpoint: ServiceEndpoint, timeout: float) -> bool:
        """Whether a GET on the instance's ``health_path`` (default /health) answers 2xx."""
        path = endpoint.metadata.get("health_path", "/health")
        try:
            scheme, client = self._client(endpoint)
            url = f"{scheme}://{endpoint.address}/{path.lstrip('/')}"
            async with asyncio.timeout(timeout):
                response = await client.get(url, timeout=timeout)
        except (httpx.HTTPError, TimeoutError, ConnectionFailedError):
            return False
        return response.is_success

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        for task in list(self._draining):
            task.cancel()


async def _close_later(client: httpx.AsyncClient) -> None:
    try:
        await asyncio.sleep(DRAIN_GRACE)
    finally:
        await client.aclose()
