"""ServiceMeshClient: the facade services use to call each other and publish events.

A call goes: correlation context (a child span of the caller's) → endpoints
from the cached registry view → balancer pick, skipping endpoints whose
breaker is open → endpoint breaker → gRPC or HTTP with the attempt's share
of the deadline (connection set-up included) → statistics. What is retried
follows ``core.retry``: a request that never left (no connection, a breaker
rejecting one endpoint) goes to another endpoint at once; one that may have
run (a timeout, a connection lost in flight) is repeated only for a method
safe to repeat, after a backoff and within the retry budget. The service's
breaker judges the call's final outcome by ``core.verdict``'s rule, so
failures confined to one endpoint while its siblings answer never open it.
An endpoint breaker that opens is health-checked when its recovery time
comes (``mesh.recovery``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from opentelemetry.trace import SpanKind

from meshctl.core.balancer import LoadBalancer, LoadBalancingStrategy
from meshctl.core.breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState
from meshctl.core.context import CALLER_HEADER, CorrelationContext, current_context
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.retry import Retry, RetryBudget, RetryPolicy
from meshctl.core.routing import SubsetCache
from meshctl.core.routing import route as route_instances
from meshctl.core.stats import CallStats
from meshctl.core.verdict import SiblingLedger
from meshctl.errors import (
    CallTimeoutError,
    CircuitBreakerOpenError,
    ConnectionFailedError,
    InvalidRequestError,
    MeshError,
    NoEndpointsError,
    NoHealthyEndpointsError,
)
from meshctl.events import Event, EventBus
from meshctl.mesh.breakers import BreakerBook
from meshctl.mesh.call import Call, CallResult
from meshctl.mesh.control import ControlPlane
from meshctl.mesh.hedging import HedgeDelays, race
from meshctl.mesh.recovery import RecoveryProbes
from meshctl.mesh.sender import AttemptSender
from meshctl.registry import RegistryWatcher, ServiceInstances, ServiceRegistry
from meshctl.registry.routes import RouteCache
from meshctl.registry.tasks import cancel_and_wait
from meshctl.transport.grpc_client import DEFAULT_CONNECT_TIMEOUT
from meshctl.transport.metrics import PROCESS_METRICS, client_source
from meshctl.transport.tls import TlsFiles
from meshctl.transport.tracing import (
    ATTEMPTS,
    BREAKER,
    INSTANCE,
    PROCESS_TRACING,
    SERVICE,
    end_span,
    start_span,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0  # seconds a recovery health check may take
DEADLINE_MARGIN = 0.05  # seconds past its timeout a first call is cut off


class EndpointSource(Protocol):
    """Where the client gets a service's instances (the cached registry view)."""

    async def get(self, name: str) -> Sequence[ServiceEndpoint]: ...


class ServiceMeshClient:
    """Calls services through discovery, load balancing, breakers, deadlines and retries.

    Use it as ``async with ServiceMeshClient(registry) as mesh:`` (or ``start()``
    / ``aclose()``): starting subscribes to registry changes, begins publishing
    this client's breakers and statistics for ``meshctl breakers``/``top`` and
    obeys their commands, and starts the event bus.

    Args:
        registry: the Redis service registry.
        name: this client's name in the mesh (its service's name, for a service).
        event_bus: where ``publish_event`` sends events and breaker changes.
        endpoints: a view to read instances from; default a registry watcher.
        watch: keep the watcher's views fresh through pub/sub; False for a
            one-shot client (``meshctl call``) that reads each service once.
        control: publish reports and obey commands through Redis.
        report_interval: seconds between published reports.
        strategy: the default load-balancing strategy.
        breaker_config: thresholds for every breaker this client creates.
        retry: attempts, per-attempt timeouts and backoff for retried failures.
        budget: caps retries as a share of first attempts.
        connect_timeout: seconds a connection to an instance may take to be
            set up (within the call's deadline).
        clock: monotonic seconds, for breakers and latencies.
        rng: randomness for balancing and jitter (seed it in tests).
        owns_registry: close the registry in ``aclose`` (``open_mesh`` sets it
            for the registry it opens).
    """

    def __init__(
        self,
        registry: ServiceRegistry,
        *,
        name: str = "mesh-client",
        event_bus: EventBus | None = None,
        endpoints: EndpointSource | None = None,
        watch: bool = True,
        control: bool = True,
        report_interval: float = 1.0,
        strategy: LoadBalancingStrategy = LoadBalancingStrategy.HEALTH_AWARE,
        breaker_config: CircuitBreakerConfig | None = None,
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        owns_registry: bool = False,
        zone: str | None = None,
        tls: TlsFiles | None = None,  # the certificate for instances that serve mTLS
    ) -> None:
        self.name = name
        # Sent with every call so servers can say who calls them; metadata must be ASCII.
        self._caller = name if name.isascii() and name.isprintable() else quote(name)
        self.zone = zone
        self.registry = registry
        self._owns_registry = owns_registry
        self.watcher: RegistryWatcher | None = None
        if endpoints is None:
            endpoints = self.watcher = RegistryWatcher(registry)
        self.endpoints = endpoints
        self._watch = watch
        self.events = event_bus
        self.breakers = BreakerBook(breaker_config, clock=clock)
        self.breakers.add_listener(self._on_breaker_change)
        self.retry = retry or RetryPolicy()
        self.budget = budget or RetryBudget(clock=clock)
        self.strategy = strategy
        self._balancers: dict[LoadBalancingStrategy, LoadBalancer] = {}
        self._clock = clock
        self._rng = rng or random.Random()
        self.sender = AttemptSender(
            self.retry, connect_timeout=connect_timeout, spare=self._spare, tls=tls
        )
        self.grpc, self.http, self.methods = self.sender.grpc, self.sender.http, self.sender.methods
        self.recovery = RecoveryProbes(self._probe)
        self.stats: dict[tuple[str, str], CallStats] = {}  # (service, instance_id)
        self.service_stats: dict[str, CallStats] = {}
        self.retries: dict[str, int] = {}  # attempts after a call's first, by service
        self._ledgers: dict[str, SiblingLedger] = {}
        self._warm: set[tuple[str, str]] = set()  # (service, method) pairs called before
        self._hedge_delays = HedgeDelays()
        self._seen: dict[str, Sequence[ServiceEndpoint]] = {}
        self._forced: set[str] = set()  # services whose forced mark this client obeyed
        self._background: set[asyncio.Task[Any]] = set()
        self._unlist_metrics: Callable[[], None] | None = None
        # Route tables come over the control plane, so a client without one routes nothing.
        self.routes = RouteCache(registry.redis, registry.prefix) if control else None
        self._subsets: dict[str, SubsetCache] = {}  # by service: each caches its latest view
        self.control = (
            ControlPlane(
                registry.redis,
                registry.prefix,
                name,
                self.breakers,
                self.report_stats,
                interval=report_interval,
            )
            if control
            else None
        )

    async def start(self) -> ServiceMeshClient:
        """Subscribe to registry changes, start reporting and the event bus; from now on the
        process's Prometheus metrics include this client's calls and breakers."""
        if self._unlist_metrics is None:
            source = client_source(
                self.name, self.service_stats, self.stats, self.breakers.snapshots,
                self.retries, self.watcher,
            )  # fmt: skip
            self._unlist_metrics = PROCESS_METRICS.add(source)
        if self.watcher is not None and self._watch:
            await self.watcher.start()
        if self.events is not None:
            await self.events.start()
        if self.control is not None:
            await self.control.start()
        if self.routes is not None:
            await self.routes.start()
        return self

    async def aclose(self) -> None:
        """Stop background work and close every connection this client opened."""
        if self._unlist_metrics is not None:
            self._unlist_metrics()
            self._unlist_metrics = None
        if self.routes is not None:
            await self.routes.stop()
        if self.control is not None:
            await self.control.stop()
        await self.recovery.aclose()
        for task in list(self._background):
            await cancel_and_wait(task)
        if self.watcher is not None:
            await self.watcher.stop()
        if self.events is not None:
            await self.events.stop()
        await self.sender.aclose()
        if self._owns_registry:
            await self.registry.aclose()

    async def __aenter__(self) -> ServiceMeshClient:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- public API ------------------------------------------------------------

    async def call_service(
        self,
        service_name: str,
        method: str,
        request: object = None,
        timeout: float = 30.0,
        correlation_context: CorrelationContext | None = None,
        key: str | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
        as_message: bool = False,
    ) -> Any:
        """Call ``method`` of ``service_name`` and return the reply as a dict.

        Args:
            service_name: registered service name, e.g. ``"analytics"``.
            method: ``Method``, ``Service/Method`` or an HTTP route name.
            request: a dict, a pydantic model or a protobuf message.
            timeout: seconds for the whole call, connecting and retries included.
            correlation_context: the caller's context; default the current one or a new one.
            key: stickiness key for the consistent-hash strategy (e.g. a camera id).
            metadata: extra gRPC metadata / HTTP headers.
            as_message: return the protobuf reply message instead of a dict (gRPC only).
        """
        result = await self.call(
            service_name,
            method,
            request,
            timeout=timeout,
            correlation_context=correlation_context,
            key=key,
            metadata=metadata,
        )
        return result.message if as_message and result.message is not None else result.data

    async def call(
        self,
        service_name: str,
        method: str,
        request: object = None,
        *,
        timeout: float = 30.0,
        correlation_context: CorrelationContext | None = None,
        key: str | None = None,
        metadata: Mapping[str, str] | None = None,
        strategy: LoadBalancingStrategy | None = None,
        endpoint: ServiceEndpoint | None = None,
        want_metadata: bool = False,
    ) -> CallResult:
        """Like :meth:`call_service` but returns the whole :class:`CallResult`.

        ``endpoint`` pins the call to one instance (no balancing, no retry elsewhere).
        The result's ``latency`` is the whole call's and ``attempts`` counts
        every attempt made.
        """
        if timeout <= 0:
            raise InvalidRequestError(f"timeout must be positive, not {timeout}")
        started = self._clock()
        parent = correlation_context or current_context()
        tracer = PROCESS_TRACING.tracer
        span = None
        if tracer is None:
            # A new trace's root span is already fresh: no child of it needed.
            ctx = parent.child() if parent is not None else CorrelationContext.new()
        else:
            span, ctx = start_span(
                tracer,
                f"{service_name}/{method}",
                SpanKind.CLIENT,
                parent,
                {"rpc.service": service_name, "rpc.method": method, SERVICE: self.name},
            )
        # Lower-case names, as gRPC metadata requires and route rules match them.
        given = {k.lower(): v for k, v in metadata.items()} if metadata else {}
        headers = {**given, **ctx.to_headers(), CALLER_HEADER: self._caller}
        table = self.routes.get(service_name) if self.routes is not None else None
        route = table.decide(method, headers, self.name, self._rng) if table else None
        if route is not None and route.timeout is not None:
            timeout = min(timeout, route.timeout)  # a route may shorten a call, not lengthen it
        call = Call(
            service_name,
            method,
            request,
            ctx,
            key,
            headers,
            strategy,
            endpoint,
            want_metadata,
            started,
            timeout,
            started + timeout,
            span=span,
            route=route,
        )
        if span is not None:
            return await self._traced(call, span)
        warm = (service_name, method)
        if warm in self._warm:  # every step left is bounded by the deadline on its own
            return await self._call(call)
        return await self._first_call(call)

    async def _first_call(self, call: Call) -> CallResult:
        # A first call reads the registry and resolves the method: the deadline holds them
        # too. The guard fires a little late, so that attempts time out by themselves and
        # their endpoints get the verdict.
        try:
            async with asyncio.timeout(call.timeout + DEADLINE_MARGIN):
                result = await self._call(call)
        except TimeoutError:
            raise CallTimeoutError(call.target, call.timeout) from None
        self._warm.add((call.service, call.method))
        return result

    async def _traced(self, call: Call, span: Span) -> CallResult:
        """The call inside its client span, which ends with the call's outcome."""
        error: BaseException | None = None
        try:
            if (call.service, call.method) in self._warm:
                return await self._call(call)
            return await self._first_call(call)
        except BaseException as exc:
            error = exc
            raise
        finally:
            span.set_attribute(ATTEMPTS, call.attempts)
            span.set_attribute("mesh.retries", max(0, call.attempts - 1))
            end_span(span, error)

    async def _call(self, call: Call) -> CallResult:
        service = call.service
        view = await self._endpoints(service)  # obey an operator's forced mark first
        service_breaker = self.breakers.service(service)
        if not service_breaker.allow():
            raise CircuitBreakerOpenError(service, service_breaker.retry_after())
        generation = service_breaker.generation
        try:
            result = await self._attempts(call, view)
        except MeshError as exc:
            if exc.trips_breaker and self._ledger(service).service_failure(
                call.failed_on, self._clock()
            ):
                service_breaker.record_failure(exc, generation=generation)
            else:  # no failure of the service's, or one its siblings' answers disown
                service_breaker.release(generation=generation)
            raise
        except BaseException:
            service_breaker.release(generation=generation)
            raise
        service_breaker.record_success(result.latency, generation=generation)
        return result

    # -- the attempt loop ------------------------------------------------------

    async def _attempts(self, call: Call, view: Sequence[ServiceEndpoint]) -> CallResult:
        balancer = self._balancer(call.strategy)
        self.budget.record_request()
        fresh: Sequence[ServiceEndpoint] | None = view  # retries read the view anew
        last_error: MeshError | None = None
        while True:
            try:
                if fresh is None:
                    fresh = await self._endpoints(call.service)
                endpoint = call.pinned or self._select(
                    call.service, call.key, balancer, call.tried, self._routed(call, fresh)
                )
            except (NoEndpointsError, CircuitBreakerOpenError):
                if last_error is None:
                    raise
                raise last_error from None  # no sibling left: what went wrong is the last try
            fresh = None
            call.tried.add(endpoint.instance_id)
            try:
                if self.retry.hedge and call.pinned is None and not call.attempts:
                    return await self._hedged(endpoint, balancer, call)
                return await self._attempt(endpoint, balancer, call)
            except MeshError as exc:
                if not exc.retriable:
                    call.sent += 1
                remaining = call.deadline - self._clock()
                limit = call.route.attempts if call.route is not None else None
                decision = (
                    Retry.STOP
                    if call.pinned is not None or (limit is not None and call.sent >= limit)
                    else self.retry.decide(
                        exc,
                        idempotent=call.idempotent,
                        sent=call.sent,
                        remaining=remaining,
                        budget=self.budget,
                    )
                )
                if decision is Retry.STOP:
                    if remaining <= 0 and isinstance(exc, CallTimeoutError | ConnectionFailedError):
                        raise CallTimeoutError(call.target, call.timeout) from None
                    raise
                last_error = exc
                if decision is Retry.BACKOFF:
                    delay = min(self.retry.backoff(call.sent, self._rng), remaining / 2)
                    logger.debug("retrying %s after %s (%.3fs)", call.target, exc, delay)
                    await asyncio.sleep(delay)

    def _routed(self, call: Call, view: Sequence[ServiceEndpoint]) -> Sequence[ServiceEndpoint]:
        """The instances the call may use: its route's subset, then the client's zone."""
        cache = self._subsets.get(call.service)
        if cache is None:
            cache = self._subsets[call.service] = SubsetCache()
        return route_instances(view, call.route, cache, self.zone)

    async def _endpoints(self, service: str) -> Sequence[ServiceEndpoint]:
        """The service's instances now, after acting on what changed since the last look."""
        endpoints = await self.endpoints.get(service)
        if endpoints is not self._seen.get(service):
            await self._forget_departed(service, endpoints)
            self._obey_forced_mark(service, endpoints)
        return endpoints

    def _obey_forced_mark(self, service: str, endpoints: Sequence[ServiceEndpoint]) -> None:
        """Force the service's breaker open when an operator marked it so mesh-wide.

        Acts when the mark appears, so a later command (``breakers close`` for
        this client alone) is not overridden by every refresh of the view.
        """
        if not (isinstance(endpoints, ServiceInstances) and endpoints.forced_open):
            self._forced.discard(service)
        elif service not in self._forced:
            self._forced.add(service)
            self.breakers.apply("force_open", service)

    async def pick(
        self,
        service: str,
        key: str | None = None,
        strategy: LoadBalancingStrategy | None = None,
    ) -> ServiceEndpoint:
        """The instance a call to ``service`` would go to now (no call is made).

        Raises:
            NoEndpointsError: the service has no live instance.
            CircuitBreakerOpenError: every instance's breaker is open.
        """
        return await self._pick(service, key, self._balancer(strategy), set())

    async def _pick(
        self,
        service: str,
        key: str | None,
        balancer: LoadBalancer,
        tried: set[str],
        endpoints: Sequence[ServiceEndpoint] | None = None,
    ) -> ServiceEndpoint:
        if endpoints is None:
            endpoints = await self._endpoints(service)
        return self._select(service, key, balancer, tried, endpoints)

    def _select(
        self,
        service: str,
        key: str | None,
        balancer: LoadBalancer,
        tried: set[str],
        endpoints: Sequence[ServiceEndpoint],
    ) -> ServiceEndpoint:
        if not endpoints:
            raise NoEndpointsError(service)

        def eligible(ep: ServiceEndpoint) -> bool:
            if ep.instance_id in tried:
                return False
            breaker = self.breakers.peek_endpoint(ep)
            return breaker is None or breaker.state not in _REJECTING

        try:
            return balancer.select(endpoints, key, eligible=eligible)
        except NoHealthyEndpointsError:
            if all(
                (b := self.breakers.peek_endpoint(ep)) is not None and b.state in _REJECTING
                for ep in endpoints
            ):
                raise CircuitBreakerOpenError(service) from None
            raise

    async def _hedged(
        self, endpoint: ServiceEndpoint, balancer: LoadBalancer, call: Call
    ) -> CallResult:
        """The first attempt, raced by a second one on a sibling once it is slower than p95."""
        delay = self._hedge_delays.delay(call.service, self.service_stats.get(call.service))
        first = self._attempt(endpoint, balancer, call)
        if delay is None or delay >= call.deadline - self._clock():
            return await first

        def backup() -> Coroutine[Any, Any, CallResult] | None:
            # Known by now: the first attempt learnt it before its first await (a method
            # resolved by an earlier call), or resolved the method before it went out.
            if not call.idempotent or not self.budget.try_spend():
                return None
            try:
                sibling = self._select(
                    call.service, call.key, balancer, call.tried, self._seen.get(call.service, ())
                )
            except MeshError:
                return None
            call.tried.add(sibling.instance_id)
            return self._attempt(sibling, balancer, call)

        return await race(first, delay, backup)

    async def _forget_departed(self, service: str, endpoints: Sequence[ServiceEndpoint]) -> None:
        """Drop breakers, statistics, probes and channels of instances that left the registry."""
        previous = self._seen.get(service, ())
        self._seen[service] = endpoints
        current = {ep.instance_id for ep in endpoints}
        ledger = self._ledgers.get(service)
        for gone in previous:
            if gone.instance_id in current:
                continue
            self.breakers.forget(service, gone.instance_id)
            self.stats.pop(gone.key, None)
            if ledger is not None:
                ledger.forget(gone.instance_id)
            await self.recovery.forget(gone.key)
            await self.grpc.forget(gone.instance_id)

    def _ledger(self, service: str) -> SiblingLedger:
        ledger = self._ledgers.get(service)
        if ledger is None:
            window = self.breakers.config.rolling_window
            ledger = self._ledgers[service] = SiblingLedger(window)
        return ledger

    def _spare(self, call: Call) -> bool:
        """Whether an instance the call has not tried could take it: healthy, breaker not open."""
        if call.pinned is not None:
            return False
        for ep in self._seen.get(call.service, ()):
            if ep.instance_id in call.tried or ep.health_status is HealthStatus.UNHEALTHY:
                continue
            breaker = self.breakers.peek_endpoint(ep)
            if breaker is None or breaker.state not in _REJECTING:
                return True
        return False

    def _balancer(self, strategy: LoadBalancingStrategy | None) -> LoadBalancer:
        chosen = strategy or self.strategy
        balancer = self._balancers.get(chosen)
        if balancer is None:
            balancer = self._balancers[chosen] = LoadBalancer(chosen, rng=self._rng)
        return balancer

    async def _attempt(
        self, endpoint: ServiceEndpoint, balancer: LoadBalancer, call: Call
    ) -> CallResult:
        breaker = self.breakers.endpoint(endpoint)
        if not breaker.allow():
            raise CircuitBreakerOpenError(breaker.name, breaker.retry_after())
        generation = breaker.generation
        stats = self.stats_of(endpoint)
        service_stats = self.service_stats.get(endpoint.service_name)
        if service_stats is None:  # not setdefault: a CallStats allocates two histograms
            service_stats = self.service_stats[endpoint.service_name] = CallStats()
        started = self._clock()
        call.attempts += 1
        if call.attempts > 1:
            self.retries[endpoint.service_name] = self.retries.get(endpoint.service_name, 0) + 1
        stats.start()
        service_stats.start()
        balancer.on_start(endpoint)
        error: BaseException | None = None
        try:
            data, message, reply_meta = await self.sender.send(
                endpoint, call, call.deadline - started
            )
        except BaseException as exc:
            error = exc
            raise
        finally:
            now = self._clock()
            latency = now - started
            if error is None:
                breaker.record_success(latency, generation=generation)
                self._ledger(endpoint.service_name).answered(endpoint.instance_id, now)
            elif isinstance(error, MeshError) and error.trips_breaker:
                breaker.record_failure(error, generation=generation)
                call.failed_on.add(endpoint.instance_id)
            else:  # the caller's mistake, or a cancellation: no verdict on the endpoint
                breaker.release(generation=generation)
            # A caller's mistake says nothing bad about the endpoint's health.
            healthy = error is None or (isinstance(error, MeshError) and not error.trips_breaker)
            balancer.on_finish(endpoint, latency, healthy)
            # A cancelled attempt (a hedge that lost, a caller that gave up) failed nothing.
            kind = (
                None
                if error is None or isinstance(error, asyncio.CancelledError)
                else getattr(error, "status", type(error).__name__)
            )
            stats.finish(latency, kind)
            service_stats.finish(latency, kind)
            if call.span is not None:
                attempt_event(call, endpoint, breaker.state, latency, kind)
        return CallResult(
            service=endpoint.service_name,
            method=call.method,
            message=message,
            decoded=data,
            endpoint=endpoint,
            latency=now - call.started,
            attempts=call.attempts,
            correlation_id=call.ctx.correlation_id,
            trace_id=call.ctx.trace_id,
            metadata=reply_meta,
        )

    async def _probe(self, endpoint: ServiceEndpoint) -> bool:
        return await self.sender.healthy(endpoint, PROBE_TIMEOUT)

    def stats_of(self, endpoint: ServiceEndpoint) -> CallStats:
        """The call statistics this client keeps for ``endpoint`` (created on first use)."""
        key = endpoint.key
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = CallStats()
        return stats

    # -- events ----------------------------------------------------------------

    async def publish_event(
        self,
        event_type: str,
        data: dict[str, Any],
        correlation_context: CorrelationContext | None = None,
    ) -> Event:
        """Publish an event under the given (or current) correlation context.

        Returns the envelope once the broker has it (or it is safely spooled).
        """
        if self.events is None:
            raise InvalidRequestError(
                "this mesh client has no event bus; set MESH_KAFKA_BOOTSTRAP or pass event_bus="
            )
        ctx = correlation_context or current_context()
        tracer = PROCESS_TRACING.tracer
        if tracer is None:
            return await self.events.publish(event_type, data, ctx, source=self.name)
        attributes: dict[str, str | int | bool] = {SERVICE: self.name}
        span, ctx = start_span(tracer, f"{event_type} publish", SpanKind.PRODUCER, ctx, attributes)
        try:
            event = await self.events.publish(event_type, data, ctx, source=self.name)
        except BaseException as exc:
            end_span(span, exc)
            raise
        span.set_attribute("messaging.message.id", event.event_id)
        if event.topic is not None:
            span.set_attribute("messaging.destination.name", event.topic)
        end_span(span)
        return event

    def _on_breaker_change(
        self,
        service: str,
        instance_id: str | None,
        old: CircuitState,
        new: CircuitState,
        breaker: CircuitBreaker,
    ) -> None:
        logger.info("circuit breaker %s: %s -> %s", breaker.name, old.value, new.value)
        if instance_id is not None and new is CircuitState.OPEN:
            endpoint = next(
                (ep for ep in self._seen.get(service, ()) if ep.instance_id == instance_id), None
            )
            if endpoint is not None:
                self.recovery.watch(endpoint, breaker)
        if self.events is None:
            return
        data = {
            "breaker": breaker.name,
            "service": service,
            "instance_id": instance_id,
            "from": old.value,
            "to": new.value,
            "client": self.name,
        }
        try:
            task = asyncio.get_running_loop().create_task(
                self.events.publish("breaker.state_changed", data, source=self.name)
            )
        except RuntimeError:  # no loop: a state change outside async code
            return
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("could not publish a breaker change: %s", task.exception())

    def report_stats(self) -> dict[str, Any]:
        """Call statistics for the control-plane report; resets the interval histograms."""
        endpoints: dict[str, dict[str, Any]] = {}
        for (service, instance_id), stats in list(self.stats.items()):
            endpoints.setdefault(service, {})[instance_id] = stats.snapshot(reset_interval=True)
        services = {
            service: stats.snapshot(reset_interval=True)
            for service, stats in self.service_stats.items()
        }
        return {"services": services, "endpoints": endpoints}

    # -- views -----------------------------------------------------------------

    async def get_service_health(self, name: str) -> dict[str, Any]:
        """Healthy and total endpoints of ``name``, with each endpoint's state."""
        endpoints = await self.endpoints.get(name)
        rows = []
        for ep in endpoints:
            breaker = self.breakers.peek_endpoint(ep)
            rows.append(
                {
                    "instance_id": ep.instance_id,
                    "address": ep.address,
                    "protocol": ep.protocol,
                    "health": ep.health_status.value,
                    "breaker": breaker.state.value if breaker else CircuitState.CLOSED.value,
                    "stats": self.stats[ep.key].snapshot() if ep.key in self.stats else None,
                }
            )
        healthy = sum(
            1
            for row in rows
            if row["health"] != HealthStatus.UNHEALTHY.value and row["breaker"] not in _REJECTING
        )
        return {
            "service": name,
            "healthy_endpoints": healthy,
            "total_endpoints": len(rows),
            "endpoints": rows,
        }

    async def get_circuit_breaker_status(self) -> dict[str, dict[str, Any]]:
        """Every breaker of this client, per service."""
        return self.breakers.status()


_REJECTING = (CircuitState.OPEN, CircuitState.FORCED_OPEN)


def attempt_event(
    call: Call, endpoint: ServiceEndpoint, breaker: CircuitState, latency: float, error: str | None
) -> None:
    """Mark one attempt on the call's span; the span's endpoint attributes are the last one's."""
    assert call.span is not None
    where = {
        "server.address": endpoint.address,
        INSTANCE: endpoint.instance_id,
        BREAKER: breaker.value,
        "rpc.system": "grpc" if endpoint.protocol == "grpc" else "http",
    }
    call.span.set_attributes(where)
    event = {
        INSTANCE: endpoint.instance_id,
        BREAKER: breaker.value,
        "attempt": call.attempts,
        "retry": call.attempts > 1,
        "duration_ms": round(latency * 1000, 3),
        "outcome": error or "ok",
    }
    call.span.add_event("attempt", event)
