"""Requests in (dict, pydantic model or protobuf message) and replies out (dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import BaseModel

from meshctl.errors import InvalidRequestError


def to_message(request: object, cls: type[Message], method: str) -> Message:
    """Build a ``cls`` message from ``request``; bad shapes name the field at fault."""
    if isinstance(request, cls):
        return request
    if isinstance(request, Message):
        raise InvalidRequestError(
            f"{method} takes {cls.DESCRIPTOR.full_name}, not {request.DESCRIPTOR.full_name}"
        )
    if isinstance(request, BaseModel):
        request = request.model_dump(mode="json", exclude_none=True)
    if request is None:
        request = {}
    if not isinstance(request, Mapping):
        raise InvalidRequestError(f"{method} takes a JSON object, not {type(request).__name__}")
    try:
        return json_format.ParseDict(dict(request), cls())
    except json_format.ParseError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else "does not fit the message"
        raise InvalidRequestError(f"invalid request for {method}: {first_line}") from None


def to_dict(message: Message) -> dict[str, Any]:
    """A reply as a plain dict with proto field names and every field present."""
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        # int64 fields as JSON numbers, not the proto3 JSON mapping's strings: counts stay numbers.
        unquote_int64_if_possible=True,
    )
