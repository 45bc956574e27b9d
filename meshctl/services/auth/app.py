"""The auth service's HTTP API (FastAPI) and its hosting object."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Annotated, Any

from argon2 import PasswordHasher
from fastapi import FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from meshctl.errors import RegistryUnavailableError
from meshctl.services.auth.config import AuthConfig
from meshctl.services.auth.credentials import Authenticator
from meshctl.services.auth.ratelimit import Key, LoginLimiter
from meshctl.services.auth.revocation import MemoryRevocations, Revocations
from meshctl.services.auth.sessions import Sessions
from meshctl.services.auth.storage import User, UserStore
from meshctl.services.auth.tokens import Claims, TokenError, TokenIssuer

logger = logging.getLogger(__name__)

BASE = "/api/v1/auth"
ROUTES = {
    "login": f"POST {BASE}/login",
    "refresh": f"POST {BASE}/refresh",
    "logout": f"POST {BASE}/logout",
    "verify": f"GET {BASE}/verify",
    "health": f"GET {BASE}/health",
}


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=8192)


class AuthError(Exception):
    """Answered as ``status`` (401 by default) with ``{"error": code, "detail": detail}``."""

    def __init__(
        self, code: str, detail: str, *, status: int = 401, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


def _refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(math.ceil(exc.retry_after))
    return JSONResponse(
        {"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=headers
    )


def _unavailable(_: Request, exc: Exception) -> Response:
    """Revocations cannot be read: refuse rather than accept a token that may be revoked."""
    return JSONResponse({"error": "unavailable", "detail": str(exc)}, status_code=503)


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("missing_token", "send 'Authorization: Bearer <access token>'")
    return token.strip()


def _login_keys(username: str, request: Request) -> list[Key]:
    # The peer's address: a proxy in front makes every client one address (docs/security.md).
    address = request.client.host if request.client is not None else "unknown"
    return [("user", username), ("address", address)]


def create_api(
    store: UserStore,
    authenticator: Authenticator,
    tokens: TokenIssuer,
    sessions: Sessions,
    limiter: LoginLimiter,
) -> FastAPI:
    """The FastAPI application serving the auth routes."""
    api = FastAPI(title="meshctl auth", docs_url=None, redoc_url=None, openapi_url=None)
    api.add_exception_handler(AuthError, _refused)
    api.add_exception_handler(RegistryUnavailableError, _unavailable)

    async def checked(token: str) -> Claims:
        """The claims of a genuine, current, unrevoked access token."""
        try:
            return await sessions.check(token, "access")
        except TokenError as exc:
            raise AuthError("invalid_token", str(exc)) from exc

    async def holder(claims: Claims) -> User:
        """The token's user, read again: a deleted user's tokens die, roles are current."""
        user = await store.get(claims.subject)
        if user is None:
            raise AuthError("invalid_token", "the token's user no longer exists")
        return user

    @api.post(f"{BASE}/login")
    async def login(body: LoginRequest, request: Request) -> dict[str, Any]:
        keys = _login_keys(body.username, request)
        wait = limiter.admit(keys)
        if wait > 0:
            raise AuthError(
                "too_many_attempts",
                f"too many failed logins; try again in {math.ceil(wait)} s",
                status=429,
                retry_after=wait,
            )
        user = None
        try:
            user = await authenticator.authenticate(body.username, body.password)
        finally:  # an error counts as a failure: nobody gets free attempts out of one
            locked = limiter.finish(keys, ok=user is not None)
        for (kind, value), seconds in locked.items():
            logger.warning("auth: login locked for %s %r for %.0f s", kind, value, seconds)
        if user is None:
            raise AuthError("invalid_credentials", "unknown user or wrong password")
        return _pair(tokens, user)

    @api.post(f"{BASE}/refresh")
    async def refresh(body: RefreshRequest) -> dict[str, Any]:
        try:
            claims = await sessions.use_refresh(body.refresh_token)
        except TokenError as exc:
            raise AuthError("invalid_token", str(exc)) from exc
        return _pair(tokens, await holder(claims), claims.family)

    @api.post(f"{BASE}/logout")
    async def logout(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        await sessions.end(await checked(_bearer(authorization)))
        return {"revoked": True}

    @api.get(f"{BASE}/verify")
    async def verify(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        claims = await checked(_bearer(authorization))
        user = await holder(claims)
        return {
            "subject": user.username,
            "roles": list(user.roles),
            "expires_at": claims.expires_at,
        }

    @api.get(f"{BASE}/health")
    async def health() -> Response:
        reachable = await store.ping()
        return JSONResponse(
            {"status": "healthy" if reachable else "unhealthy", "database": reachable},
            status_code=200 if reachable else 503,
        )

    return api


def _pair(tokens: TokenIssuer, user: User, family: str | None = None) -> dict[str, Any]:
    pair = tokens.issue_pair(user.username, user.roles, family)
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "bearer",
        "expires_in": pair.expires_in,
    }


class AuthService:
    """The auth service as the host runs it: an ASGI app plus start/stop."""

    name = "auth"

    def __init__(
        self,
        config: AuthConfig,
        *,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
        revocations: Revocations | None = None,
    ) -> None:
        """``revocations`` shared by every instance (Redis), else this process's own."""
        self._config = config
        self._store = UserStore(config.database_url)
        self._authenticator = Authenticator(self._store, hasher)
        tokens = TokenIssuer(
            config.jwt_secret,
            clock=clock,
            access_ttl=config.access_ttl,
            refresh_ttl=config.refresh_ttl,
            issuer=config.issuer,
        )
        self._revocations = revocations or MemoryRevocations(clock)
        sessions = Sessions(tokens, self._revocations, clock)
        limiter = LoginLimiter(config.login_limit, clock)
        self.asgi_app: Any = create_api(self._store, self._authenticator, tokens, sessions, limiter)
        self.metadata: dict[str, str] = {f"route.{k}": v for k, v in ROUTES.items()}
        self.metadata["health_path"] = f"{BASE}/health"

    async def start(self) -> None:
        """Create the tables and the initial administrator if absent."""
        await self._store.open()
        if self._config.admin_user:
            await self._authenticator.ensure_user(
                self._config.admin_user, self._config.admin_password, ["admin"]
            )

    async def stop(self) -> None:
        await self._store.close()
        await self._revocations.aclose()
