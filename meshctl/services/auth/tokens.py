"""JWT access and refresh tokens (HS256): issue and check, against an injected clock.

PyJWT checks expiry against the wall clock, so the times are checked here
instead, against the clock the issuer was given, with ``LEEWAY`` seconds of
slack for clocks that disagree: ``iat`` and ``nbf`` not in the future, ``exp``
not past, and ``exp - iat`` no longer than this issuer's lifetime for the
token's type (a forged-looking ``exp=1e308`` from a leaked key, or a token
from an issuer configured with longer lifetimes, is refused).

Every token has an id (``jti``) and the id of the login it descends from
(``fam``): revoking either refuses the token (see ``revocation.py``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jwt

TokenType = Literal["access", "refresh"]
_ALGORITHM = "HS256"
LEEWAY = 5.0


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
    token_id: str
    family: str


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

    @property
    def max_ttl(self) -> float:
        """The longest lifetime of any token this issuer signs."""
        return max(self._ttl.values())

    def issue(
        self, token_type: TokenType, subject: str, roles: Sequence[str], family: str | None = None
    ) -> str:
        """A signed token of ``token_type`` for ``subject``, of ``family`` (None: a new one)."""
        now = self._clock()
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "roles": list(roles),
            "type": token_type,
            "iat": int(now),
            "exp": int(now + self._ttl[token_type]),
            "jti": uuid.uuid4().hex,
            "fam": family or uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._secret, algorithm=_ALGORITHM)

    def issue_pair(
        self, subject: str, roles: Sequence[str], family: str | None = None
    ) -> TokenPair:
        """Access and refresh tokens of ``family`` (a new login when None)."""
        family = family or uuid.uuid4().hex
        return TokenPair(
            access_token=self.issue("access", subject, roles, family),
            refresh_token=self.issue("refresh", subject, roles, family),
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
                    "require": ["sub", "exp", "iat", "type", "jti"],
                },
            )
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        return self._claims(payload, expected)

    def _claims(self, payload: dict[str, Any], expected: TokenType) -> Claims:
        now = self._clock()
        kind, exp, iat = payload.get("type"), _time(payload, "exp"), _time(payload, "iat")
        nbf = _time(payload, "nbf") if "nbf" in payload else None
        token_id, family = payload.get("jti"), payload.get("fam", payload.get("jti"))
        roles = payload.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenError("invalid token: roles must be a list of strings")
        if not (isinstance(token_id, str) and token_id and isinstance(family, str) and family):
            raise TokenError("invalid token: jti and fam must be non-empty strings")
        if kind != expected:
            raise TokenError(f"expected a {expected} token, got {kind!r}")
        if now >= exp + LEEWAY:
            raise TokenError("token expired")
        if iat > now + LEEWAY:
            raise TokenError("token issued in the future")
        if nbf is not None and nbf > now + LEEWAY:
            raise TokenError("token not valid yet (nbf in the future)")
        if exp - iat > self._ttl[expected] + LEEWAY:
            raise TokenError(f"token lives longer than a {expected} token may")
        return Claims(str(payload["sub"]), tuple(roles), expected, iat, exp, token_id, family)


def _time(payload: dict[str, Any], claim: str) -> float:
    """The time ``claim`` as a finite number of seconds."""
    value = payload.get(claim)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenError(f"invalid token: {claim} must be a finite number")
    return float(value)
