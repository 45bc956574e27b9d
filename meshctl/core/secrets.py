"""Secrets kept out of what people and logs see: passwords in URLs, secret settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:@/]*):(?P<pw>[^@/]*)@")
_QUERY_PASSWORD = re.compile(r"(?P<name>[?&][^=&#]*password=)[^&#]*", re.IGNORECASE)
SECRET_SETTINGS = frozenset({"jwt_secret", "admin_password"})
"""Settings whose whole value is secret."""
SECRET_FIELDS = frozenset({"password", "refresh_token", "access_token", "token"})
"""Request fields whose value is secret (a login's password, a token)."""


def redact_url(url: str) -> str:
    """``redis://:pw@host:6379/0`` → ``redis://:***@host:6379/0``, and the value of any
    ``...password=`` query option hidden too (``?sentinel_password=***``); URLs without a
    password are returned as they are."""
    url = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", url, count=1)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['name']}{REDACTED}", url)


def redact_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as they may be shown: secret ones replaced, passwords in URLs hidden."""
    shown: dict[str, Any] = {}
    for key, value in values.items():
        if key in SECRET_SETTINGS and value:
            shown[key] = REDACTED
        elif isinstance(value, str) and "://" in value:
            shown[key] = redact_url(value)
        else:
            shown[key] = value
    return shown


def redact_fields(request: Mapping[str, Any]) -> dict[str, Any]:
    """A request as it may be shown: the values of ``SECRET_FIELDS`` replaced."""
    return {k: REDACTED if k in SECRET_FIELDS and v else v for k, v in request.items()}
