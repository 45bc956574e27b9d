"""The server side of a hop: restore the caller's context, count what was served.

A gRPC server interceptor reads the context from the call's metadata, an
ASGI middleware from the request headers; either installs it in the
contextvar for the duration of the handler, so the handler's own outgoing
calls and events carry the same correlation id and trace. When the process
traces (``transport.tracing``), each request is a SERVER span continuing the
caller's trace, and the installed context is that span's, so the handler's
own calls are its children.

Both also record every request in a ``MethodStats`` when given one: per
method its count, errors by status (a gRPC code name or ``HTTP 404``) and
latency, whoever the caller was. Only the server's own faults count as
failures (the statuses a client's breaker counts, less CANCELLED, which at
the server means the caller gave up); a caller's mistake is an error only.
Health probes and reflection are the mesh's own traffic and are not counted.

Both apply the server's faults (``core.faults.ServerFaults``) to the calls
they count: a delay is slept before the handler, an abort answers the status
without calling it (gRPC: ``context.abort``; HTTP: the code, the app never
sees the request). An injected failure counts as the server's, under its
status marked `` (injected)``, and its span carries ``mesh.fault.injected``.
With no fault for the service a call pays one attribute test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from typing import Any, cast

import grpc
from opentelemetry.trace import SpanKind

from meshctl.core.context import (
    CALLER_HEADER,
    CORRELATION_HEADER,
    TRACEPARENT_HEADER,
    CorrelationContext,
    parse_traceparent,
    use_context,
)
from meshctl.core.faults import INJECTED, Injection, ServerFaults, header_map
from meshctl.core.stats import CallStats, MethodStats
from meshctl.transport.grpc_client import DEFAULT_FAILURE_CODES
from meshctl.transport.tracing import PROCESS_TRACING, SERVICE, end_span, start_span

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SERVER_FAULTS: frozenset[str] = DEFAULT_FAILURE_CODES - {"CANCELLED"}
"""gRPC statuses that are the serving side's failure."""

MAX_CALLER = 64
"""Characters of a caller's name kept: the header is the caller's to fill."""

UNROUTED = "unrouted"
"""The method HTTP requests to no known route are counted under."""

UNCOUNTED_GRPC = ("/grpc.health.v1.Health/", "/grpc.reflection.")
"""gRPC methods (by prefix) neither counted as served nor traced nor faulted: health probes,
reflection."""

FAULT_ATTRIBUTE = "mesh.fault.injected"
"""The span attribute (true) of a call a fault was injected into."""


def _context_from_metadata(metadata: Any) -> CorrelationContext:
    return CorrelationContext.from_headers(metadata or ())  # pairs: repeated keys kept


def _continues(headers: Any) -> bool:
    """Whether the caller sent a traceparent to continue (else the context's trace is new)."""
    for name, value in headers or ():
        key = name.decode("latin-1") if isinstance(name, bytes) else name
        if key.lower() == TRACEPARENT_HEADER:
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            return parse_traceparent(text) is not None
    return False


class CorrelationServerInterceptor(grpc.aio.ServerInterceptor):
    """Runs each unary-unary handler inside the context its caller sent in metadata.

    The wrapped handler is built once per method (every call of a method gets the
    same handler from the server's generic handlers) and reads the context from
    each call's own metadata. Streaming handlers pass through unchanged: the
    platform's services are unary.

    Args:
        served: where each call is counted, under its method's short name; None
            counts nothing.
        service: the mesh service the server's spans belong to.
        faults: the server's faults, applied to every call but the mesh's own.
    """

    def __init__(
        self,
        served: MethodStats | None = None,
        *,
        service: str = "",
        faults: ServerFaults | None = None,
    ) -> None:
        self.served = served
        self.service = service
        self.faults = faults
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
        own = method.startswith(UNCOUNTED_GRPC)  # the mesh's traffic: neither counted nor traced
        stats = None
        if self.served is not None and not own:
            stats = self.served.of(method.rsplit("/", 1)[-1])
        wrapped = self._wrapped[method] = _with_context(
            handler, stats, None if own else method, self.service, self.served,
            None if own else self.faults,
        )  # fmt: skip
        return wrapped


