"""How one attempt goes out: method resolution, the attempt's timeout, gRPC or HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.core.retry import IDEMPOTENT_VERBS, RetryPolicy
from meshctl.errors import InvalidRequestError
from meshctl.mesh.call import Call
from meshctl.transport.codec import to_message
from meshctl.transport.grpc_client import DEFAULT_CONNECT_TIMEOUT, GrpcTransport
from meshctl.transport.http_client import HttpTransport, route_for
from meshctl.transport.methods import MethodResolver
from meshctl.transport.tls import TlsFiles

Reply = tuple[dict[str, Any] | None, Message | None, dict[str, str]]


class AttemptSender:
    """Sends attempts over the client's transports and health-checks endpoints.

    Args:
        retry: the policy that sizes each attempt's share of the deadline.
        connect_timeout: seconds a connection may take to be set up.
        spare: whether another instance could take a call whose attempt cannot connect.
        tls: this process's certificate, for instances that serve mTLS.
    """

    def __init__(
        self,
        retry: RetryPolicy,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        spare: Callable[[Call], bool] = lambda _call: False,
        tls: TlsFiles | None = None,
    ):
        self.retry = retry
        self.spare = spare
        self.grpc = GrpcTransport(connect_timeout=connect_timeout, tls=tls)
        self.http = HttpTransport(connect_timeout=connect_timeout, tls=tls)
        self.methods = MethodResolver(tls)

    async def send(self, endpoint: ServiceEndpoint, call: Call, remaining: float) -> Reply:
        """One attempt on ``endpoint`` with ``remaining`` seconds of the deadline left.

        Learns whether the method is safe to repeat (``call.idempotent``) on the way.
        Returns the decoded body (HTTP), the reply message (gRPC) and the reply metadata.
        """
        method, request = call.method, call.request
        if endpoint.protocol == "http":
            if isinstance(request, Message):
                raise InvalidRequestError(f"{endpoint.service_name} is HTTP: send a dict")
            call.idempotent = route_for(endpoint, method)[0] in IDEMPOTENT_VERBS
            body = request.model_dump(mode="json") if hasattr(request, "model_dump") else request
            reply = await self.http.call(
                endpoint,
                method,
                body,
                timeout=self._attempt_timeout(remaining, call),
                headers=call.headers,
            )
            return reply.body, None, reply.headers if call.want_metadata else {}
        known = self.methods.resolved(endpoint.service_name, method)
        if known is not None:  # a hedge asked while this attempt still connects needs it
            call.idempotent = known.idempotent
        if not self.grpc.connected(endpoint):
            # Before resolving: reflection would wait out its own 5 s on a dead instance.
            # Connecting sends nothing: with a spare instance it gets a repeatable attempt's
            # share of the deadline, so one that accepts and never answers (a paused
            # process) leaves the spare time to answer instead of taking the whole call.
            within = remaining
            if self.spare(call):
                within = self.retry.attempt_timeout_for(remaining, call.sent, idempotent=True)
            await self.grpc.connect(endpoint, within)
        grpc_method = await self.methods.resolve(endpoint.service_name, method, endpoint)
        call.idempotent = grpc_method.idempotent
        message = to_message(request, grpc_method.request_class, grpc_method.path)
        grpc_reply = await self.grpc.call(
            endpoint,
            grpc_method,
            message,
            timeout=self._attempt_timeout(remaining, call),
            metadata=call.headers,
            want_metadata=call.want_metadata,
            connect_within=remaining,  # connecting is not the request: the deadline bounds it
        )
        meta = {**grpc_reply.initial_metadata, **grpc_reply.trailing_metadata}
        return None, grpc_reply.message, meta

    def _attempt_timeout(self, remaining: float, call: Call) -> float:
        timeout = self.retry.attempt_timeout_for(remaining, call.sent, call.idempotent)
        return timeout if timeout > 0.001 else 0.001

    async def healthy(self, endpoint: ServiceEndpoint, timeout: float) -> bool:
        """The endpoint's own health check (gRPC health or HTTP health_path); never raises."""
        transport = self.http if endpoint.protocol == "http" else self.grpc
        return await transport.healthy(endpoint, timeout)

    async def aclose(self) -> None:
        await self.grpc.aclose()
        await self.http.aclose()
