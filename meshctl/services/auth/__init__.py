"""The auth reference service: JWT login, refresh and verify over HTTP."""

from __future__ import annotations

from meshctl.services.auth.app import AuthService
from meshctl.services.auth.config import AuthConfig, AuthConfigError

__all__ = ["AuthConfig", "AuthConfigError", "AuthService"]
