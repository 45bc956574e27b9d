"""What a breaker command names, checked before the command goes out.

Every mesh client obeys a command for any name, and ``force_open`` of a name
no client holds creates the breaker and a mesh-wide mark: a typo would leave a
phantom that fails ``meshctl check``. So a command names a *known* service
(a reference service, one with live instances, one a running client reports,
or one already forced open) or is refused with exit 2 and the closest names.

``--instance`` takes any unique prefix of an instance id, matched against the
service's registered instances and the endpoint breakers clients report; the
command then carries the full id, which is what clients match on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshctl.cli.lookup import reported_services, unknown_service
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.registry import ServiceRegistry


@dataclass(frozen=True, slots=True)
class Targets:
    """The names a breaker command may use, as the registry and the clients know them."""

    services: frozenset[str]
    instances: frozenset[str]  # of the one service asked about
    clients: int  # how many mesh clients report


def reported_instances(reports: Iterable[dict[str, Any]], service: str) -> set[str]:
    """Instance ids of ``service``'s endpoint breakers in the clients' reports."""
    return {
        str(snap["instance_id"])
        for report in reports
        for snap in report.get("breakers") or ()
        if isinstance(snap, dict) and snap.get("service") == service and snap.get("instance_id")
    }


async def read_targets(registry: ServiceRegistry, service: str | None) -> Targets:
    """Known services, and ``service``'s instance ids (three round trips)."""
    from meshctl.catalog import SERVICE_NAMES
    from meshctl.registry.control import read_reports

    reports = await read_reports(registry.redis, registry.prefix)
    services = set(SERVICE_NAMES) | reported_services(reports)
    services.update(await registry.list_services())
    instances: set[str] = set()
    if service is not None:
        view = await registry.view(service)
        if view.forced_open:
            services.add(service)  # a mark left earlier must stay removable
        instances = {ep.instance_id for ep in view} | reported_instances(reports, service)
    return Targets(frozenset(services), frozenset(instances), len(reports.clients))


def check_service(service: str, known: Iterable[str]) -> None:
    """Raise UnknownServiceError (exit 2, with "did you mean") for a name nothing knows."""
    known = set(known)
    if service not in known:
        raise unknown_service(service, known)


def resolve_instance(service: str, prefix: str, instances: Iterable[str]) -> str:
    """The one instance id of ``service`` starting with ``prefix``.

    Raises:
        InvalidRequestError: no id, or more than one, starts with ``prefix``.
    """
    if not prefix.strip():
        raise InvalidRequestError("invalid --instance: it is empty")
    ids = sorted(set(instances))
    matches = [prefix] if prefix in ids else [i for i in ids if i.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InvalidRequestError(
            f"--instance {prefix} is ambiguous: {', '.join(matches)} all start with it"
        )
    listing = ", ".join(ids) if ids else "none"
    raise InvalidRequestError(
        f"no instance of {service} has an id starting {prefix!r} (instances: {listing})"
    )
