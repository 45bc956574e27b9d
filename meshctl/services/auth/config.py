"""The auth service's configuration, validated once at the edge."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from meshctl.errors import InvalidRequestError
from meshctl.services.auth.ratelimit import LoginLimit
from meshctl.services.base import ServiceSettings

logger = logging.getLogger(__name__)

# Secrets everyone knows are no secrets: refused like an empty one.
_PLACEHOLDER_SECRETS = frozenset({"", "change-me"})
# HS256 keys shorter than the hash's output make brute-forcing a token's key easier (RFC 7518).
MIN_SECRET_BYTES = 32


class AuthConfigError(InvalidRequestError):
    """The auth service cannot start with this configuration."""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """What the auth service needs to run.

    Args:
        database_url: where users are stored (see ``meshctl.services.db``).
        jwt_secret: HS256 signing key of at least ``MIN_SECRET_BYTES`` bytes.
        admin_user: initial administrator, created at start if absent ("" for none).
        admin_password: that administrator's password.
        access_ttl: lifetime of an access token, in seconds.
        refresh_ttl: lifetime of a refresh token, in seconds.
        issuer: the ``iss`` claim of every token.
        login_limit: failed logins allowed per username and client address.
    """

    database_url: str
    jwt_secret: str
    admin_user: str = "admin"
    admin_password: str = ""
    access_ttl: float = 900.0
    refresh_ttl: float = 7 * 24 * 3600.0
    issuer: str = "meshctl-auth"
    login_limit: LoginLimit = field(default_factory=LoginLimit)

    def __post_init__(self) -> None:
        if self.jwt_secret in _PLACEHOLDER_SECRETS:
            raise AuthConfigError(
                f"auth: the JWT secret is empty or a placeholder ({self.jwt_secret!r}); "
                "set MESH_JWT_SECRET "
                "(or MESH_AUTH_DEV_MODE=true to generate a throwaway one)"
            )
        if len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise AuthConfigError(
                f"auth: the JWT secret has {len(self.jwt_secret.encode())} bytes, "
                f"at least {MIN_SECRET_BYTES} are needed; set MESH_JWT_SECRET to a random one, "
                "e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        if self.access_ttl <= 0 or self.refresh_ttl <= 0:
            raise AuthConfigError("auth: token lifetimes must be positive")
        if self.admin_user and not self.admin_password:
            raise AuthConfigError(
                f"auth: admin user {self.admin_user!r} has no password; "
                "set MESH_ADMIN_PASSWORD (or MESH_ADMIN_USER='' for none)"
            )

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> AuthConfig:
        """The auth options of the services' shared settings (``auth_dev_mode`` included)."""
        return cls(
            database_url=settings.database_url_of("auth"),
            jwt_secret=resolve_secret(settings.jwt_secret, dev_mode=settings.auth_dev_mode),
            admin_user=settings.admin_user,
            admin_password=settings.admin_password,
            access_ttl=settings.jwt_ttl_seconds,
            refresh_ttl=settings.refresh_ttl_seconds,
        )


def resolve_secret(secret: str, *, dev_mode: bool) -> str:
    """``secret`` itself, or a random one in dev mode (and say so in the log)."""
    if secret not in _PLACEHOLDER_SECRETS or not dev_mode:
        return secret
    logger.warning("auth: dev mode, generated a random JWT secret; tokens die with this process")
    return secrets.token_urlsafe(48)
