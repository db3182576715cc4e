"""Small builders for storage tests."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Table, func, select

from homeserver.ids import DeviceID, UserID
from homeserver.storage.database import Database
from homeserver.storage.devices import AccessTokenRecord, NewSession
from homeserver.storage.users import NewUser

NOW = 1_700_000_000_000


def user_id(localpart: str) -> UserID:
    return UserID(f"@{localpart}:example.org")


def new_user(localpart: str, **extra: Any) -> NewUser:
    return NewUser(user_id(localpart), "argon2-hash-of-" + localpart, NOW, localpart, **extra)


def new_session(
    user: UserID,
    device: str,
    *,
    display_name: str | None = None,
    refresh_hash: str | None = None,
    expires_ts: int | None = None,
) -> NewSession:
    jti = secrets.token_hex(16)
    return NewSession(
        device_id=DeviceID(device),
        display_name=display_name,
        access=AccessTokenRecord(jti, user, DeviceID(device), NOW, expires_ts),
        refresh_token_hash=refresh_hash,
    )


async def count_rows(db: Database, table: Table, **where: Any) -> int:
    """How many rows of `table` match the given column values (a test's view of the database)."""
    stmt = select(func.count()).select_from(table)
    for column, value in where.items():
        stmt = stmt.where(table.c[column] == value)
    return int(await db.fetch_value(stmt) or 0)
