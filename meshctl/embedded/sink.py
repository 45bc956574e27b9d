"""Local HTTP receivers: a webhook receiver, and the embedded alert sink built on it.

``WebhookReceiver`` is a real HTTP server on loopback that records what it
is sent (alert webhooks, SMS gateway posts) and can be told to fail; the
demo delivers its alerts to one, and ``meshctl.testing`` offers it to tests.

A laptop mesh has nowhere to deliver alerts. Rather than fail every
delivery, ``meshctl up`` points the alert service's default webhook at an
``AlertSink``: each alert received is appended as one JSON line to a file
in the run directory, where an operator can read it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import uvicorn

from meshctl.core.lifecycle import AsyncLifecycle, Lifecycle

ASGIApp = Callable[..., Any]


class AsgiServer(AsyncLifecycle):
    """An ASGI 3 app served by uvicorn on ``host``; port 0 (the default) lets the OS pick one.

    Args:
        app: the ASGI application.
        host: the interface to listen on.
        port: the port; read it back from ``port`` or ``url`` once started.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Self:
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            lifespan="off",
            log_level="warning",
            interface="asgi3",  # what it is; uvicorn's guess takes a bound method for ASGI 2
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # uvicorn offers no start-up callback
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"the server on {self.host} stopped before it started")
            await asyncio.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None


@dataclass
class ReceivedRequest:
    """One request a ``WebhookReceiver`` got, and the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 200

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WebhookReceiver(AsyncLifecycle):
    """Records every request; answers ``status`` (set ``status = 500`` to make it fail).

    Use it as ``async with WebhookReceiver() as hook:`` and point a sender at
    ``hook.url``; ``requests`` lists what arrived, ``accepted`` what it answered
    with a 2xx, and ``wait_for(n)`` waits for ``n`` requests.
    """

    status: int = 200
    requests: list[ReceivedRequest] = field(default_factory=list)
    on_request: Callable[[ReceivedRequest], None] | None = None
    host: str = "127.0.0.1"
    port: int = 0
    _server: AsgiServer | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def accepted(self) -> list[ReceivedRequest]:
        """The requests answered with a 2xx status."""
        return [r for r in self.requests if 200 <= r.status < 300]

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        received = ReceivedRequest(scope["method"], scope["path"], headers, body, self.status)
        self.requests.append(received)
        if self.on_request is not None:
            self.on_request(received)
        self._arrived.set()
        reply = json.dumps({"received": True}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": received.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": reply})

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Wait until at least ``count`` requests arrived; returns them."""
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.requests

    async def start(self) -> Self:
        self._server = await AsgiServer(self._app, self.host, self.port).start()
        self.port = self._server.port
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        self._server = None


class AlertSink(Lifecycle):
    """A WebhookReceiver on its own event loop in a daemon thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._receiver = WebhookReceiver(on_request=self._record)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _record(self, request: ReceivedRequest) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(request.body, sort_keys=True, default=str) + "\n")

    def start(self) -> Self:
        self._thread.start()
        receiver = asyncio.run_coroutine_threadsafe(self._receiver.start(), self._loop).result(10)
        self.url = receiver.url
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._receiver.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
