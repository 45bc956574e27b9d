"""``meshctl call``: call any method of any service through the mesh client.

The call takes the path services take (discovery, balancer, breakers,
retries, deadlines), so what an operator sees is what callers see. The reply
goes to stdout (JSON by default: replies are data); ``-v`` and ``--trace``
write to stderr so stdout stays parseable. ``--trace`` keeps the call's own
client span in the mesh's span store and then shows the whole request as
``meshctl trace`` does, after the call's events when Kafka is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from meshctl.cli.output import OutputFormat, OutputOption, emit, flatten
from meshctl.cli.requestdata import parse_headers, read_object, seconds, text_value
from meshctl.cli.runner import run, state
from meshctl.cli.trace import kept_spans, show_trace
from meshctl.core.balancer import LoadBalancingStrategy
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.core.endpoint import ServiceEndpoint
    from meshctl.mesh import CallResult

CLIENT_NAME = "meshctl"


def verbose_lines(result: CallResult) -> list[str]:
    """What ``-v`` prints about a finished call."""
    ep = result.endpoint
    lines = [
        f"endpoint:       {ep.service_name}/{ep.instance_id} at {ep.address} ({ep.protocol})",
        f"latency:        {result.latency * 1000:.1f} ms",
        f"attempts:       {result.attempts}",
        f"correlation id: {result.correlation_id}",
        f"trace id:       {result.trace_id}",
    ]
    lines += [f"metadata:       {k}: {v}" for k, v in sorted(result.metadata.items())]
    return lines


def reply_rows(data: Any) -> list[dict[str, Any]]:
    """A reply as KEY/VALUE rows for people: one per leaf, nested fields as paths, in order."""
    return [{"key": key, "value": value} for key, value in flatten(data).items()]


def emit_reply(data: Any, output: OutputFormat) -> None:
    """The reply as data for JSON/YAML, as one row per field for a table."""
    if output is OutputFormat.TABLE:
        emit(reply_rows(data), output, columns=("key", "value"))
    else:
        emit(data, output)


def request_metadata(headers: list[str], token: str | None) -> dict[str, str]:
    """``-H`` pairs plus ``authorization: Bearer T`` for ``--token``."""
    metadata = parse_headers(headers)
    if token is not None:
        if not token.strip():
            raise InvalidRequestError("invalid --token: it is empty")
        metadata["authorization"] = f"Bearer {text_value('--token', token.strip())}"
    return metadata


def direct_endpoint(
    service: str, address: str, http: bool, registered: list[ServiceEndpoint]
) -> ServiceEndpoint:
    """The registered instance at ``address``, else an unregistered one to call directly.

    An unregistered instance borrows a registered sibling's metadata (HTTP
    routes, gRPC service names) when there is one of the same protocol.
    """
    from meshctl.cli.lookup import pick_endpoint
    from meshctl.cli.services import parse_address
    from meshctl.core.endpoint import ServiceEndpoint

    host, port = parse_address(address)
    protocol: Literal["grpc", "http"] = "http" if http else "grpc"
    wanted = ServiceEndpoint(service, host, port, protocol=protocol)
    found = pick_endpoint(registered, wanted.address)
    if found is not None:
        return found
    sibling = next((ep for ep in registered if ep.protocol == protocol), None)
    if sibling is not None:
        wanted = ServiceEndpoint(
            service, host, port, protocol=protocol, metadata=dict(sibling.metadata)
        )
    return wanted


async def _call(
    settings: MeshSettings,
    service: str,
    method: str,
    request: dict[str, Any] | None,
    *,
    address: str | None,
    http: bool,
    trace: bool = False,
    **options: Any,
) -> tuple[CallResult, dict[str, Any] | None]:
    """Run the call; returns the result and the sample request sent, if one was.

    The one-shot client reads the service once (instances and forced mark
    together) before the RPC; only a call that finds no instance reads more,
    to tell an unknown service (exit 2) from one that is down (exit 1).
    """
    from meshctl.cli.lookup import explain_no_endpoints
    from meshctl.errors import NoEndpointsError
    from meshctl.mesh import open_mesh
    from meshctl.samples import sample_request

    sample = None
    if request is None:
        sample = sample_request(service, method)
        request = sample or {}
    mesh = open_mesh(settings, name=CLIENT_NAME, events=False, control=False, watch=False)
    async with mesh, kept_spans(CLIENT_NAME, mesh.registry, trace):
        pinned = None
        if address is not None:
            registered = list(await mesh.endpoints.get(service))
            pinned = direct_endpoint(service, address, http, registered)
        try:
            result = await mesh.call(service, method, request, endpoint=pinned, **options)
        except NoEndpointsError:
            await explain_no_endpoints(mesh.registry, service)
            raise
    return result, sample


def call(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="Service to call.")],
    method: Annotated[
        str,
        typer.Argument(
            metavar="METHOD", help="Method (Method, pkg.Service/Method) or HTTP route name."
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data", "-d", help="Request JSON, @FILE or @- for stdin (default: a sample)."
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            help="Metadata / HTTP header KEY=VALUE (repeatable; printable ASCII, no -bin keys).",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds for the whole call.")] = 30.0,
    strategy: Annotated[
        LoadBalancingStrategy | None, typer.Option(help="Load-balancing strategy.")
    ] = None,
    key: Annotated[str | None, typer.Option(help="Consistent-hash key (e.g. a camera id).")] = None,
    correlation_id: Annotated[
        str | None, typer.Option("--correlation-id", help="Correlation id (default: a new one).")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Bearer token, sent as `authorization: Bearer T`.")
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="Call this instance only (called directly when it is not registered).",
        ),
    ] = None,
    http: Annotated[
        bool, typer.Option("--http", help="An unregistered --endpoint speaks HTTP, not gRPC.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Show endpoint, latency, attempts, ids, metadata on stderr."
        ),
    ] = False,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace", help="Then print the request's events (with Kafka) and spans on stderr."
        ),
    ] = False,
    trace_wait: Annotated[
        float,
        typer.Option(help="Seconds --trace waits for the services' spans and events to arrive."),
    ] = 1.0,
    output: OutputOption = OutputFormat.JSON,
) -> None:
    """Call METHOD of SERVICE through the mesh and print the reply.

    Exit codes: 1 the call failed (breaker open, no endpoints, connection
    failure, error status), 2 bad input (JSON, unknown service or method, a
    field of the wrong type), 3 the registry is unreachable.
    """
    seconds("--timeout", timeout)
    seconds("--trace-wait", trace_wait, zero=True)
    request = read_object(data) if data is not None else None
    metadata = request_metadata(header or [], token)
    settings = state(ctx).resolve().settings
    context = None
    if correlation_id is not None:
        from meshctl.core.context import CorrelationContext

        try:
            value = text_value("--correlation-id", correlation_id.strip())
            context = CorrelationContext.new(value)
        except ValueError as exc:
            raise InvalidRequestError(f"invalid --correlation-id: {exc}") from None

    result, sample = run(
        _call(
            settings,
            service,
            method,
            request,
            address=endpoint,
            http=http,
            timeout=timeout,
            correlation_context=context,
            key=key,
            metadata=metadata,
            strategy=strategy,
            want_metadata=verbose,
            trace=trace,
        )  # fmt: skip
    )
    if verbose:
        if sample is not None:
            typer.echo(f"request:        the sample request of {service}/{method}", err=True)
        for line in verbose_lines(result):
            typer.echo(line, err=True)
    emit_reply(result.data, output)
    if trace:
        run(show_trace(settings, result.correlation_id, trace_wait))
