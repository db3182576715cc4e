"""Server-side key backups (spec: "Server-side key backups"): a user's backup versions and the
megolm session keys stored in them.

The current version is a user's newest version not deleted; keys are only written to it,
and the check is made in the writing transaction. Versions are numbered per user and never
reused: deleting one keeps its row, flagged, so a late client never writes into a new
backup by the old number."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from homeserver.ids import UserID
from homeserver.storage.database import Database, WriteConnection
from homeserver.storage.tables import e2e_room_key_versions, e2e_room_keys

BATCH = 500
ATTEMPTS = 3  # on PostgreSQL, concurrent writers may race for a new version number or session row


@dataclass(frozen=True)
class BackupVersion:
    version: int
    algorithm: str
    auth_data: str  # encoded JSON object
    etag: int
    count: int


@dataclass(frozen=True)
class RoomKey:
    room_id: str
    session_id: str
    first_message_index: int
    forwarded_count: int
    is_verified: bool
    session_data: str  # encoded JSON object


@dataclass(frozen=True)
class Written:
    """The outcome of a write: the backup's etag and key count afterwards."""

    etag: int
    count: int


# (stored, offered) -> whether the offered key replaces the stored one.
Replaces = Callable[[RoomKey, RoomKey], bool]


async def delete_backups_in(conn: WriteConnection, user_id: str) -> None:
    """Every backup version of the user and its keys (the account is being deactivated)."""
    await conn.execute(delete(e2e_room_keys).where(e2e_room_keys.c.user_id == user_id))
    await conn.execute(delete(e2e_room_key_versions).where(e2e_room_key_versions.c.user_id == user_id))


class KeyBackupStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user_id: UserID, algorithm: str, auth_data: str) -> int:
        """A new version, which becomes the current one."""
        v = e2e_room_key_versions.c
        for attempt in range(ATTEMPTS):
            try:
                async with self._db.transaction() as conn:
                    newest = await conn.scalar(select(func.max(v.version)).where(v.user_id == user_id))
                    version = int(newest or 0) + 1
                    await conn.execute(
                        e2e_room_key_versions.insert().values(
                            user_id=user_id,
                            version=version,
                            algorithm=algorithm,
                            auth_data=auth_data,
                            etag=0,
                            deleted=False,
                        )
                    )
                    return version
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def current(self, user_id: UserID) -> int | None:
        async with self._db.transaction() as conn:
            return await _current(conn, user_id)

    async def get(self, user_id: UserID, version: int | None) -> BackupVersion | None:
        """A version not deleted (the current one when `version` is None), with its count."""
        v = e2e_room_key_versions.c
        async with self._db.transaction() as conn:
            number = await _current(conn, user_id) if version is None else version
            if number is None:
                return None
            row = (
                await conn.execute(
                    select(v.algorithm, v.auth_data, v.etag).where(
                        v.user_id == user_id, v.version == number, v.deleted.is_(False)
                    )
                )
            ).first()
            if row is None:
                return None
            count = await _count(conn, user_id, number)
            return BackupVersion(number, row.algorithm, row.auth_data, int(row.etag), count)

    async def exists(self, user_id: UserID, version: int) -> bool:
        """Whether the version was ever created (deleted ones included)."""
        v = e2e_room_key_versions.c
        found = await self._db.fetch_value(
            select(v.version).where(v.user_id == user_id, v.version == version)
        )
        return found is not None

    async def update_auth_data(self, user_id: UserID, version: int, auth_data: str) -> None:
        v = e2e_room_key_versions.c
        await self._db.execute(
            update(e2e_room_key_versions)
            .where(v.user_id == user_id, v.version == version, v.deleted.is_(False))
            .values(auth_data=auth_data)
        )

    async def delete_version(self, user_id: UserID, version: int) -> None:
        """Flag the version deleted and drop its keys."""
        v, k = e2e_room_key_versions.c, e2e_room_keys.c
        async with self._db.transaction() as conn:
            await conn.execute(
                update(e2e_room_key_versions)
                .where(v.user_id == user_id, v.version == version)
                .values(deleted=True)
            )
            await conn.execute(delete(e2e_room_keys).where(k.user_id == user_id, k.version == version))

    async def put_keys(
        self, user_id: UserID, version: int, keys: Sequence[RoomKey], replaces: Replaces, max_count: int
    ) -> Written:
        """Store the keys that are new or that `replaces` their stored key: the etag moves
        when anything was written. Raises `NotCurrentVersion` unless `version` is the
        current one, `BackupFull` past `max_count` keys; nothing is written then."""
        for attempt in range(ATTEMPTS):
            try:
                async with self._db.transaction() as conn:
                    return await _put_keys(conn, user_id, version, keys, replaces, max_count)
            except IntegrityError:  # a concurrent upload inserted one of the new sessions
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def get_keys(
        self, user_id: UserID, version: int, room_id: str | None = None, session_id: str | None = None
    ) -> list[RoomKey]:
        k = e2e_room_keys.c
        stmt = select(
            k.room_id, k.session_id, k.first_message_index, k.forwarded_count, k.is_verified, k.session_data
        ).where(*_scope(user_id, version, room_id, session_id))
        rows = await self._db.fetch_all(stmt.order_by(k.room_id, k.session_id))
        return [_room_key(r) for r in rows]

    async def delete_keys(
        self, user_id: UserID, version: int, room_id: str | None = None, session_id: str | None = None
    ) -> Written:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                delete(e2e_room_keys).where(*_scope(user_id, version, room_id, session_id))
            )
            etag = await _touch(conn, user_id, version, result.rowcount > 0)
            return Written(etag, await _count(conn, user_id, version))


