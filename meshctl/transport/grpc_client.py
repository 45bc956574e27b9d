"""gRPC transport: one reused channel per endpoint, errors translated at the boundary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import (
    CallTimeoutError,
    ConnectionFailedError,
    MeshError,
    RemoteCallError,
)
from meshctl.transport.methods import GrpcMethod

# Status codes that say the endpoint is in trouble; the rest are the caller's problem.
DEFAULT_FAILURE_CODES: frozenset[str] = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "UNKNOWN", "RESOURCE_EXHAUSTED", "DATA_LOSS"}
)

_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 0),
    # Fail fast on a dead endpoint so the breaker and retry logic act quickly.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.enable_retries", 0),
)


@dataclass(slots=True)
class GrpcReply:
    message: Message
    initial_metadata: dict[str, str]
    trailing_metadata: dict[str, str]


def translate_rpc_error(
    exc: grpc.aio.AioRpcError,
    target: str,
    address: str,
    timeout: float,
    failure_codes: frozenset[str] = DEFAULT_FAILURE_CODES,
) -> MeshError:
    """One meshctl error for a gRPC status; whether it trips a breaker follows failure_codes."""
    code = exc.code()
    details = exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        err: MeshError = ConnectionFailedError(address, details)
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        err = CallTimeoutError(target, timeout)
    else:
        err = RemoteCallError(
            target,
            code.name,
            details,
            trips_breaker=code.name in failure_codes,
            caller_error=code == grpc.StatusCode.INVALID_ARGUMENT,
        )
    err.trips_breaker = code.name in failure_codes
    return err


def _metadata_dict(items: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in items or ():
        out[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return out


class GrpcTransport:
    """Unary calls over grpc.aio channels kept per endpoint address."""

    def __init__(self, *, failure_codes: frozenset[str] = DEFAULT_FAILURE_CODES) -> None:
        self.failure_codes = failure_codes
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._callables: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}

    def channel(self, endpoint: ServiceEndpoint) -> grpc.aio.Channel:
        address = endpoint.address
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.aio.insecure_channel(
                address, options=_CHANNEL_OPTIONS
            )
        return channel

    def _callable(
        self, endpoint: ServiceEndpoint, method: GrpcMethod
    ) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        key = (endpoint.address, method.path)
        stub = self._callables.get(key)
        if stub is None:
            stub = self._callables[key] = self.channel(endpoint).unary_unary(
                method.path,
                request_serializer=method.request_class.SerializeToString,
                response_deserializer=method.response_class.FromString,
            )
        return stub

    async def call(
        self,
        endpoint: ServiceEndpoint,
        method: GrpcMethod,
        message: Message,
        *,
        timeout: float,
        metadata: Mapping[str, str],
        want_metadata: bool = False,
    ) -> GrpcReply:
        """Send one request; raises a MeshError for every failure."""
        call = self._callable(endpoint, method)(
            message, timeout=timeout, metadata=tuple(metadata.items())
        )
        try:
            reply = await call
            initial = _metadata_dict(await call.initial_metadata()) if want_metadata else {}
            trailing = _metadata_dict(await call.trailing_metadata()) if want_metadata else {}
        except grpc.aio.AioRpcError as exc:
            target = f"{endpoint.service_name}/{method.name}"
            raise translate_rpc_error(
                exc, target, endpoint.address, timeout, self.failure_codes
            ) from None
        return GrpcReply(reply, initial, trailing)

    async def forget(self, address: str) -> None:
        """Close the channel of an endpoint that left the registry."""
        channel = self._channels.pop(address, None)
        for key in [k for k in self._callables if k[0] == address]:
            del self._callables[key]
        if channel is not None:
            await channel.close()

    async def aclose(self) -> None:
        for address in list(self._channels):
            await self.forget(address)
