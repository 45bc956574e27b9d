"""Password checks with argon2 that take about as long for unknown users as for known ones."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from meshctl.services.auth.storage import User, UserStore


class Authenticator:
    """Checks username/password pairs against the store."""

    def __init__(self, store: UserStore, hasher: PasswordHasher | None = None) -> None:
        self._store = store
        self._hasher = hasher or PasswordHasher()
        # Verified against when the user does not exist, so a miss costs a full hash.
        self._dummy_hash = self._hasher.hash("not-a-real-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches, else None (same work either way)."""
        user = await self._store.get(username)
        stored = user.password_hash if user is not None else self._dummy_hash
        ok = await asyncio.to_thread(self._verify, stored, password)
        return user if ok and user is not None else None

    async def ensure_user(self, username: str, password: str, roles: list[str]) -> bool:
        """Create ``username`` unless it exists; True if it was created."""
        if await self._store.get(username) is not None:
            return False
        return await self._store.create(username, await self.hash(password), roles)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
