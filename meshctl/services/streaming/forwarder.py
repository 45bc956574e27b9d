"""How streaming hands frames to analytics: through the mesh, or straight to one address."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any, Protocol

from meshctl.core.context import ensure_context
from meshctl.proto.its.v1 import analytics_pb2 as apb
from meshctl.proto.its.v1 import common_pb2 as pb
from meshctl.services.base import ServiceSettings
from meshctl.transport.tls import TlsFiles, channel

PROCESS_DETECTIONS = "/its.v1.AnalyticsService/ProcessDetections"


class AnalyticsForwarder(Protocol):
    """Sends one frame to analytics; raises on any failure (the frame then stays queued)."""

    async def __call__(
        self, request: pb.ProcessDetectionsRequest, *, timeout: float
    ) -> apb.AnalysisResult: ...


class MeshForwarder:
    """Calls analytics through the mesh client: discovery, balancing, breakers, retries.

    The mesh is imported and connected on first use, so building streaming needs no Redis.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def _mesh(self) -> Any:
        if self._client is None:
            from meshctl.mesh import open_mesh

            client = open_mesh(self.settings, name="streaming", events=False)
            self._client = await self._stack.enter_async_context(client)
        return self._client

    async def __call__(
        self, request: pb.ProcessDetectionsRequest, *, timeout: float
    ) -> apb.AnalysisResult:
        mesh = await self._mesh()
        reply = await mesh.call_service(
            "analytics",
            "ProcessDetections",
            request,
            timeout=timeout,
            key=request.frame.camera_id,
            as_message=True,
        )
        if not isinstance(reply, apb.AnalysisResult):
            raise TypeError(f"analytics answered with {type(reply).__name__}")
        return reply

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._client = None


class DirectForwarder:
    """Calls one analytics instance at ``address`` (``host:port``, mTLS with ``tls``),
    passing the context on."""

    def __init__(self, address: str, tls: TlsFiles | None = None) -> None:
        self.channel = channel(address, tls)
        self._call = self.channel.unary_unary(
            PROCESS_DETECTIONS,
            request_serializer=pb.ProcessDetectionsRequest.SerializeToString,
            response_deserializer=apb.AnalysisResult.FromString,
        )

    async def __call__(
        self, request: pb.ProcessDetectionsRequest, *, timeout: float
    ) -> apb.AnalysisResult:
        metadata = tuple(ensure_context().child().to_headers().items())
        reply: apb.AnalysisResult = await self._call(request, timeout=timeout, metadata=metadata)
        return reply

    async def aclose(self) -> None:
        await self.channel.close()
