"""Finding a service's instances for ``call`` and ``describe``, telling unknown from down.

A name is *known* when it is one of the reference services, has live
instances, or a running mesh client reports calling it. An unknown name is
bad input (exit 2, listing the registered services); a known service with no
live instance is a failed check (exit 1, "No endpoints found for service X").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from meshctl.core.endpoint import ServiceEndpoint
from meshctl.errors import NoEndpointsError, UnknownServiceError

if TYPE_CHECKING:
    from meshctl.registry import ServiceRegistry


def reported_services(reports: list[dict[str, object]]) -> set[str]:
    """Services the mesh clients' reports mention (as callees or breakers)."""
    names: set[str] = set()
    for report in reports:
        services = report.get("services")
        if isinstance(services, dict):
            names.update(str(name) for name in services)
        breakers = report.get("breakers")
        if isinstance(breakers, list):
            names.update(
                str(b["service"]) for b in breakers if isinstance(b, dict) and "service" in b
            )
    return names


async def service_endpoints(registry: ServiceRegistry, service: str) -> list[ServiceEndpoint]:
    """The live instances of ``service``.

    Raises:
        NoEndpointsError: the service is known but has no live instance.
        UnknownServiceError: nothing knows the name.
        RegistryUnavailableError: Redis cannot be reached.
    """
    endpoints = await registry.discover_services(service)
    if endpoints:
        return endpoints
    await explain_no_endpoints(registry, service)
    raise NoEndpointsError(service)


async def explain_no_endpoints(registry: ServiceRegistry, service: str) -> None:
    """Raise UnknownServiceError when nothing knows ``service``, which has no live instance.

    Returns when the service is known (a reference service, or one a running
    mesh client reports calling): it is down, which the caller reports.
    """
    from meshctl.catalog import SERVICE_NAMES
    from meshctl.registry.control import read_reports

    if service in SERVICE_NAMES:
        return
    reported = reported_services(await read_reports(registry.redis, registry.prefix))
    if service in reported:
        return
    live = await registry.list_services()
    raise unknown_service(service, live, listed="registered", suggest=[*SERVICE_NAMES, *reported])


def unknown_service(
    service: str, known: Iterable[str], *, listed: str = "known", suggest: Iterable[str] = ()
) -> UnknownServiceError:
    """The error for a name nothing knows: the ``known`` names, and the closest of them
    and of ``suggest`` (difflib) as a guess."""
    names = sorted(set(known))
    close = difflib.get_close_matches(service, sorted({*names, *suggest}), n=3, cutoff=0.6)
    guess = f"; did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
    listing = ", ".join(names) if names else "none"
    return UnknownServiceError(f"unknown service {service!r}{guess} ({listed}: {listing})")


def pick_endpoint(endpoints: list[ServiceEndpoint], address: str) -> ServiceEndpoint | None:
    """The registered instance listening at ``address`` (``host:port``), if any."""
    return next((ep for ep in endpoints if ep.address == address), None)
