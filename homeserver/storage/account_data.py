"""Account data (Client-Server API, "Client Config"): one JSON object per (user, room, type),
global data under the room "". Every write records the account-data stream position it was
made at, so sync can ask what changed for a user since a position."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select, update

from homeserver.ids import RoomID, UserID
from homeserver.storage.database import Database, WriteConnection
from homeserver.storage.dialect import upsert
from homeserver.storage.tables import account_data

GLOBAL = ""  # the room_id of global account data

Content = dict[str, Any]


@dataclass(frozen=True)
class AccountDataChange:
    room_id: RoomID | None  # None for global account data
    type: str
    content: Content
    stream_id: int


class AccountDataStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: UserID, room_id: RoomID | None, data_type: str) -> Content | None:
        c = account_data.c
        raw = await self._db.fetch_value(
            select(c.content).where(
                c.user_id == user_id, c.room_id == (room_id or GLOBAL), c.type == data_type
            )
        )
        return _decode(raw) if raw is not None else None

    async def put(
        self, user_id: UserID, room_id: RoomID | None, data_type: str, content: Content, stream_id: int
    ) -> None:
        async with self._db.transaction() as conn:
            await self._touch(conn, user_id, room_id, data_type, content, stream_id)

    async def modify(
        self,
        user_id: UserID,
        room_id: RoomID | None,
        data_type: str,
        change: Callable[[Content | None], Content],
        stream_id: int,
    ) -> Content:
        """Read, change and write one entry atomically (concurrent tag edits must not lose each
        other's tags). The first statement writes the row, which locks it on PostgreSQL until
        commit; SQLite serialises write transactions anyway."""
        c = account_data.c
        where = (c.user_id == user_id, c.room_id == (room_id or GLOBAL), c.type == data_type)
        async with self._db.transaction() as conn:
            await self._touch(conn, user_id, room_id, data_type, None, stream_id)
            old = (await conn.execute(select(c.content).where(*where))).scalar()
            current = _decode(old) if old is not None and old != "null" else None
            new = change(current)
            await conn.execute(update(account_data).where(*where).values(content=_encode(new)))
        return new

    async def _touch(
        self,
        conn: WriteConnection,
        user_id: UserID,
        room_id: RoomID | None,
        data_type: str,
        content: Content | None,
        stream_id: int,
    ) -> None:
        """Upsert the entry at `stream_id`; with `content` None, keep the content of an existing
        row (a new one gets the placeholder "null" until the caller writes it)."""
        values = {
            "user_id": user_id,
            "room_id": room_id or GLOBAL,
            "type": data_type,
            "content": _encode(content) if content is not None else "null",
            "stream_id": stream_id,
        }
        columns = ("content", "stream_id") if content is not None else ("stream_id",)
        key = ("user_id", "room_id", "type")
        await conn.execute(upsert(self._db.dialect, account_data, values, key=key, update=columns))

    async def changes_since(
        self, user_id: UserID, since: int, until: int | None = None
    ) -> list[AccountDataChange]:
        """The user's entries changed after stream position `since` (up to `until`), oldest
        change first; each entry once, with its current content."""
        c = account_data.c
        stmt = select(c.room_id, c.type, c.content, c.stream_id).where(
            c.user_id == user_id, c.stream_id > since
        )
        if until is not None:
            stmt = stmt.where(c.stream_id <= until)
        rows = await self._db.fetch_all(stmt.order_by(c.stream_id))
        return [
            AccountDataChange(
                RoomID(r.room_id) if r.room_id else None, r.type, _decode(r.content), r.stream_id
            )
            for r in rows
        ]

    async def max_stream_id(self) -> int:
        return int(await self._db.fetch_value(select(func.max(account_data.c.stream_id))) or 0)


def _encode(content: Content) -> str:
    return orjson.dumps(content).decode()


def _decode(raw: str) -> Content:
    value = orjson.loads(raw)
    return value if isinstance(value, dict) else {}
