"""Check requests and resolve recipients; every refusal names the offending field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from meshctl.errors import InvalidRequestError
from meshctl.proto.its.v1 import alert_pb2 as apb
from meshctl.services.alert.rules import CHANNELS

MAX_ID = 128
MAX_TITLE = 256
MAX_MESSAGE = 10_000
MAX_RECIPIENTS = 100

_CHANNEL_NAMES: dict[int, str] = {
    apb.ALERT_CHANNEL_EMAIL: "email",
    apb.ALERT_CHANNEL_SMS: "sms",
    apb.ALERT_CHANNEL_WEBHOOK: "webhook",
}
CHANNEL_VALUES: dict[str, int] = {name: value for value, name in _CHANNEL_NAMES.items()}
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,30}$")


def check_text(value: str, field: str, *, limit: int, required: bool = True) -> str:
    """``value`` if present (when required) and within ``limit`` characters."""
    if required and not value.strip():
        raise InvalidRequestError(f"{field}: required")
    if len(value) > limit:
        raise InvalidRequestError(f"{field}: longer than {limit} characters")
    return value


def check_address(channel: str, address: str, field: str) -> str:
    """A recipient address valid for ``channel``: e-mail, phone number or http(s) URL."""
    address = address.strip()
    if channel == "email":
        ok = bool(_EMAIL.match(address))
    elif channel == "sms":
        ok = bool(_PHONE.match(address))
    else:
        parts = urlsplit(address)
        ok = parts.scheme in ("http", "https") and bool(parts.netloc)
    if not ok or len(address) > 512:
        raise InvalidRequestError(f"{field}: {address!r} is not a valid {channel} address")
    return address


def channel_names(values: Iterable[int], field: str) -> list[str]:
    """Channel names of proto enum values, in order, without repeats."""
    names: list[str] = []
    for value in values:
        name = _CHANNEL_NAMES.get(value)
        if name is None:
            raise InvalidRequestError(f"{field}: unknown or unspecified channel {value}")
        if name not in names:
            names.append(name)
    return names


def request_recipients(recipients: Sequence[apb.Recipient]) -> dict[str, list[str]]:
    """The request's recipients by channel, each address checked."""
    if len(recipients) > MAX_RECIPIENTS:
        raise InvalidRequestError(f"recipients: more than {MAX_RECIPIENTS}")
    by_channel: dict[str, list[str]] = {}
    for n, recipient in enumerate(recipients):
        field = f"recipients[{n}]"
        (channel,) = channel_names([recipient.channel], f"{field}.channel")
        address = check_address(channel, recipient.address, f"{field}.address")
        by_channel.setdefault(channel, []).append(address)
    return by_channel


def parse_default_recipients(entries: Iterable[str]) -> dict[str, list[str]]:
    """Configured recipients ``"channel:address"`` (a bare ``a@b.c`` is e-mail), by channel.

    Raises:
        InvalidRequestError: an entry names an unknown channel or a bad address.
    """
    by_channel: dict[str, list[str]] = {}
    for entry in entries:
        channel, sep, address = entry.partition(":")
        if not sep or channel not in CHANNELS:
            channel, address = "email", entry
        address = check_address(channel, address, "alert_recipients")
        by_channel.setdefault(channel, []).append(address)
    return by_channel


def resolve_targets(
    channels: Sequence[str],
    explicit: Mapping[str, list[str]],
    defaults: Mapping[str, list[str]],
    *,
    strict: bool,
) -> list[tuple[str, str]]:
    """``(channel, address)`` pairs: the request's recipients, else the configured ones.

    With ``strict`` (channels the caller named), a channel nobody can receive on
    is an error; otherwise (channels picked by rules) it is skipped.
    """
    targets: list[tuple[str, str]] = []
    for channel in channels:
        addresses = explicit.get(channel) or defaults.get(channel, [])
        if not addresses and strict:
            raise InvalidRequestError(f"recipients: no recipient for the {channel} channel")
        targets.extend((channel, address) for address in addresses)
    return targets
