"""The auth reference service: JWT login, refresh and verify over HTTP.

The host (``meshctl.services.host``) restores the caller's correlation
context and echoes ``x-correlation-id`` in every response.
"""

from __future__ import annotations

from meshctl.services.auth.app import AuthService
from meshctl.services.auth.config import AuthConfig, AuthConfigError
from meshctl.services.base import ServiceSettings

__all__ = ["AuthConfig", "AuthConfigError", "AuthService", "build"]


def build(settings: ServiceSettings) -> AuthService:
    """The auth service configured from ``settings`` (``auth_dev_mode`` included).

    Raises:
        AuthConfigError: the JWT secret is empty or a placeholder outside dev mode.
    """
    return AuthService(AuthConfig.from_settings(settings))
