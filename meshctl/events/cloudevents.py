"""CloudEvents 1.0 on Kafka: the record meshctl writes, and every form it reads.

meshctl writes the Kafka protocol binding's *binary* content mode: the
event's attributes are ``ce_*`` headers, ``content-type`` is
``application/json`` and the value is the event's data alone. Extension
attributes: ``ce_correlationid`` (the correlation id) and the Distributed
Tracing extension's ``ce_traceparent``/``ce_tracestate``. The W3C
``traceparent``/``tracestate`` headers and ``x-user-id``/``x-session-id``
ride along unprefixed, as on the mesh's other transports, for propagators
that read them there.

The mesh's event types map to CloudEvents types by a fixed prefix:
``violation.detected`` <-> ``its.violation.detected`` (``TYPE_PREFIX``);
a foreign type without the prefix is kept as it is. ``source`` is
``/meshctl/<client or service>``, the name percent-encoded.

Reading accepts binary mode, *structured* mode (``content-type:
application/cloudevents+json``, the whole event as the JSON value) and the
older meshctl envelope (``envelope.py``); all three give the same ``Event``.
What is none of them becomes a malformed ``Event`` (never an exception).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import quote, unquote

from meshctl.core.context import TRACEPARENT_HEADER, TRACESTATE_HEADER, parse_traceparent
from meshctl.errors import InvalidRequestError

from .envelope import (
    CORRELATION_ID,
    EVENT_TYPE,
    Event,
    Headers,
    decode_event,
    decode_headers,
    malformed_event,
)

SPECVERSION = "1.0"
TYPE_PREFIX = "its."
SOURCE_PREFIX = "/meshctl/"
JSON_CONTENT = "application/json"
STRUCTURED_CONTENT = "application/cloudevents+json"

CONTENT_TYPE = "content-type"
CE_SPECVERSION = "ce_specversion"
CE_ID = "ce_id"
CE_SOURCE = "ce_source"
CE_TYPE = "ce_type"
CE_TIME = "ce_time"
CE_SUBJECT = "ce_subject"
CE_CORRELATIONID = "ce_correlationid"
CE_TRACEPARENT = "ce_traceparent"
CE_TRACESTATE = "ce_tracestate"

_CE = "ce_"
_REQUIRED = ("id", "source", "type")
# An Event's propagation headers go on the wire as they are, but for these two, which
# are attributes already (ce_correlationid, ce_type); trace context goes both as the
# Distributed Tracing extension and as the W3C headers.
_CARRIED = frozenset({CORRELATION_ID, EVENT_TYPE})


def _not_json(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every publish: json.dumps(..., separators=...) builds a new encoder per
# call, and even a kept JSONEncoder builds its C encoder on every encode().
_chunks = (
    c_make_encoder(None, _not_json, encode_basestring_ascii, None, ":", ",", False, False, False)
    if c_make_encoder is not None
    else None
)
_encode_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def ce_type(event_type: str) -> str:
    """The CloudEvents ``type`` of a mesh event type."""
    return TYPE_PREFIX + event_type


def event_type_of(type_attr: str) -> str:
    """The mesh event type of a CloudEvents ``type`` (foreign types unchanged)."""
    return type_attr[len(TYPE_PREFIX) :] if type_attr.startswith(TYPE_PREFIX) else type_attr


def source_uri(source: str) -> str:
    """The ``source`` URI-reference of a meshctl client or service name."""
    return SOURCE_PREFIX + quote(source, safe="")


def source_of(uri: str) -> str:
    """The client or service name of a meshctl ``source``; a foreign one as it is."""
    return unquote(uri[len(SOURCE_PREFIX) :]) if uri.startswith(SOURCE_PREFIX) else uri


def rfc3339(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class _Clock:
    """``ce_time`` text and epoch milliseconds of a moment, the whole seconds' text kept.

    An aware datetime's isoformat() is the costliest header of an event; the
    events of one second share all of it but the fraction.
    """

    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def stamp(self, moment: datetime) -> tuple[bytes, int]:
        """``moment`` (aware) as RFC 3339 text and as epoch milliseconds."""
        since = moment - self.epoch
        second = since.days * 86_400 + since.seconds
        micro = since.microseconds
        epoch_ms = second * 1000 + micro // 1000
        if moment.tzinfo is not UTC:
            return rfc3339(moment).encode(), epoch_ms
        if second != self.second:
            self.second, self.text = second, rfc3339(moment.replace(microsecond=0))[:-1]
        return f"{self.text}.{micro:06d}Z".encode(), epoch_ms


_clock = _Clock()


def encode_data(data: Mapping[str, Any]) -> bytes:
    """The record value; raises InvalidRequestError when ``data`` is not plain JSON."""
    try:
        return ("".join(_chunks(data, 0)) if _chunks else _encode_json(data)).encode()
    except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: data holds itself
        raise InvalidRequestError(f"event data is not JSON-serialisable: {exc}") from exc


@functools.lru_cache(maxsize=1024)
def _fixed_headers(source: str, event_type: str) -> tuple[tuple[str, bytes], ...]:
    """The headers every event of one source and type shares, encoded once."""
    return (
        (CE_SPECVERSION, SPECVERSION.encode()),
        (CE_TYPE, ce_type(event_type).encode()),
        (CE_SOURCE, source_uri(source).encode()),
        (CONTENT_TYPE, JSON_CONTENT.encode()),
    )


def encode_record(event: Event) -> tuple[bytes, Headers, int]:
    """The binary-mode value, headers and timestamp (epoch ms) of ``event``.

    Raises InvalidRequestError when the data is not plain JSON.
    """
    time_text, timestamp_ms = _clock.stamp(event.occurred_at)
    headers = [
        *_fixed_headers(event.source, event.event_type),
        (CE_ID, event.event_id.encode()),
        (CE_TIME, time_text),
        (CE_CORRELATIONID, event.correlation_id.encode()),
    ]
    for name, value in event.headers.items():
        if name in _CARRIED:
            continue
        wire = value.encode()
        if name == TRACEPARENT_HEADER:
            headers.append((CE_TRACEPARENT, wire))
        elif name == TRACESTATE_HEADER:
            headers.append((CE_TRACESTATE, wire))
        headers.append((name, wire))
    return encode_data(event.data), headers, timestamp_ms


def routing(headers: Iterable[tuple[str, bytes | None]] | None) -> tuple[str | None, str | None]:
    """``(correlation id, event type)`` from the headers alone, for filtering before decoding.

    CloudEvents attributes win over the older envelope's headers; either may
    be None (a structured-mode record carries both in its value).
    """
    cid = legacy_cid = etype = legacy_type = None
    for key, value in headers or ():
        if key == CE_CORRELATIONID:
            cid = (value or b"").decode("utf-8", "replace")
        elif key == CE_TYPE:
            etype = event_type_of((value or b"").decode("utf-8", "replace"))
        elif key == CORRELATION_ID:
            legacy_cid = (value or b"").decode("utf-8", "replace")
        elif key == EVENT_TYPE:
            legacy_type = (value or b"").decode("utf-8", "replace")
    return cid if cid is not None else legacy_cid, etype if etype is not None else legacy_type


def is_structured(headers: Mapping[str, str]) -> bool:
    return _media_type(headers.get(CONTENT_TYPE, "")) == STRUCTURED_CONTENT


def decode_record(
    value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | None, **where: Any
) -> Event:
    """Decode a record in any form meshctl reads; garbage becomes a malformed Event."""
    text = decode_headers(headers)
    if CE_SPECVERSION in text:
        decode = _from_binary
    elif is_structured(text):
        decode = _from_structured
    else:
        return decode_event(value, text, **where)
    try:
        return decode(value, text, where)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return malformed_event(
            value, text, str(exc), correlation_id=text.get(CE_CORRELATIONID), **where
        )


def _from_binary(value: bytes | None, headers: dict[str, str], where: dict[str, Any]) -> Event:
    attrs: dict[str, Any] = {k[len(_CE) :]: v for k, v in headers.items() if k.startswith(_CE)}
    attrs["datacontenttype"] = headers.get(CONTENT_TYPE)
    return _event(attrs, _json_data(value, attrs["datacontenttype"]), headers, where)


def _from_structured(value: bytes | None, headers: dict[str, str], where: dict[str, Any]) -> Event:
    body = json.loads(value) if value is not None else None
    if not isinstance(body, dict):
        raise ValueError("structured CloudEvent is not a JSON object")
    content_type = body.get("datacontenttype")
    if "data_base64" in body:
        try:
            raw = base64.b64decode(str(body["data_base64"]), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"data_base64 is not base64: {exc}") from exc
        data = _json_data(raw, content_type)
    else:
        data = _object(body.get("data"))
    return _event(body, data, headers, where)


def _event(
    attrs: Mapping[str, Any], data: dict[str, Any], headers: dict[str, str], where: dict[str, Any]
) -> Event:
    if attrs.get("specversion") != SPECVERSION:
        raise ValueError(f"unsupported CloudEvents specversion {attrs.get('specversion')!r}")
    missing = [a for a in _REQUIRED if not isinstance(attrs.get(a), str) or not attrs[a]]
    if missing:
        raise ValueError(f"CloudEvent lacks {', '.join(missing)}")
    time = attrs.get("time")
    if time is None:
        occurred_at = datetime.fromtimestamp((where.get("timestamp_ms") or 0) / 1000, UTC)
    elif isinstance(time, str):
        occurred_at = datetime.fromisoformat(time)
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=UTC)
    else:
        raise ValueError("CloudEvent time is not a string")
    traceparent = parse_traceparent(str(attrs.get("traceparent") or headers.get("traceparent", "")))
    return Event(
        event_id=attrs["id"],
        event_type=event_type_of(attrs["type"]),
        source=source_of(attrs["source"]),
        occurred_at=occurred_at,
        correlation_id=str(attrs.get("correlationid") or ""),
        trace_id=traceparent[0] if traceparent else "",
        data=data,
        headers=headers,
        **where,
    )


def _json_data(value: bytes | None, content_type: str | None) -> dict[str, Any]:
    if not value:
        return {}
    media = _media_type(content_type or JSON_CONTENT)
    if media != JSON_CONTENT and not media.endswith("+json") and media != "text/json":
        raise ValueError(f"data of content type {content_type!r} is not JSON")
    return _object(json.loads(value))


def _object(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("CloudEvent data is not a JSON object")
    return data


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()
