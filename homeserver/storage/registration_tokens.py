"""Registration tokens (spec: "Token-authenticated registration")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import IntegrityError

from homeserver.errors import InvalidParam
from homeserver.storage.database import Database, WriteConnection
from homeserver.storage.tables import registration_tokens

# The spec's opaque identifier grammar, at most 64 characters.
TOKEN_GRAMMAR = re.compile(r"[A-Za-z0-9._~-]{1,64}")


@dataclass(frozen=True)
class RegistrationToken:
    token: str
    uses_allowed: int | None
    completed: int
    expiry_ts: int | None

    def valid_at(self, now: int) -> bool:
        not_expired = self.expiry_ts is None or now < self.expiry_ts
        has_uses = self.uses_allowed is None or self.completed < self.uses_allowed
        return not_expired and has_uses


def _usable(now: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    t = registration_tokens.c
    return (
        or_(t.expiry_ts.is_(None), t.expiry_ts > now),
        or_(t.uses_allowed.is_(None), t.completed < t.uses_allowed),
    )


async def consume_registration_token(conn: WriteConnection, token: str, now: int) -> bool:
    """Use the token once if it is still valid; False (and nothing changed) otherwise."""
    t = registration_tokens.c
    result = await conn.execute(
        update(registration_tokens).where(t.token == token, *_usable(now)).values(completed=t.completed + 1)
    )
    return bool(result.rowcount == 1)


class RegistrationTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, token: str, uses_allowed: int | None, expiry_ts: int | None, now: int) -> None:
        if not TOKEN_GRAMMAR.fullmatch(token):  # else `get` could never find it
            raise InvalidParam("A token is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '~', '-'")
        if uses_allowed is not None and not 0 <= uses_allowed < 2**31:  # the column is a 32-bit int
            raise InvalidParam("uses_allowed must be between 0 and 2147483647")
        if expiry_ts is not None and not 0 <= expiry_ts < 2**63:
            raise InvalidParam("expiry_ts is out of range")
        try:
            await self._db.execute(
                registration_tokens.insert().values(
                    token=token, uses_allowed=uses_allowed, completed=0, expiry_ts=expiry_ts, created_ts=now
                )
            )
        except IntegrityError:
            raise InvalidParam(f"Registration token {token!r} already exists") from None

    async def get(self, token: str) -> RegistrationToken | None:
        if not TOKEN_GRAMMAR.fullmatch(token):
            return None  # never a token of ours; and NUL bytes are no SQL parameter for PostgreSQL
        row = await self._db.fetch_one(
            select(registration_tokens).where(registration_tokens.c.token == token)
        )
        if row is None:
            return None
        return RegistrationToken(row.token, row.uses_allowed, row.completed, row.expiry_ts)
