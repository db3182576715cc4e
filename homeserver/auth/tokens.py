"""Access tokens are JWTs (HS256) whose `jti` must still have a row in the database;
refresh tokens are opaque random strings stored only as their SHA-256.

The row lookup is cached in memory; revocations made by this process evict at once, and
a short TTL bounds how long another process's revocation can take to be seen."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

import jwt

from homeserver.errors import UnknownToken
from homeserver.ids import DeviceID, UserID
from homeserver.lru import Lru
from homeserver.storage.devices import AccessTokenRecord, DeviceStore

ALGORITHM = "HS256"
CACHE_TTL_S = 30.0
CACHE_SIZE = 50_000


@dataclass(frozen=True)
class Requester:
    user_id: UserID
    device_id: DeviceID
    jti: str
    is_guest: bool = False
    expires_ts: int | None = None  # when the token expires (ms), if it does


def load_or_create_secret(configured: str, data_dir: Path) -> bytes:
    """The configured JWT secret, else one generated once and kept in the data directory."""
    if configured:
        return configured.encode("utf-8")
    path = data_dir / "jwt_secret"
    if path.exists():
        return path.read_bytes().strip()
    secret = secrets.token_urlsafe(48).encode("ascii")
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = path.open("xb")  # never overwrite a secret another process just wrote
    with fd:
        path.chmod(0o600)
        fd.write(secret)
    return secret


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_refresh_token() -> str:
    return "mr_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class _Claims:
    sub: str
    jti: str
    guest: bool


class TokenIssuer:
    def __init__(self, secret: bytes, devices: DeviceStore) -> None:
        self._secret = secret
        self._devices = devices
        self._cache: OrderedDict[str, tuple[float, AccessTokenRecord | None]] = OrderedDict()
        # Verified claims by token digest: a token's signature and claims never change, and
        # checking them costs more than the rest of a long-poll /sync. The key is a 16-byte
        # digest, not the ~300-character token: an open WebSocket keeps its token's entry.
        self._claims: Lru[bytes, _Claims] = Lru(CACHE_SIZE)
        # Counts this process's revocations: a holder of a checked token (an open WebSocket)
        # needs to check it again after a change here, or its expiry, or a cache TTL (for
        # another process's revocations), and not before.
        self.revocations = 0

    def issue(
        self,
        user_id: UserID,
        device_id: DeviceID,
        now_ms: int,
        lifetime_ms: int | None,
        *,
        is_guest: bool = False,
    ) -> tuple[str, AccessTokenRecord]:
        jti = secrets.token_hex(16)
        expires = now_ms + lifetime_ms if lifetime_ms is not None else None
        claims: dict[str, object] = {
            "sub": user_id,
            "device_id": device_id,
            "jti": jti,
            "iat": now_ms // 1000,
        }
        if expires is not None:
            claims["exp"] = expires // 1000
        if is_guest:
            claims["guest"] = True
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return token, AccessTokenRecord(jti, user_id, device_id, now_ms, expires)

    async def authenticate(self, token: str, now_ms: int) -> Requester:
        claims = self._verified_claims(token)
        record = await self._lookup(claims.jti)
        if record is None or record.user_id != claims.sub:
            raise UnknownToken("Access token has been revoked", soft_logout=False)
        if record.expires_ts is not None and now_ms >= record.expires_ts:
            raise UnknownToken("Access token has expired", soft_logout=True)
        if record.refresh_parent is not None:
            await self._devices.first_use(record)
            self._cache[record.jti] = (time.monotonic() + CACHE_TTL_S, replace(record, refresh_parent=None))
        return Requester(record.user_id, record.device_id, record.jti, claims.guest, record.expires_ts)

    def _verified_claims(self, token: str) -> _Claims:
        """The claims this server signed into `token`; kept per token, in the few fields read
        (an open WebSocket holds its token's entry: a decoded dict would cost ~4x as much)."""
        key = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        cached = self._claims.get(key)
        if cached is not None:
            return cached
        try:
            decoded = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"verify_exp": False, "require": ["sub", "jti", "device_id"]},
            )
        except (jwt.InvalidTokenError, ValueError):  # ValueError: undecodable (e.g. non-UTF-8) input
            raise UnknownToken("Invalid access token") from None
        claims = _Claims(str(decoded["sub"]), str(decoded["jti"]), decoded.get("guest") is True)
        self._claims.put(key, claims)
        return claims

    async def _lookup(self, jti: str) -> AccessTokenRecord | None:
        hit = self._cache.get(jti)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(jti)
            return hit[1]
        record = await self._devices.get_access_token(jti)
        self._cache[jti] = (now + CACHE_TTL_S, record)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return record

    def forget(self, user_id: str, device_ids: Collection[str] | None = None) -> None:
        """Evict a user's cached tokens (of some devices, or all) after a revocation commits."""
        self.revocations += 1
        doomed = [
            jti
            for jti, (_, record) in self._cache.items()
            if record is not None
            and record.user_id == user_id
            and (device_ids is None or record.device_id in device_ids)
        ]
        for jti in doomed:
            del self._cache[jti]