def _with_context(
    handler: grpc.RpcMethodHandler[Any, Any],
    stats: CallStats | None,
    method: str | None,
    service: str,
    served: MethodStats | None = None,
    faults: ServerFaults | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    # The stubs describe sync handlers; on a grpc.aio server they are coroutines.
    inner = cast(Callable[[Any, Any], Awaitable[Any]], handler.unary_unary)
    name = (method or "").lstrip("/")
    rpc_service, _, rpc_method = name.rpartition("/")

    def injection(context: grpc.aio.ServicerContext[Any, Any]) -> Injection | None:
        assert faults is not None
        return faults.decide(rpc_method, header_map(context.invocation_metadata() or ()))

    async def handle(
        request: Any, context: grpc.aio.ServicerContext[Any, Any], fault: Injection | None
    ) -> Any:
        metadata = context.invocation_metadata()
        ctx = _context_from_metadata(metadata)
        tracer = PROCESS_TRACING.tracer
        if tracer is None or method is None:
            if fault is not None:
                await _inject_grpc(fault, context)
            with use_context(ctx):
                return await inner(request, context)
        attributes: dict[str, str | int | bool] = {
            "rpc.system": "grpc",
            "rpc.service": rpc_service,
            "rpc.method": rpc_method,
            SERVICE: service,
        }
        span, ctx = start_span(
            tracer, name, SpanKind.SERVER, ctx, attributes, continues=_continues(metadata)
        )
        error: BaseException | None = None
        try:
            if fault is not None:
                span.set_attribute(FAULT_ATTRIBUTE, True)
                await _inject_grpc(fault, context)
            with use_context(ctx):
                return await inner(request, context)
        except BaseException as exc:
            error = exc
            raise
        finally:
            # As for the served counts: only the server's own faults fail its span.
            code = _code_name(context.code()) or ("UNKNOWN" if error is not None else "OK")
            if isinstance(error, asyncio.CancelledError):
                code = "CANCELLED"
            span.set_attribute("rpc.grpc.status_code", code)
            end_span(span, code if code in SERVER_FAULTS else None)

    async def with_context(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        fault = injection(context) if faults is not None and faults.faults else None
        return await handle(request, context, fault)

    async def counted(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        assert stats is not None
        stats.start()
        started = time.perf_counter()
        code: str | None = None
        fault = injection(context) if faults is not None and faults.faults else None
        try:
            reply = await handle(request, context, fault)
            code = _code_name(context.code())
            return reply
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except BaseException:
            code = _code_name(context.code()) or "UNKNOWN"
            raise
        finally:
            failed = code in SERVER_FAULTS
            if fault is not None and fault.abort is not None and code == fault.abort:
                code += INJECTED
            stats.finish(time.perf_counter() - started, code, failed=failed)
            caller = _caller(context.invocation_metadata())
            if caller is not None and served is not None:
                served.called_by(caller, failed)

    return grpc.unary_unary_rpc_method_handler(
        with_context if stats is None else counted,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


async def _inject_grpc(fault: Injection, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    """Sleep the fault's delay, then abort the call with its status (raises) if it aborts."""
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.abort is not None:
        await context.abort(grpc.StatusCode[fault.abort], "fault injected")


def _caller(headers: Any) -> str | None:
    """The calling mesh client's name (``CALLER_HEADER``), if it sent one."""
    for name, value in headers or ():
        key = name.decode("latin-1") if isinstance(name, bytes) else name
        if key == CALLER_HEADER:
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            return text[:MAX_CALLER] or None
    return None


def _code_name(code: grpc.StatusCode | None) -> str | None:
    """The status a handler set, as its name; None for OK or none set."""
    return None if code is None or code is grpc.StatusCode.OK else code.name


class CorrelationMiddleware:
    """ASGI middleware: the request's context is current while the app handles it.

    The correlation id is echoed in the response so clients can quote it.

    Args:
        app: the ASGI application.
        served: where each HTTP request is counted; None counts nothing.
        routes: method name -> ``"VERB /path"``, the names requests are counted
            under (any other request counts as ``UNROUTED``).
        uncounted: paths not counted, traced or faulted at all (the health probe's).
        service: the mesh service the server's spans belong to.
        faults: the server's faults, applied to every request counted.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        served: MethodStats | None = None,
        routes: Mapping[str, str] | None = None,
        uncounted: Collection[str] = (),
        service: str = "",
        faults: ServerFaults | None = None,
    ) -> None:
        self.app = app
        self.served = served
        self.service = service
        self.faults = faults
        self._uncounted = frozenset(uncounted)
        self._routes = {tuple(route.split(" ", 1)): name for name, route in (routes or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        ctx = CorrelationContext.from_headers(headers)  # pairs: repeats kept
        echoed = (CORRELATION_HEADER.encode(), ctx.correlation_id.encode("latin-1", "replace"))
        status = 500  # what the server answers when the app fails before it starts a reply

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message.get("status", 500))
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        path = str(scope.get("path", ""))
        route = (str(scope.get("method", "")), path)
        tracer = PROCESS_TRACING.tracer
        span = None
        if tracer is not None and scope["type"] == "http" and path not in self._uncounted:
            attributes: dict[str, str | int | bool] = {
                "http.request.method": route[0],
                SERVICE: self.service,
            }
            name = route[0]
            if route in self._routes:  # the route's path, not a caller's arbitrary one
                name = attributes["http.route"] = f"{route[0]} {path}"
            span, ctx = start_span(
                tracer, name, SpanKind.SERVER, ctx, attributes, continues=_continues(headers)
            )
        stats, fault = None, None
        own = scope["type"] != "http" or path in self._uncounted
        if self.served is not None and not own:
            stats = self.served.of(self._routes.get(route, UNROUTED))
            stats.start()
        faults = self.faults
        if faults is not None and faults.faults and not own:
            fault = faults.decide(self._routes.get(route, UNROUTED), header_map(headers))
        started = time.perf_counter()
        try:
            if fault is not None:
                if span is not None:
                    span.set_attribute(FAULT_ATTRIBUTE, True)
                if fault.delay > 0:
                    await asyncio.sleep(fault.delay)
            if fault is not None and fault.abort is not None:
                await _answer(send_with_id, int(fault.abort))
            else:
                with use_context(ctx):
                    await self.app(scope, receive, send_with_id)
        finally:
            error = f"HTTP {status}" if status >= 400 else None
            if error is not None and fault is not None and fault.abort == str(status):
                error += INJECTED
            if stats is not None:
                stats.finish(time.perf_counter() - started, error, failed=status >= 500)
                caller = _caller(headers)
                if caller is not None and self.served is not None:
                    self.served.called_by(caller, status >= 500)
            if span is not None:
                span.set_attribute("http.response.status_code", status)
                end_span(span, error if status >= 500 else None)


async def _answer(send: Send, status: int) -> None:
    """An injected failure's reply: the status and a short JSON body."""
    body = b'{"detail":"fault injected"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
