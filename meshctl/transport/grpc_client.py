"""gRPC transport: one reused channel per instance, errors translated at the boundary.

A request is sent only on a connected (READY) channel. Connecting is bounded
by the attempt's timeout and by ``connect_timeout`` (gRPC's own connect
timeout is 20 s, which a hung instance would otherwise cost every caller),
and a failure to connect is a :class:`ConnectionFailedError`: the request
never left, so any method may be retried elsewhere. UNAVAILABLE on a sent
request means the connection went with the request in flight
(:class:`ConnectionLostError`): only a method safe to repeat is retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import (
    CallTimeoutError,
    ConnectionFailedError,
    ConnectionLostError,
    MeshError,
    RemoteCallError,
)
from meshctl.transport.methods import GrpcMethod
from meshctl.transport.tls import DRAIN_GRACE, TlsFiles, for_endpoint
from meshctl.transport.tls import channel as open_channel

DEFAULT_CONNECT_TIMEOUT = 1.0
_READY = grpc.ChannelConnectivity.READY
_TRANSIENT_FAILURE = grpc.ChannelConnectivity.TRANSIENT_FAILURE
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_SERVING = health_pb2.HealthCheckResponse.SERVING

# Status codes that say the endpoint is in trouble; the rest are the caller's problem.
# CANCELLED reaches a client only from the other side (its own cancellation raises
# asyncio.CancelledError): a server that shuts down cancels the calls it holds.
DEFAULT_FAILURE_CODES: frozenset[str] = frozenset(
    {
        "UNAVAILABLE",
        "CANCELLED",
        "DEADLINE_EXCEEDED",
        "INTERNAL",
        "UNKNOWN",
        "RESOURCE_EXHAUSTED",
        "DATA_LOSS",
    }
)
_LOST = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)

_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 0),
    # Fail fast on a dead endpoint so the breaker and retry logic act quickly.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.enable_retries", 0),
    # Channels otherwise share connections by address process-wide: a restarted
    # instance's new channel would inherit the dead one's failure and backoff.
    ("grpc.use_local_subchannel_pool", 1),
)


def _channel_options(connect_timeout: float) -> tuple[tuple[str, Any], ...]:
    # gRPC core takes its minimum connect timeout from this option: without it a
    # handshake that never completes holds the channel in CONNECTING for 20 s.
    return (*_CHANNEL_OPTIONS, ("grpc.min_reconnect_backoff_ms", int(connect_timeout * 1000)))


@dataclass(slots=True)
class GrpcReply:
    message: Message
    initial_metadata: dict[str, str]
    trailing_metadata: dict[str, str]


_NEVER_SENT = "failed to connect to all addresses"
"""How gRPC core starts the details of a call it could not send on any connection."""


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
    if code == grpc.StatusCode.UNAVAILABLE and details.startswith(_NEVER_SENT):
        # The channel dropped between our READY check and the send, and could not
        # reconnect: the request never left, so it is safe to send elsewhere.
        err: MeshError = ConnectionFailedError(address, details)
    elif code in _LOST:
        err = ConnectionLostError(address, details)
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
    """Unary calls over grpc.aio channels kept per instance.

    A channel belongs to one instance id, not to an address: an instance
    restarted on the same port is a new instance and gets a new channel,
    not one still backing off from its predecessor's death.

    An instance that speaks TLS is dialled with ``tls``; once its files are
    rotated, new calls go on a new channel and the old one drains.

    Args:
        failure_codes: status codes that trip breakers.
        connect_timeout: seconds a connection may take to be set up.
        tls: this process's certificate for instances that serve mTLS.
    """

    def __init__(
        self,
        *,
        failure_codes: frozenset[str] = DEFAULT_FAILURE_CODES,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        tls: TlsFiles | None = None,
    ) -> None:
        if not connect_timeout > 0:
            raise ValueError(f"connect_timeout must be > 0 seconds, not {connect_timeout!r}")
        self.failure_codes = failure_codes
        self.connect_timeout = connect_timeout
        self._options = _channel_options(connect_timeout)
        self.tls = tls
        self._channels: dict[str, tuple[int, grpc.aio.Channel]] = {}
        self._callables: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}
        self._draining: dict[asyncio.Task[None], grpc.aio.Channel] = {}

    def channel(self, endpoint: ServiceEndpoint) -> grpc.aio.Channel:
        tls = for_endpoint(endpoint, self.tls)
        generation = tls.current().generation if tls is not None else 0
        held = self._channels.get(endpoint.instance_id)
        if held is not None and held[0] == generation:
            return held[1]
        if held is not None:  # the certificate was rotated: let the old channel's calls finish
            self._drop_callables(endpoint.instance_id)
            task = asyncio.get_running_loop().create_task(held[1].close(grace=DRAIN_GRACE))
            self._draining[task] = held[1]
            task.add_done_callback(lambda done: self._draining.pop(done, None))
        channel = open_channel(endpoint.address, tls, self._options)
        self._channels[endpoint.instance_id] = (generation, channel)
        return channel

    def _drop_callables(self, instance_id: str) -> None:
        for key in [k for k in self._callables if k[0] == instance_id]:
            del self._callables[key]

    def _callable(
        self, endpoint: ServiceEndpoint, method: GrpcMethod
    ) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        key = (endpoint.instance_id, method.path)
        stub = self._callables.get(key)
        if stub is None:
            stub = self._callables[key] = self.channel(endpoint).unary_unary(
                method.path,
                request_serializer=method.request_class.SerializeToString,
                response_deserializer=method.response_class.FromString,
            )
        return stub

    def connected(self, endpoint: ServiceEndpoint) -> bool:
        """Whether the instance's channel has a connection up now (no I/O)."""
        return self.channel(endpoint).get_state() is _READY

    async def connect(self, endpoint: ServiceEndpoint, timeout: float) -> None:
        """Wait until the instance's channel is connected, for ``connect_timeout`` at most.

        Raises:
            ConnectionFailedError: refused, or not connected in time (the
                channel fails fast while it backs off after a failure).
        """
        channel = self.channel(endpoint)
        state = channel.get_state(try_to_connect=True)
        limit = min(timeout, self.connect_timeout)
        try:
            async with asyncio.timeout(limit):
                while state is not _READY:
                    if state is _TRANSIENT_FAILURE:
                        raise ConnectionFailedError(endpoint.address, "connection failed")
                    await channel.wait_for_state_change(state)
                    state = channel.get_state(try_to_connect=True)
        except TimeoutError:
            detail = f"no connection within {limit:.3g}s"
            raise ConnectionFailedError(endpoint.address, detail) from None

    async def call(
        self,
        endpoint: ServiceEndpoint,
        method: GrpcMethod,
        message: Message,
        *,
        timeout: float,
        metadata: Mapping[str, str],
        want_metadata: bool = False,
        connect_within: float | None = None,
    ) -> GrpcReply:
        """Send one request once connected; raises a MeshError for every failure.

        Args:
            timeout: seconds for the request once connected.
            connect_within: seconds left for connecting and the request
                together (the call's deadline); default ``timeout``.
        """
        if not self.connected(endpoint):
            within = timeout if connect_within is None else connect_within
            loop = asyncio.get_running_loop()
            started = loop.time()
            await self.connect(endpoint, within)
            timeout = min(timeout, max(within - (loop.time() - started), 0.001))
        stub = self._callable(endpoint, method)
        call = stub(message, timeout=timeout, metadata=tuple(metadata.items()))
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

    async def healthy(self, endpoint: ServiceEndpoint, timeout: float) -> bool:
        """Whether the instance answers ``grpc.health.v1`` Check with SERVING within ``timeout``.

        The check waits for the connection (up to ``timeout``), so it tells a
        restarted instance from a dead one; it never raises.
        """
        check = self.channel(endpoint).unary_unary(  # probes are rare: no stub kept
            _HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        request = health_pb2.HealthCheckRequest(service=endpoint.metadata.get("health_service", ""))
        try:
            reply = await check(request, timeout=timeout, wait_for_ready=True)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == _SERVING)

    async def forget(self, instance_id: str) -> None:
        """Close the channel of an instance that left the registry."""
        held = self._channels.pop(instance_id, None)
        self._drop_callables(instance_id)
        if held is not None:
            await held[1].close()

    async def aclose(self) -> None:
        for instance_id in list(self._channels):
            await self.forget(instance_id)
        for task, channel in list(self._draining.items()):
            task.cancel()
            await channel.close()
