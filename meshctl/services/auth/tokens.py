"""JWT access and refresh tokens (HS256): issue and check, against an injected clock.

PyJWT checks expiry against the wall clock, so expiry and issue time are
checked here instead, against the clock the issuer was given.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jwt

TokenType = Literal["access", "refresh"]
_ALGORITHM = "HS256"
_LEEWAY = 5.0


class TokenError(Exception):
    """A token is missing, malformed, forged, expired or of the wrong type."""


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says."""

    subject: str
    roles: tuple[str, ...]
    token_type: TokenType
    issued_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: float


class TokenIssuer:
    """Signs and checks tokens with one secret; time comes from ``clock``."""

    def __init__(
        self,
        secret: str,
        *,
        clock: Callable[[], float],
        access_ttl: float,
        refresh_ttl: float,
        issuer: str,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self._ttl: dict[TokenType, float] = {"access": access_ttl, "refresh": refresh_ttl}
        self._issuer = issuer

    @property
    def access_ttl(self) -> float:
        return self._ttl["access"]

    def issue(self, token_type: TokenType, subject: str, roles: Sequence[str]) -> str:
        """A signed token of ``token_type`` for ``subject``."""
        now = self._clock()
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "roles": list(roles),
            "type": token_type,
            "iat": int(now),
            "exp": int(now + self._ttl[token_type]),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._secret, algorithm=_ALGORITHM)

    def issue_pair(self, subject: str, roles: Sequence[str]) -> TokenPair:
        return TokenPair(
            access_token=self.issue("access", subject, roles),
            refresh_token=self.issue("refresh", subject, roles),
            expires_in=self._ttl["access"],
        )

    def check(self, token: str, expected: TokenType) -> Claims:
        """The claims of ``token`` if it is genuine, current and of type ``expected``."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["sub", "exp", "iat", "type"],
                },
            )
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        now = self._clock()
        kind, exp, iat = payload.get("type"), payload.get("exp"), payload.get("iat")
        roles = payload.get("roles", [])
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise TokenError("invalid token: exp and iat must be numbers")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenError("invalid token: roles must be a list of strings")
        if kind != expected:
            raise TokenError(f"expected a {expected} token, got {kind!r}")
        if now >= exp + _LEEWAY:
            raise TokenError("token expired")
        if iat > now + _LEEWAY:
            raise TokenError("token issued in the future")
        return Claims(str(payload["sub"]), tuple(roles), expected, float(iat), float(exp))
