"""Rows of the short-lived tokens (homeserver/short_tokens.py): each token's SHA-256, its kind
("openid", "login"), its user and its expiry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from homeserver.ids import UserID
from homeserver.storage.database import Database
from homeserver.storage.tables import short_lived_tokens

T = short_lived_tokens.c


@dataclass(frozen=True)
class Grant:
    user_id: UserID
    expires_ts: int


class ShortTokenStore:
    def __init__(self, db: Database, kind: str) -> None:
        self._db = db
        self._kind = kind

    async def add(self, token_hash: str, grant: Grant, *, now: int, keep_per_user: int) -> None:
        """Store a new token; delete the expired ones of every kind, and the user's oldest of
        this kind past `keep_per_user`."""
        async with self._db.transaction() as conn:
            await conn.execute(delete(short_lived_tokens).where(T.expires_ts <= now))
            await conn.execute(insert(short_lived_tokens).values(self._row(token_hash, grant)))
            beyond = (
                select(T.token_hash)
                .where(T.kind == self._kind, T.user_id == grant.user_id)
                .order_by(T.expires_ts.desc(), T.token_hash)
                .offset(keep_per_user)
                .scalar_subquery()
            )
            await conn.execute(delete(short_lived_tokens).where(T.token_hash.in_(beyond)))

    async def put_back(self, token_hash: str, grant: Grant) -> None:
        await self._db.execute(insert(short_lived_tokens).values(self._row(token_hash, grant)))

    async def get(self, token_hash: str) -> Grant | None:
        row = await self._db.fetch_one(
            select(T.user_id, T.expires_ts).where(T.token_hash == token_hash, T.kind == self._kind)
        )
        return Grant(UserID(row.user_id), row.expires_ts) if row is not None else None

    async def take(self, token_hash: str) -> bool:
        """Delete the token; whether it was there (of concurrent takers, one gets True)."""
        taken = await self._db.execute(
            delete(short_lived_tokens).where(T.token_hash == token_hash, T.kind == self._kind)
        )
        return taken == 1

    def _row(self, token_hash: str, grant: Grant) -> dict[str, object]:
        return {
            "token_hash": token_hash,
            "kind": self._kind,
            "user_id": grant.user_id,
            "expires_ts": grant.expires_ts,
        }
