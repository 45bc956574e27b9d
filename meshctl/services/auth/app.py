"""The auth service's HTTP API (FastAPI) and its hosting object."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from argon2 import PasswordHasher
from fastapi import FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from meshctl.services.auth.config import AuthConfig
from meshctl.services.auth.credentials import Authenticator
from meshctl.services.auth.storage import UserStore
from meshctl.services.auth.tokens import TokenError, TokenIssuer

BASE = "/api/v1/auth"
ROUTES = {
    "login": f"POST {BASE}/login",
    "refresh": f"POST {BASE}/refresh",
    "verify": f"GET {BASE}/verify",
    "health": f"GET {BASE}/health",
}


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=8192)


class AuthError(Exception):
    """Answered as 401 with ``{"error": code, "detail": detail}``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _unauthorized(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    return JSONResponse(
        {"error": exc.code, "detail": exc.detail},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("missing_token", "send 'Authorization: Bearer <access token>'")
    return token.strip()


def create_api(store: UserStore, authenticator: Authenticator, tokens: TokenIssuer) -> FastAPI:
    """The FastAPI application serving the four auth routes."""
    api = FastAPI(title="meshctl auth", docs_url=None, redoc_url=None, openapi_url=None)
    api.add_exception_handler(AuthError, _unauthorized)

    @api.post(f"{BASE}/login")
    async def login(body: LoginRequest) -> dict[str, Any]:
        user = await authenticator.authenticate(body.username, body.password)
        if user is None:
            raise AuthError("invalid_credentials", "unknown user or wrong password")
        pair = tokens.issue_pair(user.username, user.roles)
        return {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "bearer",
            "expires_in": pair.expires_in,
        }

    @api.post(f"{BASE}/refresh")
    async def refresh(body: RefreshRequest) -> dict[str, Any]:
        try:
            claims = tokens.check(body.refresh_token, "refresh")
        except TokenError as exc:
            raise AuthError("invalid_token", str(exc)) from exc
        # Roles are read again so a change (or a deleted user) takes effect on refresh.
        user = await store.get(claims.subject)
        if user is None:
            raise AuthError("invalid_token", "the token's user no longer exists")
        return {
            "access_token": tokens.issue("access", user.username, user.roles),
            "token_type": "bearer",
            "expires_in": tokens.access_ttl,
        }

    @api.get(f"{BASE}/verify")
    async def verify(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        try:
            claims = tokens.check(_bearer(authorization), "access")
        except TokenError as exc:
            raise AuthError("invalid_token", str(exc)) from exc
        return {
            "subject": claims.subject,
            "roles": list(claims.roles),
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


class AuthService:
    """The auth service as the host runs it: an ASGI app plus start/stop."""

    name = "auth"

    def __init__(
        self,
        config: AuthConfig,
        *,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
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
        self.asgi_app: Any = create_api(self._store, self._authenticator, tokens)
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
