"""Small builders for storage tests."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Table, func, select, text

from homeserver.config import Config
from homeserver.ids import DeviceID, UserID
from homeserver.storage.database import Database, create_database
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


async def _pg_admin(url: str, sql: str) -> None:
    db = create_database(Config(database_url=url).sqlalchemy_url)
    try:
        async with db.transaction() as conn:
            await conn.execute(text(sql))
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def fresh_pg_schema(url: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL schema of our own, dropped afterwards."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    await _pg_admin(url, f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        await _pg_admin(url, f'DROP SCHEMA "{schema}" CASCADE')
