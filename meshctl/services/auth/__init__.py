"""The auth reference service: JWT login, refresh, logout and verify over HTTP.

Built from settings, it keeps revoked tokens in the registry's Redis, so
every auth instance of a mesh refuses a token any of them revoked. The host
(``meshctl.services.host``) restores the caller's correlation context and
echoes ``x-correlation-id`` in every response.
"""

from __future__ import annotations

import time

from meshctl.services.auth.app import AuthService
from meshctl.services.auth.config import AuthConfig, AuthConfigError
from meshctl.services.auth.revocation import RedisRevocations
from meshctl.services.base import ServiceSettings

__all__ = ["AuthConfig", "AuthConfigError", "AuthService", "build"]


def build(settings: ServiceSettings) -> AuthService:
    """The auth service configured from ``settings`` (``auth_dev_mode`` included).

    Raises:
        AuthConfigError: the JWT secret is empty, a placeholder (outside dev mode) or
            too short, or the administrator has no password.
    """
    config = AuthConfig.from_settings(settings)
    revocations = RedisRevocations(settings.redis_url, settings.prefix, time.time)
    return AuthService(config, revocations=revocations)
