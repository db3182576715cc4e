"""Short-lived opaque tokens that stand for a user: OpenID tokens (spec: "OpenID", an hour,
checked by other services through federation's /openid/userinfo) and login tokens (spec:
"m.login.token", two minutes, good for one login).

Kept in memory, only as the SHA-256 of each token, until the database has a table for them:
a token issued by one process is unknown to another, and a restart forgets them all (their
holders ask for a new one). Tokens of one store share a lifetime, so the order they were issued
in is the order they expire in: expired ones are dropped from the front as new ones come."""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from homeserver.clock import now_ms
from homeserver.ids import UserID

OPENID_LIFETIME_MS = 3600 * 1000
LOGIN_TOKEN_LIFETIME_MS = 120 * 1000
# Live tokens kept per store; past it the oldest go first (each costs ~200 bytes).
MAX_TOKENS = 100_000
MAX_TOKEN_LENGTH = 128  # ours are 46 characters; anything longer is not one of them


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in_ms: int


@dataclass(frozen=True)
class Grant:
    user_id: UserID
    expires_ts: int


@dataclass(frozen=True)
class Claim:
    """A consumed single-use token, which `restore` can put back if the login it was for
    failed on bad input (so that a typo does not burn the token)."""

    token_hash: str
    grant: Grant


class ShortLivedTokens:
    def __init__(self, prefix: str, lifetime_ms: int, max_tokens: int = MAX_TOKENS) -> None:
        self._prefix = prefix
        self._lifetime_ms = lifetime_ms
        self._max_tokens = max_tokens
        self._grants: OrderedDict[str, Grant] = OrderedDict()

    def issue(self, user_id: UserID) -> IssuedToken:
        now = now_ms()
        self._drop_expired(now)
        token = self._prefix + secrets.token_urlsafe(32)
        self._grants[_hash(token)] = Grant(user_id, now + self._lifetime_ms)
        while len(self._grants) > self._max_tokens:
            self._grants.popitem(last=False)
        return IssuedToken(token, self._lifetime_ms)

    def owner(self, token: str) -> UserID | None:
        """The user a live token stands for; the token stays valid until it expires."""
        grant = self._grants.get(_hash(token)) if _plausible(token) else None
        return grant.user_id if grant is not None and grant.expires_ts > now_ms() else None

    def consume(self, token: str) -> Claim | None:
        """Take a live token out (single use): the claim, or None if the token is unknown,
        already used or expired."""
        if not _plausible(token):
            return None
        token_hash = _hash(token)
        grant = self._grants.pop(token_hash, None)
        if grant is None or grant.expires_ts <= now_ms():
            return None
        return Claim(token_hash, grant)

    def restore(self, claim: Claim) -> None:
        """Put back a consumed token whose use failed before it took effect."""
        # At the end, out of expiry order: it is dropped late, but never taken for live.
        if claim.grant.expires_ts > now_ms():
            self._grants[claim.token_hash] = claim.grant

    def __len__(self) -> int:
        return len(self._grants)

    def _drop_expired(self, now: int) -> None:
        while self._grants:
            token_hash, grant = next(iter(self._grants.items()))
            if grant.expires_ts > now:
                return
            del self._grants[token_hash]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _plausible(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH
