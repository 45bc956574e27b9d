"""Message shapes for ``meshctl describe``: field listings and request templates.

Pure functions over protobuf descriptors. A template holds every field with a
placeholder of its type, in the JSON mapping ``meshctl call -d`` accepts:
enums as their first non-zero name, nested messages expanded, repeated
fields as one-element lists, maps as ``{"key": value}``; a message already
being expanded (recursion) or deeper than ``MAX_DEPTH`` becomes ``{}``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

MAX_DEPTH = 6

_F = FieldDescriptor
_SCALAR_NAMES = {
    _F.TYPE_DOUBLE: "double", _F.TYPE_FLOAT: "float", _F.TYPE_INT64: "int64",
    _F.TYPE_UINT64: "uint64", _F.TYPE_INT32: "int32", _F.TYPE_FIXED64: "fixed64",
    _F.TYPE_FIXED32: "fixed32", _F.TYPE_BOOL: "bool", _F.TYPE_STRING: "string",
    _F.TYPE_BYTES: "bytes", _F.TYPE_UINT32: "uint32", _F.TYPE_SFIXED32: "sfixed32",
    _F.TYPE_SFIXED64: "sfixed64", _F.TYPE_SINT32: "sint32", _F.TYPE_SINT64: "sint64",
}  # fmt: skip
_FLOATS = (_F.TYPE_DOUBLE, _F.TYPE_FLOAT)
# Well-known types have their own JSON spelling rather than an object.
_WELL_KNOWN: dict[str, Any] = {
    "google.protobuf.Timestamp": "1970-01-01T00:00:00Z",
    "google.protobuf.Duration": "0s",
    "google.protobuf.Struct": {},
    "google.protobuf.Value": None,
    "google.protobuf.ListValue": [],
    "google.protobuf.Empty": {},
    "google.protobuf.StringValue": "",
    "google.protobuf.BytesValue": "",
    "google.protobuf.BoolValue": False,
    "google.protobuf.DoubleValue": 0.0,
    "google.protobuf.FloatValue": 0.0,
    "google.protobuf.Int32Value": 0,
    "google.protobuf.Int64Value": 0,
    "google.protobuf.UInt32Value": 0,
    "google.protobuf.UInt64Value": 0,
}
_NOT_WELL_KNOWN = object()


def _map_entry(field: FieldDescriptor) -> Descriptor | None:
    """The key/value entry message of a map field (None for other fields)."""
    entry = field.message_type
    return entry if entry is not None and entry.GetOptions().map_entry else None


def type_name(field: FieldDescriptor) -> str:
    """How a field's type reads: ``string``, ``repeated its.v1.Lane``, ``map<string, int32>``."""
    entry = _map_entry(field)
    if entry is not None:
        key, value = (entry.fields_by_name[n] for n in ("key", "value"))
        return f"map<{type_name(key)}, {type_name(value)}>"
    if field.message_type is not None:
        base = field.message_type.full_name
    elif field.enum_type is not None:
        base = f"enum {field.enum_type.full_name}"
    else:
        base = _SCALAR_NAMES.get(field.type, "?")
    return f"repeated {base}" if field.is_repeated else base


def field_rows(message: Descriptor) -> list[dict[str, Any]]:
    """One row per field of ``message``: name, number and type."""
    return [{"name": f.name, "number": f.number, "type": type_name(f)} for f in message.fields]


def enum_placeholder(enum: EnumDescriptor) -> str:
    """The first non-zero value's name (the zero value is usually UNSPECIFIED)."""
    values = sorted(enum.values, key=lambda v: v.number)
    chosen = next((v for v in values if v.number != 0), values[0])
    return str(chosen.name)


def template(message: Descriptor) -> dict[str, Any]:
    """A request of ``message``'s shape with a placeholder in every field."""
    return _expand(message, ())


def _expand(message: Descriptor, stack: tuple[str, ...]) -> dict[str, Any]:
    if message.full_name in stack or len(stack) >= MAX_DEPTH:
        return {}
    inner = (*stack, message.full_name)
    return {f.name: _field_value(f, inner) for f in message.fields}


def _field_value(field: FieldDescriptor, stack: tuple[str, ...]) -> Any:
    entry = _map_entry(field)
    if entry is not None:
        return {"key": _single(entry.fields_by_name["value"], stack)}
    one = _single(field, stack)
    return [one] if field.is_repeated else one


def _single(field: FieldDescriptor, stack: tuple[str, ...]) -> Any:
    """The placeholder of one (non-repeated) value of ``field``."""
    if field.message_type is not None:
        known = _WELL_KNOWN.get(field.message_type.full_name, _NOT_WELL_KNOWN)
        return _expand(field.message_type, stack) if known is _NOT_WELL_KNOWN else known
    if field.enum_type is not None:
        return enum_placeholder(field.enum_type)
    if field.type == _F.TYPE_BOOL:
        return False
    if field.type in (_F.TYPE_STRING, _F.TYPE_BYTES):
        return ""
    return 0.0 if field.type in _FLOATS else 0
