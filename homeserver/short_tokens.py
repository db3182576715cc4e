"""Short-lived opaque tokens that stand for a user: OpenID tokens (spec: "OpenID", an hour,
checked by other services through federation's /openid/userinfo) and login tokens (spec:
"m.login.token", two minutes, good for one login).

Kept in the database, only as the SHA-256 of each token, so that every process of the server
knows them and a restart keeps them (DESIGN.md, "Scale"). Expired tokens are deleted as new
ones are issued; a user holds at most `max_per_user` live tokens of a kind (past it their
oldest go), which bounds what a user can make the server store."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from homeserver.clock import now_ms
from homeserver.ids import UserID
from homeserver.storage.short_tokens import Grant, ShortTokenStore

OPENID_LIFETIME_MS = 3600 * 1000
LOGIN_TOKEN_LIFETIME_MS = 120 * 1000
MAX_PER_USER = 100  # live tokens of a kind per user
MAX_TOKEN_LENGTH = 128  # ours are 46 characters; anything longer is not one of them

__all__ = ["Claim", "Grant", "IssuedToken", "ShortLivedTokens"]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in_ms: int


@dataclass(frozen=True)
class Claim:
    """A consumed single-use token, which `restore` can put back if the login it was for
    failed on bad input (so that a typo does not burn the token)."""

    token_hash: str
    grant: Grant


class ShortLivedTokens:
    def __init__(
        self, store: ShortTokenStore, prefix: str, lifetime_ms: int, max_per_user: int = MAX_PER_USER
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._lifetime_ms = lifetime_ms
        self._max_per_user = max_per_user

    async def issue(self, user_id: UserID) -> IssuedToken:
        now = now_ms()
        token = self._prefix + secrets.token_urlsafe(32)
        grant = Grant(user_id, now + self._lifetime_ms)
        await self._store.add(_hash(token), grant, now=now, keep_per_user=self._max_per_user)
        return IssuedToken(token, self._lifetime_ms)

    async def owner(self, token: str) -> UserID | None:
        """The user a live token stands for; the token stays valid until it expires."""
        grant = await self._store.get(_hash(token)) if _plausible(token) else None
        return grant.user_id if grant is not None and grant.expires_ts > now_ms() else None

    async def consume(self, token: str) -> Claim | None:
        """Take a live token out (single use): the claim, or None if the token is unknown,
        already used or expired. Of two concurrent uses (in any processes), one gets it."""
        if not _plausible(token):
            return None
        token_hash = _hash(token)
        grant = await self._store.get(token_hash)
        if grant is None or grant.expires_ts <= now_ms() or not await self._store.take(token_hash):
            return None
        return Claim(token_hash, grant)

    async def restore(self, claim: Claim) -> None:
        """Put back a consumed token whose use failed before it took effect."""
        if claim.grant.expires_ts > now_ms():
            await self._store.put_back(claim.token_hash, claim.grant)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _plausible(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH
