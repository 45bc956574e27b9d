"""The service registry, kept in Redis.

Data layout (see ``keys.py`` and docs/registry.md): per service, a hash of
endpoint records, a hash of health state and a sorted set of expiry times on
the Redis server's clock, plus a set of service names. Every change runs as
one Lua script (``scripts.py``), so it is atomic and costs one round trip;
discovery of a service of any size is one script call. Lapsed instances are
invisible at once and reaped by the next script that looks at their service.
Changes are announced on ``{prefix}:events`` as
``{"action", "service", "instance_id"}`` JSON, with action one of
``registered``, ``deregistered``, ``health`` (plus ``status``) and ``expired``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self

import redis.asyncio as aioredis

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.stats import MethodStats
from meshctl.errors import InvalidRequestError
from meshctl.registry import scripts
from meshctl.registry.connection import connect, describe, translated
from meshctl.registry.control import ControlChannel
from meshctl.registry.keepalive import KeepAlive
from meshctl.registry.keys import (
    events_channel,
    forced_key,
    service_base,
    service_keys,
    services_key,
)
from meshctl.registry.problems import Problem, ProblemLog, from_script, text
from meshctl.registry.records import Parsed, parse_record
from meshctl.registry.reporting import ReportLoop
from meshctl.registry.reports import served_report_id
from meshctl.registry.sli import SliRecorder

log = logging.getLogger(__name__)

# What the discovery script returns for one service: ids, records, states, the
# forced mark (None when unset) and problems; the snapshot script's rows have
# only the first three.
RawView = list[Any]


class ServiceInstances(tuple[ServiceEndpoint, ...]):
    """A service's live instances, whether an operator forced its breaker open
    mesh-wide, and what the read skipped (``problems``)."""

    forced_open: bool
    problems: tuple[Problem, ...]

    def __new__(
        cls,
        endpoints: Iterable[ServiceEndpoint] = (),
        *,
        forced_open: bool = False,
        problems: Iterable[Problem] = (),
    ) -> Self:
        view = super().__new__(cls, endpoints)
        view.forced_open = forced_open
        view.problems = tuple(problems)
        return view


class RegistrySnapshot(dict[str, list[ServiceEndpoint]]):
    """Every service's live instances by name, and what the read skipped (``problems``)."""

    def __init__(
        self, views: Iterable[tuple[str, list[ServiceEndpoint]]], problems: list[Problem]
    ) -> None:
        super().__init__(sorted(views))
        self.problems = problems


def _check_ttl(ttl: float) -> None:
    if not 0 < ttl <= scripts.MAX_TTL:
        raise InvalidRequestError(
            f"ttl must be a number of seconds in (0, {scripts.MAX_TTL}], not {ttl!r}"
        )


def _check_name(name: str) -> None:
    if not name:
        raise InvalidRequestError("service name must not be empty")


class ServiceRegistry:
    """Register, heartbeat and discover service instances in Redis.

    Args:
        redis: a client, or a ``redis://`` URL for a client this registry owns
            and closes in ``aclose``.
        prefix: the key prefix shared by every process of one mesh.

    Every method raises RegistryUnavailableError when Redis cannot be reached.
    """

    def __init__(self, redis: aioredis.Redis | str, prefix: str = "mesh") -> None:
        self.redis, self._owned = connect(redis)
        self.prefix = prefix
        self.url = describe(self.redis)
        self.events_channel = events_channel(prefix)
        self._register = self.redis.register_script(scripts.REGISTER)
        self._deregister = self.redis.register_script(scripts.DEREGISTER)
        self._heartbeat = self.redis.register_script(scripts.HEARTBEAT)
        self._set_health = self.redis.register_script(scripts.SET_HEALTH)
        self._discover = self.redis.register_script(scripts.DISCOVER)
        self._snapshot = self.redis.register_script(scripts.SNAPSHOT)
        self._parsed: dict[str, dict[tuple[Any, Any, Any], Parsed]] = {}
        self.problem_log = ProblemLog()

    def _args(self, name: str, *rest: str | float) -> list[str | float]:
        return [self.events_channel, name, *rest]

    async def register_service(self, name: str, endpoint: ServiceEndpoint, ttl: float = 60) -> str:
        """Add or replace an instance, alive for ``ttl`` seconds unless renewed.

        Args:
            name: the service; must match ``endpoint.service_name``.
            endpoint: the instance; its ``registered_at`` is set to the server's time.
            ttl: seconds until the instance lapses without a heartbeat.

        Returns:
            The instance id.
        """
        _check_name(name)
        _check_ttl(ttl)
        if endpoint.service_name != name:
            raise InvalidRequestError(
                f"endpoint belongs to service {endpoint.service_name!r}, not {name!r}"
            )
        args = self._args(
            name, endpoint.instance_id, endpoint.to_json(), ttl, endpoint.health_status.value
        )
        with translated(self.url):
            now, problems = await self._register(keys=service_keys(self.prefix, name), args=args)
        self.problem_log.report(from_script(problems))
        endpoint.registered_at = float(now)
        return endpoint.instance_id

    async def deregister_service(self, name: str, instance_id: str) -> bool:
        """Remove an instance and its served report; True if it was registered."""
        with translated(self.url):
            existed = await self._deregister(
                keys=service_keys(self.prefix, name), args=self._args(name, instance_id)
            )
        # A crashed instance could not withdraw its report; one removed by hand goes whole.
        await ControlChannel(self.redis, self.prefix).withdraw_report(
            served_report_id(name, instance_id)
        )
        return bool(existed)

    async def heartbeat(self, name: str, instance_id: str, ttl: float = 60) -> bool:
        """Renew an instance for ``ttl`` seconds; False if it is gone and must re-register."""
        _check_ttl(ttl)
        with translated(self.url):
            renewed = await self._heartbeat(
                keys=service_keys(self.prefix, name), args=self._args(name, instance_id, ttl)
            )
        return bool(renewed)

    async def set_health(
        self, name: str, instance_id: str, status: HealthStatus, detail: str | None = None
    ) -> bool:
        """Record a health check's outcome; False if the instance is gone."""
        status = HealthStatus(status)
        with translated(self.url):
            done = await self._set_health(
                keys=service_keys(self.prefix, name),
                args=self._args(name, instance_id, status.value, detail or ""),
            )
        return bool(done)

    async def discover_services(self, name: str) -> list[ServiceEndpoint]:
        """The live instances of ``name`` (in one round trip), unreadable records skipped.

        Endpoints are shared between calls while their record is unchanged:
        treat them as read-only.
        """
        return list(self.to_view(name, await self.fetch_view(name)))

    async def view(self, name: str) -> ServiceInstances:
        """The live instances of ``name`` with the service's forced mark, in one round trip."""
        return self.to_view(name, await self.fetch_view(name))

    async def list_services(self) -> list[str]:
        """Names of the services with at least one live instance, sorted."""
        with translated(self.url):
            rows, problems = await self._snapshot(
                keys=[services_key(self.prefix)],
                args=[self.events_channel, service_base(self.prefix), "0"],
            )
        self.problem_log.report(from_script(problems))
        return sorted(text(row[0]) for row in rows)

    async def snapshot(self) -> RegistrySnapshot:
        """Every service's live instances, in one round trip; a bad service is left out."""
        with translated(self.url):
            reply = await self._snapshot(
                keys=[services_key(self.prefix)],
                args=[self.events_channel, service_base(self.prefix), "1"],
            )
        return self.read_snapshot(reply)

    def read_snapshot(self, reply: Sequence[Any]) -> RegistrySnapshot:
        """A snapshot from the snapshot script's reply (``snapshot.py`` sends it pipelined)."""
        rows, script_problems = reply
        problems = from_script(script_problems)
        self.problem_log.report(problems)
        views = []
        for row in rows:
            name = text(row[0])
            endpoints, skipped = self.build_view(name, row[1:])
            views.append((name, endpoints))
            problems += skipped
        return RegistrySnapshot(views, problems)

    def keep_alive(
        self, endpoint: ServiceEndpoint, ttl: float = 60, interval: float | None = None
    ) -> KeepAlive:
        """An async context manager keeping ``endpoint`` registered while it is open."""
        _check_ttl(ttl)
        return KeepAlive(self, endpoint, ttl, interval)

    def sli_recorder(self, service: str, served: MethodStats) -> SliRecorder:
        """An async context manager adding what ``served`` counts to ``service``'s SLI
        buckets while it is open (``sli.py``)."""
        return SliRecorder(self.redis, self.prefix, service, served)

    def reporting(
        self, client_id: str, report: Callable[[], dict[str, Any]], interval: float = 1.0
    ) -> ReportLoop:
        """An async context manager keeping ``report()`` published while it is open."""
        return ReportLoop(
            ControlChannel(self.redis, self.prefix), client_id, report, interval=interval
        )

    def forget_parsed(self) -> None:
        """Drop the cache of parsed records, so the next discovery parses every record."""
        self._parsed.clear()

    async def aclose(self) -> None:
        """Close the client if this registry created it."""
        if self._owned:
            await self.redis.aclose()

    async def fetch_view(self, name: str) -> RawView:
        """The raw live view of one service (see ``RawView``); watchers compare these."""
        _check_name(name)
        with translated(self.url):
            raw: RawView = await self._discover(
                keys=[*service_keys(self.prefix, name), forced_key(self.prefix)],
                args=self._args(name),
            )
        return raw

    def to_view(self, name: str, raw: RawView) -> ServiceInstances:
        """A view from ``fetch_view``'s answer."""
        problems = from_script(raw[4])
        self.problem_log.report(problems)
        endpoints, skipped = self.build_view(name, raw)
        forced = raw[3] is not None
        return ServiceInstances(endpoints, forced_open=forced, problems=problems + skipped)

    def build_view(
        self, name: str, raw: Sequence[Any]
    ) -> tuple[list[ServiceEndpoint], list[Problem]]:
        """Endpoints from a raw view, and the records that did not parse (skipped).

        Parsing dominates discovery of big services, so each distinct
        (instance, record, state) is parsed once and its outcome reused until it changes.
        """
        if not raw or not raw[0]:
            self._parsed.pop(name, None)
            return [], []
        known = self._parsed.get(name, {})
        parsed: dict[tuple[Any, Any, Any], Parsed] = {}
        for entry in zip(raw[0], raw[1], raw[2], strict=True):
            parsed[entry] = known.get(entry) or parse_record(self.prefix, name, *entry)
        self._parsed[name] = parsed
        problems = [problem for _, problem in parsed.values() if problem is not None]
        self.problem_log.report(problems)
        return [endpoint for endpoint, _ in parsed.values() if endpoint is not None], problems
