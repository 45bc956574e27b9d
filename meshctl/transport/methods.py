"""Find a gRPC method's path and message classes from compiled descriptors or reflection.

Methods may be named ``Method``, ``Service/Method`` or ``pkg.Service/Method``.
A bare method name is looked up among the services the endpoint exposes (its
``grpc_services`` metadata, else the server's reflection list); services whose
descriptors are not compiled into this process are fetched through server
reflection, so any gRPC server that exposes reflection can be called.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import pkgutil
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.core.retry import idempotent_method
from meshctl.errors import ConnectionFailedError, UnknownMethodError
from meshctl.transport.tls import TlsFiles, blocking_channel, for_endpoint

# Infrastructure services every server exposes; never the target of a bare method name.
_PLUMBING = ("grpc.health.v1.Health", "grpc.reflection.")


@dataclass(frozen=True, slots=True)
class GrpcMethod:
    """A resolved unary method: its wire path and request/response classes."""

    path: str
    service: str
    name: str
    request_class: type[Message]
    response_class: type[Message]
    client_streaming: bool = False
    server_streaming: bool = False
    idempotent: bool = False  # safe to repeat (core.retry's rule)

    @classmethod
    def from_descriptor(cls, method: MethodDescriptor) -> GrpcMethod:
        options = method.GetOptions()
        declared = (
            options.idempotency_level != options.IDEMPOTENCY_UNKNOWN
            if options.HasField("idempotency_level")
            else None
        )
        return cls(
            path=f"/{method.containing_service.full_name}/{method.name}",
            service=method.containing_service.full_name,
            name=method.name,
            request_class=message_factory.GetMessageClass(method.input_type),
            response_class=message_factory.GetMessageClass(method.output_type),
            client_streaming=method.client_streaming,
            server_streaming=method.server_streaming,
            idempotent=idempotent_method(method.name, declared),
        )


def split_method(spec: str) -> tuple[str | None, str]:
    """``(service or None, method)`` from the accepted spellings."""
    spec = spec.strip().lstrip("/")
    if "/" in spec:
        service, _, method = spec.rpartition("/")
        return service, method
    return None, spec


@functools.cache
def _compiled_pool() -> descriptor_pool.DescriptorPool:
    """The default pool, with every module generated from protos/ imported into it."""
    import meshctl.proto

    for info in pkgutil.walk_packages(meshctl.proto.__path__, "meshctl.proto."):
        if info.name.endswith("_pb2"):
            importlib.import_module(info.name)
    return descriptor_pool.Default()


class _Reflection:
    """Server reflection over a blocking channel, run in a worker thread."""

    def __init__(self, address: str, tls: TlsFiles | None) -> None:
        self.address = address
        self.tls = tls

    def _fetch(self) -> tuple[list[str], descriptor_pool.DescriptorPool]:
        channel = blocking_channel(self.address, self.tls)
        try:
            grpc.channel_ready_future(channel).result(timeout=5)
            db = ProtoReflectionDescriptorDatabase(channel)
            pool = descriptor_pool.DescriptorPool(db)
            names = list(db.get_services())
            for name in names:  # load now: the pool reads lazily through the channel
                pool.FindServiceByName(name)
            return names, pool
        except grpc.FutureTimeoutError:
            raise ConnectionFailedError(self.address, "no answer to server reflection") from None
        except grpc.RpcError as exc:
            raise UnknownMethodError(
                f"{self.address} does not expose server reflection ({exc.code().name}); "
                "name the method as package.Service/Method of a compiled service"
            ) from None
        finally:
            channel.close()

    async def fetch(self) -> tuple[list[str], descriptor_pool.DescriptorPool]:
        return await asyncio.to_thread(self._fetch)


class MethodResolver:
    """Resolves and caches methods per (service, method spec)."""

    def __init__(self, tls: TlsFiles | None = None) -> None:
        self.tls = tls
        self._cache: dict[tuple[str, str], GrpcMethod] = {}
        self._reflected: dict[str, tuple[list[str], descriptor_pool.DescriptorPool]] = {}

    async def resolve(self, service: str, spec: str, endpoint: ServiceEndpoint) -> GrpcMethod:
        key = (service, spec)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = await self._resolve(service, spec, endpoint)
        return cached

    def resolved(self, service: str, spec: str) -> GrpcMethod | None:
        """The method if it was resolved before (no I/O)."""
        return self._cache.get((service, spec))

    def reflected(self, service: str) -> list[str]:
        """The gRPC services learnt from ``service``'s reflection ([] while none was needed)."""
        found = self._reflected.get(service)
        return list(found[0]) if found else []

    async def services(self, service: str, endpoint: ServiceEndpoint) -> list[ServiceDescriptor]:
        """Descriptors of the application services ``endpoint`` exposes."""
        advertised = [s for s in endpoint.metadata.get("grpc_services", "").split(",") if s]
        pool = _compiled_pool()
        found: list[ServiceDescriptor] = []
        if advertised and all(_in_pool(pool, s) for s in advertised):
            found = [pool.FindServiceByName(s) for s in advertised]
        else:
            names, rpool = await self._reflect(service, endpoint)
            for name in names:
                if not name.startswith(_PLUMBING):
                    found.append(rpool.FindServiceByName(name))
        return found

    async def _reflect(
        self, service: str, endpoint: ServiceEndpoint
    ) -> tuple[list[str], descriptor_pool.DescriptorPool]:
        if service not in self._reflected:
            self._reflected[service] = await _Reflection(
                endpoint.address, for_endpoint(endpoint, self.tls)
            ).fetch()
        return self._reflected[service]

    async def _resolve(self, service: str, spec: str, endpoint: ServiceEndpoint) -> GrpcMethod:
        wanted_service, name = split_method(spec)
        if not name:
            raise UnknownMethodError(f"no method named in {spec!r}")
        candidates = await self.services(service, endpoint)
        if wanted_service:
            candidates = [
                s for s in candidates if wanted_service in (s.full_name, s.name)
            ] or self._fully_qualified(wanted_service)
        matches = [s.methods_by_name[name] for s in candidates if name in s.methods_by_name]
        if not matches:
            known = sorted({m for s in candidates for m in s.methods_by_name})
            listing = ", ".join(known) if known else "none"
            raise UnknownMethodError(f"{service} has no method {name} (methods: {listing})")
        if len(matches) > 1:
            names = ", ".join(f"{m.containing_service.full_name}/{name}" for m in matches)
            raise UnknownMethodError(f"{name} is ambiguous on {service}; name one of {names}")
        method = GrpcMethod.from_descriptor(matches[0])
        if method.client_streaming or method.server_streaming:
            raise UnknownMethodError(
                f"{method.path} is a streaming method; only unary calls go through the mesh"
            )
        return method

    def _fully_qualified(self, name: str) -> list[ServiceDescriptor]:
        pool = _compiled_pool()
        return [pool.FindServiceByName(name)] if _in_pool(pool, name) else []


def _in_pool(pool: descriptor_pool.DescriptorPool, name: str) -> bool:
    try:
        pool.FindServiceByName(name)
    except KeyError:
        return False
    return True
