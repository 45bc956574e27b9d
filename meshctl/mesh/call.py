"""What a call carries through its attempts, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message

from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.core.context import CorrelationContext
from meshctl.core.endpoint import ServiceEndpoint
from meshctl.transport.codec import to_dict

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from meshctl.core.routing import Decision


@dataclass(slots=True)
class CallResult:
    """Everything known about one finished call (``meshctl call -v`` prints it).

    ``data`` is decoded from the protobuf ``message`` on first use: a caller
    that wants the message (or nothing) does not pay for the dict.
    """

    service: str
    method: str
    message: Message | None
    endpoint: ServiceEndpoint
    latency: float
    attempts: int
    correlation_id: str
    trace_id: str
    metadata: dict[str, str] = field(default_factory=dict)
    decoded: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def data(self) -> dict[str, Any]:
        """The reply as a dict with proto field names."""
        if self.decoded is None:
            self.decoded = to_dict(self.message) if self.message is not None else {}
        return self.decoded


@dataclass(slots=True)
class Call:
    """One call's inputs and what its attempts have done so far."""

    service: str
    method: str
    request: object
    ctx: CorrelationContext
    key: str | None
    headers: dict[str, str]
    strategy: LoadBalancingStrategy | None
    pinned: ServiceEndpoint | None  # no balancing, no retry elsewhere
    want_metadata: bool
    started: float
    timeout: float
    deadline: float
    tried: set[str] = field(default_factory=set)
    failed_on: set[str] = field(default_factory=set)  # endpoints whose attempt tripped
    attempts: int = 0  # attempts handed to a transport
    sent: int = 0  # attempts that may have reached the service
    idempotent: bool = False  # learnt when the method is resolved
    span: Span | None = None  # the call's client span, when the process traces
    route: Decision | None = None  # the subset a route table chose, if one applies

    @property
    def target(self) -> str:
        return f"{self.service}/{self.method}"
