"""Spans of the process in memory, for tests that check what was traced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from meshctl.transport.tracing import PROCESS_TRACING


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process finishes while the test runs."""
    exporter = InMemorySpanExporter()
    release = PROCESS_TRACING.start("tests", SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        release()


def hex_id(value: int, width: int = 16) -> str:
    return format(value, f"0{width}x")


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]
