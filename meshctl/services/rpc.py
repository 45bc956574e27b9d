"""Serve a servicer object's async methods for a proto service, with errors mapped to statuses.

Handlers are built from the compiled service descriptor (not the generated
``*_pb2_grpc`` helpers, which are untyped), so a service is registered with
``server.add_generic_rpc_handlers((service_handler(DESCRIPTOR, servicer),))``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from meshctl.errors import InfrastructureError, InvalidRequestError, ServiceUnavailableError

Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Context], Awaitable[Message]]


def _translating(handler: Handler) -> Handler:
    """Turn meshctl errors raised by ``handler`` into the matching status and message."""

    @functools.wraps(handler)
    async def call(request: Any, context: Context) -> Message:
        try:
            return await handler(request, context)
        except InvalidRequestError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except (ServiceUnavailableError, InfrastructureError) as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))

    return call


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def service_handler(service: ServiceDescriptor, servicer: object) -> grpc.GenericRpcHandler:
    """A handler serving every unary method of ``service`` from ``servicer``'s same-named methods.

    Raises:
        AttributeError: ``servicer`` lacks one of the service's methods.
    """
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in service.methods:
        impl: Handler = getattr(servicer, method.name)
        request_class = message_factory.GetMessageClass(method.input_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _translating(impl),
            request_deserializer=request_class.FromString,
            response_serializer=_serialize,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)
