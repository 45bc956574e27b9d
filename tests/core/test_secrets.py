"""Passwords kept out of what is shown: URLs and secret settings."""

from __future__ import annotations

import pytest

from meshctl.core.secrets import REDACTED, redact_fields, redact_settings, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"),
        ("rediss://ops:p%40ss@redis.prod:6380/1", "rediss://ops:***@redis.prod:6380/1"),
        (
            "postgresql+asyncpg://its:change-me@db:5432/its",
            "postgresql+asyncpg://its:***@db:5432/its",
        ),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://user@host:6379/0", "redis://user@host:6379/0"),  # no password to hide
        ("sqlite+aiosqlite:///meshctl.db", "sqlite+aiosqlite:///meshctl.db"),
        ("not a url", "not a url"),
        (
            "redis+sentinel://ops:s3cret@h1:26379,h2:26379,h3:26379/mesh/1",
            "redis+sentinel://ops:***@h1:26379,h2:26379,h3:26379/mesh/1",
        ),
        (
            "redis+sentinel://:pw@h1,h2/mesh?sentinel_username=s&sentinel_password=x%26y",
            "redis+sentinel://:***@h1,h2/mesh?sentinel_username=s&sentinel_password=***",
        ),
        ("redis+sentinel://h1:26379,h2:26379/mesh", "redis+sentinel://h1:26379,h2:26379/mesh"),
        ("redis://h:6379/0?password=pw&db=2", "redis://h:6379/0?password=***&db=2"),
    ],
)
def test_passwords_in_urls_are_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_settings_shown_hide_secrets_and_url_passwords() -> None:
    shown = redact_settings(
        {"redis_url": "redis://:pw@h:1/0", "jwt_secret": "k" * 40, "admin_password": "",
         "prefix": "mesh", "default_timeout": 30.0}
    )  # fmt: skip
    assert shown == {"redis_url": "redis://:***@h:1/0", "jwt_secret": "***", "admin_password": "",
                     "prefix": "mesh", "default_timeout": 30.0}  # fmt: skip


def test_request_fields_shown_hide_passwords_and_tokens() -> None:
    shown = redact_fields({"username": "admin", "password": "hunter2", "refresh_token": "r.t",
                           "token": "", "limit": 10})  # fmt: skip
    assert shown == {"username": "admin", "password": REDACTED, "refresh_token": REDACTED,
                     "token": "", "limit": 10}  # fmt: skip
