"""Restore the caller's correlation context on the server side of a hop.

A gRPC server interceptor reads it from the call's metadata, an ASGI
middleware from the request headers; either installs it in the contextvar
for the duration of the handler, so the handler's own outgoing calls and
events carry the same correlation id and trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, cast

import grpc

from meshctl.core.context import CORRELATION_HEADER, CorrelationContext, use_context

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _context_from_metadata(metadata: Any) -> CorrelationContext:
    headers: dict[str, str | bytes] = {key: value for key, value in metadata or ()}
    return CorrelationContext.from_headers(headers)


class CorrelationServerInterceptor(grpc.aio.ServerInterceptor):
    """Runs each unary-unary handler inside the context its caller sent in metadata.

    The wrapped handler is built once per method (every call of a method gets the
    same handler from the server's generic handlers) and reads the context from
    each call's own metadata. Streaming handlers pass through unchanged: the
    platform's services are unary.
    """

    def __init__(self) -> None:
        # Only methods the server has: names of unknown ones come from callers.
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        wrapped = self._wrapped[method] = _with_context(handler)
        return wrapped


def _with_context(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    # The stubs describe sync handlers; on a grpc.aio server they are coroutines.
    inner = cast(Callable[[Any, Any], Awaitable[Any]], handler.unary_unary)

    async def with_context(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        with use_context(_context_from_metadata(context.invocation_metadata())):
            return await inner(request, context)

    return grpc.unary_unary_rpc_method_handler(
        with_context,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class CorrelationMiddleware:
    """ASGI middleware: the request's context is current while the app handles it.

    The correlation id is echoed in the response so clients can quote it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: Mapping[str, bytes] = {
            name.decode("latin-1"): value for name, value in scope.get("headers", ())
        }
        ctx = CorrelationContext.from_headers(headers)
        echoed = (CORRELATION_HEADER.encode(), ctx.correlation_id.encode("latin-1", "replace"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        with use_context(ctx):
            await self.app(scope, receive, send_with_id)
