"""Login sessions: tokens checked against the revocations, refresh tokens rotated.

A login starts a session (the tokens' ``fam``). Each refresh token may be
used once: refreshing revokes it and hands out a new pair of the same
session. A refresh token presented a second time means two parties hold it
(one of them stole it), so the whole session is revoked and both must log
in again. Logout revokes the presented token and its session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from meshctl.services.auth.revocation import Revocations
from meshctl.services.auth.tokens import LEEWAY, Claims, TokenError, TokenIssuer, TokenType

logger = logging.getLogger(__name__)


class Sessions:
    """Checks, rotates and ends sessions; time comes from ``clock``."""

    def __init__(
        self, tokens: TokenIssuer, revocations: Revocations, clock: Callable[[], float]
    ) -> None:
        self._tokens = tokens
        self._revocations = revocations
        self._clock = clock

    async def check(self, token: str, expected: TokenType) -> Claims:
        """The claims of a genuine, current, unrevoked token of type ``expected``."""
        claims = self._tokens.check(token, expected)
        if await self._revocations.any_revoked({claims.token_id, claims.family}):
            raise TokenError("token revoked")
        return claims

    async def use_refresh(self, token: str) -> Claims:
        """Spend a refresh token: its claims, once; a second use revokes its session."""
        claims = self._tokens.check(token, "refresh")
        if await self._revocations.any_revoked({claims.family}):
            raise TokenError("token revoked")
        if not await self._revocations.revoke(claims.token_id, claims.expires_at + LEEWAY):
            await self._revoke_session(claims)
            logger.warning(
                "auth: a refresh token of %r was used twice; its session is revoked",
                claims.subject,
            )
            raise TokenError("refresh token already used; the session is revoked, log in again")
        return claims

    async def end(self, claims: Claims) -> None:
        """Revoke the token of ``claims`` and every token of its session."""
        await self._revocations.revoke(claims.token_id, claims.expires_at + LEEWAY)
        await self._revoke_session(claims)

    async def _revoke_session(self, claims: Claims) -> None:
        # No token of the session, rotated or not, outlives the longest lifetime from now.
        until = self._clock() + self._tokens.max_ttl + LEEWAY
        await self._revocations.revoke(claims.family, until)
