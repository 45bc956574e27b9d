"""meshctl's error tree.

Adapters translate grpc, httpx, redis and aiokafka errors into these at the
boundary, so callers handle one family. Classification is by attribute, not
by lists of types: ``retriable`` (the request never reached the service, so
trying another endpoint is safe whatever the method), ``retriable_if_idempotent``
(the request may have run: try again only a method that is safe to repeat),
``trips_breaker`` (counts as a failure for a circuit breaker) and
``exit_code`` (what the CLI exits with).

    MeshError
    ├── InvalidRequestError          bad input from the caller (exit 2)
    │   ├── UnknownServiceError
    │   └── UnknownMethodError
    ├── ServiceUnavailableError      retriable, trips breakers
    │   ├── NoEndpointsError         trips no breaker
    │   │   └── NoHealthyEndpointsError
    │   ├── CircuitBreakerOpenError  trips no breaker
    │   ├── ConnectionFailedError    never connected: the request was not sent
    │   └── ConnectionLostError      lost in flight: retried only if idempotent
    ├── CallTimeoutError             trips breakers, retried only if idempotent
    ├── RemoteCallError              the callee answered with an error status
    ├── InfrastructureError          Redis or Kafka unreachable (exit 3)
    │   ├── RegistryUnavailableError
    │   └── BrokerUnavailableError
    └── SpoolFullError               the event spool has no room left
"""

from __future__ import annotations


class MeshError(Exception):
    """Root of every error meshctl raises on purpose."""

    retriable: bool = False
    retriable_if_idempotent: bool = False
    trips_breaker: bool = True
    exit_code: int = 1


class InvalidRequestError(MeshError):
    """The caller's request is wrong: it never trips a breaker nor is retried."""

    trips_breaker = False
    exit_code = 2


class UnknownServiceError(InvalidRequestError):
    """The service name is not known to the registry or to meshctl."""


class UnknownMethodError(InvalidRequestError):
    """The service has no such method."""


class ServiceUnavailableError(MeshError):
    """No answer could be had from the service; another endpoint may do."""

    retriable = True


class NoEndpointsError(ServiceUnavailableError):
    """Discovery found no instance of the service.

    Not a failure of any endpoint (the registry may be empty for a moment
    after a restart), so it never trips a breaker.
    """

    trips_breaker = False

    def __init__(self, service: str, message: str | None = None) -> None:
        super().__init__(message or f"No endpoints found for service {service}")
        self.service = service


class NoHealthyEndpointsError(NoEndpointsError):
    """Instances exist but none is eligible (unhealthy or breaker open)."""

    def __init__(self, service: str, message: str | None = None) -> None:
        super().__init__(service, message or f"No healthy endpoints for service {service}")


class CircuitBreakerOpenError(ServiceUnavailableError):
    """A circuit breaker rejected the call without trying it."""

    trips_breaker = False

    def __init__(self, name: str, retry_after: float | None = None) -> None:
        super().__init__(f"Circuit breaker open for {name}")
        self.name = name
        self.retry_after = retry_after


class ConnectionFailedError(ServiceUnavailableError):
    """The endpoint could not be reached at all."""

    def __init__(self, address: str, detail: str = "") -> None:
        tail = f": {detail}" if detail else ""
        super().__init__(f"Channel connectivity failure to {address}{tail}")
        self.address = address


class ConnectionLostError(ServiceUnavailableError):
    """The connection failed with the request sent: the callee may have acted on it."""

    retriable = False
    retriable_if_idempotent = True

    def __init__(self, address: str, detail: str = "") -> None:
        tail = f": {detail}" if detail else ""
        super().__init__(f"Connection to {address} lost during the call{tail}")
        self.address = address


class CallTimeoutError(MeshError):
    """The call did not finish in time; the callee may still have acted on it."""

    retriable_if_idempotent = True

    def __init__(self, target: str, timeout: float) -> None:
        super().__init__(f"Call to {target} timed out after {timeout:.3g}s")
        self.target = target
        self.timeout = timeout


class RemoteCallError(MeshError):
    """The callee answered with an error status (gRPC code name or HTTP status)."""

    def __init__(
        self,
        target: str,
        status: str,
        detail: str = "",
        *,
        trips_breaker: bool = True,
        caller_error: bool = False,
    ) -> None:
        super().__init__(f"{target} failed with {status}" + (f": {detail}" if detail else ""))
        self.target = target
        self.status = status
        self.detail = detail
        self.trips_breaker = trips_breaker
        # The callee refused the request as malformed: the CLI reports bad input.
        if caller_error:
            self.exit_code = 2


class InfrastructureError(MeshError):
    """A piece of infrastructure (Redis, Kafka) cannot be reached."""

    trips_breaker = False
    exit_code = 3


class RegistryUnavailableError(InfrastructureError):
    """The Redis registry cannot be reached."""


class BrokerUnavailableError(InfrastructureError):
    """The Kafka broker cannot be reached."""


class SpoolFullError(MeshError):
    """The broker is away and the local event spool is full: the event was not accepted."""

    trips_breaker = False
