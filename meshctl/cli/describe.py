"""``meshctl describe``: a service's methods and the shape of their messages.

gRPC services are described from the compiled descriptors or the server's
reflection (whichever the method resolver finds), HTTP services from the
routes their instances registered. Row building and the text view are pure.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from meshctl.cli.output import OutputFormat, OutputOption, emit
from meshctl.cli.runner import run, state
from meshctl.cli.services import command_registry
from meshctl.core.endpoint import HealthStatus, ServiceEndpoint

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor, ServiceDescriptor

    from meshctl.transport.methods import GrpcMethod


def method_rows(service: str, descriptors: list[ServiceDescriptor]) -> list[dict[str, Any]]:
    """One row per method of the gRPC services an instance exposes."""
    return [
        {
            "service": service,
            "grpc_service": d.full_name,
            "method": m.name,
            "path": f"/{d.full_name}/{m.name}",
            "request_type": m.input_type.full_name,
            "response_type": m.output_type.full_name,
            "streaming": m.client_streaming or m.server_streaming,
        }
        for d in descriptors
        for m in d.methods
    ]


def method_detail(service: str, method: GrpcMethod) -> dict[str, Any]:
    """One gRPC method: its path, both messages' fields and a request template."""
    from meshctl.cli.shapes import field_rows, template

    # The stubs type DESCRIPTOR as the C or the Python class; both have the same API.
    request = cast("Descriptor", method.request_class.DESCRIPTOR)
    response = cast("Descriptor", method.response_class.DESCRIPTOR)
    return {
        "service": service,
        "grpc_service": method.service,
        "method": method.name,
        "path": method.path,
        "request_type": request.full_name,
        "response_type": response.full_name,
        "request_fields": field_rows(request),
        "response_fields": field_rows(response),
        "template": template(request),
    }


def route_rows(endpoint: ServiceEndpoint) -> list[dict[str, Any]]:
    """The routes an HTTP instance registered (``route.<method>`` metadata)."""
    return [
        {"service": endpoint.service_name, "method": key.removeprefix("route."), "route": value}
        for key, value in sorted(endpoint.metadata.items())
        if key.startswith("route.")
    ]


def route_detail(endpoint: ServiceEndpoint, method: str) -> dict[str, Any]:
    """One HTTP route, with the sample request as its template when there is one (secret
    fields hidden: the login sample holds ``up``'s admin password)."""
    from meshctl.core.secrets import redact_fields
    from meshctl.samples import sample_request
    from meshctl.transport.http_client import route_for

    verb, path = route_for(endpoint, method)
    return {
        "service": endpoint.service_name,
        "method": method,
        "route": f"{verb} {path}",
        "template": redact_fields(sample_request(endpoint.service_name, method) or {}),
    }


def detail_text(detail: dict[str, Any]) -> str:
    """The table view of one method: path, fields of each message, the template."""
    lines = [f"{detail['service']} {detail.get('path') or detail.get('route')}"]
    for part in ("request", "response"):
        fields = detail.get(f"{part}_fields")
        if fields is None:
            continue
        lines.append(f"\n{part} {detail[f'{part}_type']}")
        width = max((len(f["name"]) for f in fields), default=0)
        lines += [f"  {f['name']:<{width}}  {f['type']}" for f in fields] or ["  (no fields)"]
    template = json.dumps(detail["template"], indent=2, ensure_ascii=False)
    lines += ["", "request template (meshctl call -d):", template]
    return "\n".join(lines) + "\n"


def healthiest(endpoints: list[ServiceEndpoint]) -> ServiceEndpoint:
    """A healthy instance if there is one, else one not known to be unhealthy, else any."""
    rank = {HealthStatus.HEALTHY: 0, HealthStatus.UNKNOWN: 1, HealthStatus.UNHEALTHY: 2}
    return min(endpoints, key=lambda ep: rank.get(ep.health_status, 1))


async def live_endpoint(ctx: typer.Context, service: str) -> ServiceEndpoint:
    """The instance of ``service`` to ask (unknown service: exit 2; none live: exit 1)."""
    from meshctl.cli.lookup import service_endpoints

    async with command_registry(ctx) as registry:
        return healthiest(await service_endpoints(registry, service))


async def list_methods(
    ctx: typer.Context, service: str, endpoint: ServiceEndpoint
) -> list[dict[str, Any]]:
    """One row per method ``endpoint`` serves: its HTTP routes or its gRPC methods."""
    from meshctl.transport.methods import MethodResolver

    if endpoint.protocol == "http":
        return route_rows(endpoint)
    resolver = MethodResolver(state(ctx).tls())
    return method_rows(service, await resolver.services(service, endpoint))


async def _describe(ctx: typer.Context, service: str, method: str | None) -> Any:
    from meshctl.transport.methods import MethodResolver

    endpoint = await live_endpoint(ctx, service)
    if method is None:
        return await list_methods(ctx, service, endpoint)
    if endpoint.protocol == "http":
        return route_detail(endpoint, method)
    resolver = MethodResolver(state(ctx).tls())
    return method_detail(service, await resolver.resolve(service, method, endpoint))


def describe(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="The service.")],
    method: Annotated[
        str | None, typer.Argument(metavar="[METHOD]", help="One method, with message shapes.")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List SERVICE's methods, or show METHOD's messages and a request template."""
    found = run(_describe(ctx, service, method))
    if isinstance(found, list):
        columns = ("method", "route") if found and "route" in found[0] else None
        emit(found, output, columns=columns or ("method", "request_type", "response_type"))
    elif output is OutputFormat.TABLE:
        typer.echo(detail_text(found), nl=False)
    else:
        emit(found, output)