class NotCurrentVersion(Exception):
    def __init__(self, current: int | None) -> None:
        super().__init__("Not the current backup version")
        self.current = current


class BackupFull(Exception):
    def __init__(self, max_count: int) -> None:
        super().__init__(f"A backup holds at most {max_count} keys")
        self.max_count = max_count


async def _put_keys(
    conn: WriteConnection,
    user_id: str,
    version: int,
    keys: Sequence[RoomKey],
    replaces: Replaces,
    max_count: int,
) -> Written:
    current = await _current(conn, user_id)
    if current != version:
        raise NotCurrentVersion(current)
    stored = await _stored_keys(conn, user_id, version, keys)
    new = [key for key in keys if (key.room_id, key.session_id) not in stored]
    better = [
        key
        for key in keys
        if (old := stored.get((key.room_id, key.session_id))) is not None and replaces(old, key)
    ]
    count = await _count(conn, user_id, version)
    if count + len(new) > max_count:
        raise BackupFull(max_count)
    await _insert(conn, user_id, version, new)
    await _update(conn, user_id, version, better)
    etag = await _touch(conn, user_id, version, bool(new or better))
    return Written(etag, count + len(new))


def _scope(user_id: str, version: int, room_id: str | None, session_id: str | None) -> list[Any]:
    k = e2e_room_keys.c
    where: list[Any] = [k.user_id == user_id, k.version == version]
    if room_id is not None:
        where.append(k.room_id == room_id)
    if session_id is not None:
        where.append(k.session_id == session_id)
    return where


async def _current(conn: WriteConnection, user_id: str) -> int | None:
    v = e2e_room_key_versions.c
    newest = await conn.scalar(select(func.max(v.version)).where(v.user_id == user_id, v.deleted.is_(False)))
    return int(newest) if newest is not None else None


async def _count(conn: WriteConnection, user_id: str, version: int) -> int:
    k = e2e_room_keys.c
    stmt = select(func.count()).select_from(e2e_room_keys).where(k.user_id == user_id, k.version == version)
    return int(await conn.scalar(stmt) or 0)


async def _touch(conn: WriteConnection, user_id: str, version: int, changed: bool) -> int:
    """The version's etag, moved on first when `changed`."""
    v = e2e_room_key_versions.c
    where = (v.user_id == user_id, v.version == version)
    if changed:
        await conn.execute(update(e2e_room_key_versions).where(*where).values(etag=v.etag + 1))
    return int(await conn.scalar(select(v.etag).where(*where)) or 0)


async def _stored_keys(
    conn: WriteConnection, user_id: str, version: int, keys: Sequence[RoomKey]
) -> dict[tuple[str, str], RoomKey]:
    k = e2e_room_keys.c
    pairs = sorted({(key.room_id, key.session_id) for key in keys})
    stored: dict[tuple[str, str], RoomKey] = {}
    for start in range(0, len(pairs), BATCH):
        rows = await conn.execute(
            select(
                k.room_id,
                k.session_id,
                k.first_message_index,
                k.forwarded_count,
                k.is_verified,
                k.session_data,
            )
            .where(
                k.user_id == user_id,
                k.version == version,
                tuple_(k.room_id, k.session_id).in_(pairs[start : start + BATCH]),
            )
            # Locked until commit (PostgreSQL; SQLite serialises writers): a concurrent
            # upload of the same session waits, then compares with what this one kept.
            .with_for_update()
        )
        stored.update({(r.room_id, r.session_id): _room_key(r) for r in rows})
    return stored


async def _insert(conn: WriteConnection, user_id: str, version: int, keys: Sequence[RoomKey]) -> None:
    rows = [{"user_id": user_id, "version": version, **key.__dict__} for key in keys]
    for start in range(0, len(rows), BATCH):
        await conn.execute(e2e_room_keys.insert(), rows[start : start + BATCH])


async def _update(conn: WriteConnection, user_id: str, version: int, keys: Sequence[RoomKey]) -> None:
    if not keys:
        return
    k = e2e_room_keys.c
    stmt = (
        update(e2e_room_keys)
        .where(
            k.user_id == user_id,
            k.version == version,
            k.room_id == bindparam("b_room_id"),
            k.session_id == bindparam("b_session_id"),
        )
        .values(
            first_message_index=bindparam("b_first_message_index"),
            forwarded_count=bindparam("b_forwarded_count"),
            is_verified=bindparam("b_is_verified"),
            session_data=bindparam("b_session_data"),
        )
    )
    await conn.execute(stmt, [{f"b_{name}": value for name, value in key.__dict__.items()} for key in keys])


def _room_key(row: Any) -> RoomKey:
    return RoomKey(
        row.room_id,
        row.session_id,
        int(row.first_message_index),
        int(row.forwarded_count),
        bool(row.is_verified),
        row.session_data,
    )
