"""``meshctl trace ID``: one request's path through the mesh, as a waterfall.

The spans come from the mesh's span store in Redis (services keep theirs
there for ``trace_ttl_seconds``, 15 minutes by default), found by correlation
id or trace id. Services write their spans in the background, a moment after
the request: ``--wait`` polls until they are there. Exit codes: 1 no spans are
kept for the id, 2 bad input, 3 Redis unreachable.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import OutputFormat, OutputOption, render, table_text, use_color
from meshctl.cli.requestdata import seconds, text_value
from meshctl.cli.runner import fail, run, state
from meshctl.core.spans import SpanRecord, Waterfall, published, waterfall
from meshctl.errors import InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.events import Event
    from meshctl.registry import ServiceRegistry

BAR_WIDTH = 32
POLL = 0.2  # seconds between reads while waiting
SETTLE = 0.6  # seconds without new spans before a wait ends: a store writes every 0.5 s


def trace_data(ident: str, records: Sequence[SpanRecord]) -> dict[str, Any]:
    """The trace as data for JSON and YAML: spans in waterfall order, events published."""
    fall = waterfall(records)
    spans = []
    for row in fall.rows:
        span = row.record.to_json()
        span.update(
            depth=row.depth,
            offset_ms=round(row.offset_ms, 3),
            duration_ms=round(row.duration_ms, 3),
            endpoint=row.record.endpoint,
        )
        spans.append(span)
    return {
        "id": ident,
        "trace_ids": sorted({r.trace_id for r in records}),
        "duration_ms": round(fall.total_ms, 3),
        "spans": spans,
        "events": [event_entry(r) for r in published(records)],
    }


def event_entry(record: SpanRecord) -> dict[str, Any]:
    """An event published, from its producer span."""
    return {
        "event_type": record.name.removesuffix(" publish"),
        "service": record.service,
        "event_id": record.attributes.get("messaging.message.id"),
        "status": record.status,
    }


def render_trace(
    ident: str, records: Sequence[SpanRecord], fmt: OutputFormat | str, *, color: bool = False
) -> str:
    """The waterfall table (one row per span, indented under its parent) and the events."""
    data = trace_data(ident, records)
    if OutputFormat(fmt) is not OutputFormat.TABLE:
        return render(data, fmt)
    fall = waterfall(records)
    lines = [_table(fall, color)]
    summary = f"trace {ident}: {len(fall.rows)} span(s), {fall.total_ms:.1f} ms"
    events = data["events"]
    if events:
        listed = ", ".join(f"{e['event_type']} ({e['service']})" for e in events)
        summary += f"\nevents: {listed}"
    return "".join(lines) + summary + "\n"


def _table(fall: Waterfall, color: bool) -> str:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for title in ("SPAN", "SERVICE", "ENDPOINT", "START MS", "MS", "STATUS", "WATERFALL"):
        right = title.endswith("MS")
        table.add_column(title, justify="right" if right else "left", no_wrap=not right)
    for row in fall.rows:
        record = row.record
        start, length = fall.bar(row, BAR_WIDTH)
        style = "red" if record.status == "error" else "cyan"
        bar = Text(" " * start) + Text("█" * length, style=style)
        status = record.status if record.error is None else f"error: {record.error}"
        table.add_row(
            "  " * row.depth + f"{record.name} [{record.kind}]",
            record.service,
            record.endpoint or "-",
            f"{row.offset_ms:.1f}",
            f"{row.duration_ms:.1f}",
            status,
            bar,
        )
    return table_text(table, color=color, width=220)


@asynccontextmanager
async def kept_spans(name: str, registry: ServiceRegistry, keep: bool) -> AsyncIterator[None]:
    """The command's own spans while the body runs: exported when the ``OTEL_*`` variables
    say so and, with ``keep``, kept in the span store (its waterfall then starts at the
    command's call)."""
    from meshctl.registry.spanstore import SpanStore
    from meshctl.transport.tracing import traced

    async with traced(name, SpanStore(registry.redis, registry.prefix) if keep else None):
        yield


async def fetch_spans(settings: MeshSettings, ident: str, wait: float) -> list[SpanRecord]:
    """The spans kept for ``ident``; with ``wait``, polls until some arrive and settle."""
    import asyncio
    import time

    from meshctl.registry import open_registry
    from meshctl.registry.spanstore import read_spans

    registry = open_registry(settings)
    try:
        deadline = time.monotonic() + wait
        records = await read_spans(registry.redis, settings.prefix, ident)
        settled_at = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            if records and time.monotonic() >= settled_at:
                break
            await asyncio.sleep(POLL)
            more = await read_spans(registry.redis, settings.prefix, ident)
            if len(more) != len(records):
                records, settled_at = more, time.monotonic() + SETTLE
        return records
    finally:
        await registry.aclose()


async def trace_events(settings: MeshSettings, correlation_id: str) -> list[Event]:
    """Events of ``correlation_id`` on the bus now."""
    from meshctl.cli.events import command_bus

    async with command_bus(settings) as bus:
        return [e async for e in bus.tail(correlation_id, start="beginning", follow=False)]


async def show_trace(settings: MeshSettings, correlation_id: str, wait: float) -> None:
    """The request's events (with Kafka) and its waterfall, on stderr."""
    from meshctl.cli.events import event_line

    records = await fetch_spans(settings, correlation_id, wait)
    if settings.kafka_bootstrap:
        events = await trace_events(settings, correlation_id)
        typer.echo(f"trace {correlation_id}: {len(events)} event(s)", err=True)
        for event in events:
            typer.echo(event_line(event), err=True)
    if not records:
        typer.echo(f"trace {correlation_id}: no spans kept", err=True)
        return
    typer.echo(render_trace(correlation_id, records, "table", color=use_color(sys.stderr)),
               err=True, nl=False)  # fmt: skip


def trace(
    ctx: typer.Context,
    ident: Annotated[
        str, typer.Argument(metavar="CORRELATION_ID", help="Correlation id (or trace id).")
    ],
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for spans still being written.")
    ] = 0.0,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show the spans of one request, across every service, as a waterfall.

    One row per span, indented under its parent: service, endpoint, start and
    duration in ms, status and a bar; then the events published. Exits 1 when
    no spans are kept for the id (the store keeps them 15 minutes), 3 when
    Redis is unreachable.
    """
    seconds("--wait", wait, zero=True)
    ident = text_value("CORRELATION_ID", ident.strip())
    if not ident:
        raise InvalidRequestError("CORRELATION_ID must not be empty")
    settings = state(ctx).resolve().settings
    records = run(fetch_spans(settings, ident, wait))
    if not records:
        fail(
            f"no spans kept for {ident}",
            hint="spans are kept for 15 minutes; use --wait if the request has just run",
        )
    typer.echo(render_trace(ident, records, output, color=use_color()), nl=False)
