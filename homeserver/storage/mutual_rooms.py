"""The rooms two users are both joined to (GET /_matrix/client/v1/mutual_rooms), a page at a
time in room ID order, with the total, in one query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from homeserver.ids import RoomID
from homeserver.storage.database import Database
from homeserver.storage.shared_rooms import JOIN
from homeserver.storage.tables import room_memberships


@dataclass(frozen=True)
class MutualRoomsPage:
    room_ids: list[RoomID]
    total: int
    more: bool  # rooms follow the page


class MutualRoomStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(self, user_id: str, other: str, after: str | None, limit: int) -> MutualRoomsPage:
        """At most `limit` rooms both users are joined to, with room IDs after `after`, and how
        many there are in all: a window over the shared rooms, counted before the page is cut.
        The shared rooms are `user_id`'s joined rooms (an index range), each looked up for
        `other` by primary key."""
        shared = _shared(user_id, other, func.count().over().label("total")).subquery()
        query = select(shared.c.room_id, shared.c.total).order_by(shared.c.room_id).limit(limit + 1)
        if after is not None:
            query = query.where(shared.c.room_id > after)
        rows = await self._db.fetch_all(query)
        if rows or after is None:
            total = int(rows[0].total) if rows else 0
        else:  # past the end: the window had no row to ride on (rare: the rooms were left)
            total = await self._count(user_id, other)
        return MutualRoomsPage([RoomID(r.room_id) for r in rows[:limit]], total, len(rows) > limit)

    async def _count(self, user_id: str, other: str) -> int:
        shared = _shared(user_id, other).subquery()
        return int(await self._db.fetch_value(select(func.count()).select_from(shared)))


_MINE, _THEIRS = room_memberships.alias("mine"), room_memberships.alias("theirs")


def _shared(user_id: str, other: str, *columns: ColumnElement[Any]) -> Select[Any]:
    mine, theirs = _MINE, _THEIRS  # built once: per call they would leave cyclic garbage
    return (
        select(mine.c.room_id, *columns)
        .join(theirs, theirs.c.room_id == mine.c.room_id)
        .where(
            mine.c.user_id == user_id,
            mine.c.membership == JOIN,
            theirs.c.user_id == other,
            theirs.c.membership == JOIN,
        )
    )
