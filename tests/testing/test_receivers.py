"""WebhookReceiver and AsgiServer: real HTTP on loopback."""

from typing import Any

import httpx

from meshctl.embedded import sink
from meshctl.testing import AsgiServer, ReceivedRequest, WebhookReceiver


def test_the_receiver_lives_in_shipped_code_and_is_re_exported() -> None:
    assert WebhookReceiver is sink.WebhookReceiver and ReceivedRequest is sink.ReceivedRequest


async def test_records_requests_and_fails_when_told() -> None:
    seen: list[ReceivedRequest] = []
    async with WebhookReceiver(on_request=seen.append) as hook, httpx.AsyncClient() as client:
        ok = await client.post(f"{hook.url}/a", json={"n": 1}, headers={"x-correlation-id": "c"})
        hook.status = 503
        failed = await client.post(f"{hook.url}/b", content=b"not json")
        assert (ok.status_code, failed.status_code) == (200, 503)
        first, second = await hook.wait_for(2)
    assert (first.method, first.path, first.body, first.status) == ("POST", "/a", {"n": 1}, 200)
    assert first.headers["x-correlation-id"] == "c"
    assert (second.body, second.status) == ("not json", 503)
    assert hook.accepted == [first] and seen == hook.requests
    assert first.to_dict()["path"] == "/a"


async def test_asgi_server_serves_any_app_on_a_free_port() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    async with AsgiServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        assert server.port != 0
        reply = await client.get("/teapot")
    assert (reply.status_code, reply.text) == (418, "/teapot")
