"""``meshctl events``: tail events (by correlation id, by type), publish one, drain spools.

Tails print each event as it arrives: a line per event for people, one JSON
object per line (keys sorted) for scripts, or a YAML document per event. A
record that is not an event in any form meshctl reads prints as a marked
``<raw>`` row and the tail goes on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshctl.cli.output import OutputFormat, OutputOption, emit
from meshctl.cli.requestdata import parse_moment, read_object
from meshctl.cli.runner import run, state
from meshctl.errors import BrokerUnavailableError, InvalidRequestError

if TYPE_CHECKING:
    from meshctl.config import MeshSettings
    from meshctl.events import Event, KafkaEventBus
    from meshctl.events.bus import Start

app = typer.Typer(help="Tail and publish events on the broker.", no_args_is_help=True)

MALFORMED_MARK = "‼"


def parse_start(text: str, now: datetime) -> Start:
    """A ``--from`` value: beginning, end, -N (last N events), -10m/-2h/-30s/-1d or a timestamp.

    A timestamp without a zone is taken as UTC.
    """
    value = text.strip()
    if value in ("beginning", "end"):
        return "beginning" if value == "beginning" else "end"
    if value.startswith("-") and value[1:].isdigit() and int(value[1:]) > 0:
        return int(value)
    try:
        return parse_moment("--from", value, now)
    except InvalidRequestError:
        raise InvalidRequestError(
            f"invalid --from {text!r}: use beginning, end, -N (last N events), "
            "-10m/-2h/-30s/-1d or a timestamp such as 2024-05-01T12:00:00Z"
        ) from None


def event_row(event: Event) -> dict[str, Any]:
    """One event as the JSON and YAML outputs show it."""
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
        "correlation_id": event.correlation_id,
        "trace_id": event.trace_id,
        "data": event.data,
        "topic": event.topic,
        "partition": event.partition,
        "offset": event.offset,
        "malformed": event.malformed,
        "error": event.error,
    }


def event_line(event: Event) -> str:
    """One event as a line for people; a malformed record is marked and says why."""
    where = f"{event.topic}/{event.partition}@{event.offset}"
    if event.malformed:
        return f"{MALFORMED_MARK} malformed record at {where}: {event.error}"
    stamp = event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    data = json.dumps(event.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{stamp}  {event.event_type:<22} {event.source:<12} {event.correlation_id}  {data}"


def format_event(event: Event, fmt: OutputFormat) -> str:
    """The text one event prints as, newline included."""
    if fmt is OutputFormat.JSON:
        return json.dumps(event_row(event), sort_keys=True, ensure_ascii=False) + "\n"
    if fmt is OutputFormat.YAML:
        import yaml

        text: str = yaml.safe_dump(event_row(event), sort_keys=True, allow_unicode=True)
        return "---\n" + text
    return event_line(event) + "\n"


@asynccontextmanager
async def command_bus(
    settings: MeshSettings, *, started: bool = False
) -> AsyncIterator[KafkaEventBus]:
    """A Kafka bus for one command, with a spool of its own that dies with it.

    ``started``: check the broker first (an unreachable one is BrokerUnavailableError,
    one line, rather than a bus that spools), start the bus and stop it afterwards.
    """
    import tempfile

    from meshctl.events import KafkaEventBus, open_bus
    from meshctl.events.client import probe_broker

    if not settings.kafka_bootstrap:
        raise InvalidRequestError(
            "no Kafka broker is configured: set --kafka or MESH_KAFKA_BOOTSTRAP "
            "(or start a mesh with `meshctl up`)"
        )
    with tempfile.TemporaryDirectory(prefix="meshctl-spool-") as spool:
        bus = open_bus(settings, client_id="meshctl-cli", spool_dir=spool, publish_timeout=5.0)
        assert isinstance(bus, KafkaEventBus)  # a broker is configured
        if not started:
            yield bus
            return
        try:
            await probe_broker(bus.bootstrap, client_id="meshctl-cli", timeout=5.0)
        except TimeoutError:
            raise _unreachable(settings) from None
        async with bus:
            if bus.spooling:  # the broker went away between the check and the start
                raise _unreachable(settings)
            yield bus


def _unreachable(settings: MeshSettings) -> BrokerUnavailableError:
    return BrokerUnavailableError(f"Kafka broker at {settings.kafka_bootstrap} is unreachable")


@app.command("tail")
def tail(
    ctx: typer.Context,
    correlation_id: Annotated[
        str | None, typer.Option("--correlation-id", help="Only this correlation id's events.")
    ] = None,
    event_type: Annotated[
        str | None,
        typer.Option("--type", help="Event type or glob pattern, e.g. 'alert.*'."),
    ] = None,
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help="beginning, end, -N (last N events), -10m/-2h (ago) or a timestamp (UTC).",
        ),
    ] = "beginning",
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Keep printing new events.")
    ] = True,
    keyed_only: Annotated[
        bool,
        typer.Option(
            "--keyed-only",
            help="With --correlation-id: read only the partition the id hashes to (murmur2). "
            "Faster, but misses events from producers with another partitioner "
            "(kcat, confluent-kafka by default).",
        ),
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Print events as they arrive (Ctrl-C stops); exits 3 when the broker is unreachable.

    By correlation id every partition is read, the one the id hashes to first,
    so events from any producer are found.
    """
    begin = parse_start(start, datetime.now(UTC))
    settings = state(ctx).resolve().settings

    async def go() -> None:
        from meshctl.events import EventFilter

        EventFilter.of(event_type)  # a bad type name fails before the broker is asked
        async with command_bus(settings) as bus:
            events = bus.tail(
                correlation_id, event_type, start=begin, follow=follow, keyed_only=keyed_only
            )
            async for event in events:
                typer.echo(format_event(event, output), nl=False)

    try:
        run(go())
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command("publish")
def publish(
    ctx: typer.Context,
    event_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="Event type, e.g. violation.detected.")
    ],
    data: Annotated[
        str, typer.Option("--data", "-d", help="Event data: JSON object, @FILE or @-.")
    ] = "{}",
    correlation_id: Annotated[
        str | None, typer.Option("--correlation-id", help="Correlation id (default: a new one).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Publish one event and print its envelope; exits 3 when the broker is unreachable."""
    from meshctl.events import validate_event_type

    validate_event_type(event_type)
    payload = read_object(data)
    settings = state(ctx).resolve().settings

    async def go() -> Event:
        from meshctl.core.context import CorrelationContext

        context = CorrelationContext.new(correlation_id.strip() or None) if correlation_id else None
        async with command_bus(settings, started=True) as bus:
            event = await bus.publish(event_type, payload, context, source="meshctl")
        if event.offset is None:  # spooled: the broker went away, or refused the topic
            raise bus.topic_error or _unreachable(settings)
        return event

    event = run(go())
    row = {**event_row(event), "timestamp_ms": event.timestamp_ms}
    row.pop("malformed")
    row.pop("error")
    emit(row, output)


DRAIN_COLUMNS = ("spool", "status", "sent")


@app.command("drain")
def drain(
    ctx: typer.Context,
    spools: Annotated[
        list[Path] | None,
        typer.Option(
            "--spool",
            metavar="DIR",
            help="A spool directory to drain (repeatable). Default: every spool under "
            "$XDG_CACHE_HOME/meshctl/spool that no live process holds.",
        ),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Send the events that spools of exited processes still hold, now the broker is back.

    A spool a live process holds is left to it (status busy); each event of a
    spool is sent once, even after an earlier drain was interrupted. Exits 0
    when every spool it could take was emptied, 2 for a --spool that is not a
    directory, 3 when the broker is unreachable.
    """
    for directory in spools or []:
        if not directory.is_dir():
            raise InvalidRequestError(f"invalid --spool {directory}: not a directory")
    settings = state(ctx).resolve().settings

    async def go() -> list[dict[str, Any]]:
        from meshctl.events.spooldir import SpoolInUseError, default_spool_root, spool_dirs

        rows: list[dict[str, Any]] = []
        async with command_bus(settings, started=True) as bus:
            for directory in spools or spool_dirs(default_spool_root()):
                try:
                    sent = await bus.adopt(directory)
                except SpoolInUseError:
                    rows.append({"spool": str(directory), "status": "busy", "sent": 0})
                else:
                    rows.append({"spool": str(directory), "status": "drained", "sent": sent})
        return rows

    emit(run(go()), output, columns=DRAIN_COLUMNS)
