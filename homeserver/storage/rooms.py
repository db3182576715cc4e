"""Rooms: versions, memberships, aliases and directory visibility."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError

from homeserver.errors import MatrixError
from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.database import Database
from homeserver.storage.tables import room_aliases, room_memberships, rooms


class AliasInUse(MatrixError):
    status, errcode = 409, "M_UNKNOWN"


@dataclass(frozen=True)
class Membership:
    room_id: RoomID
    user_id: UserID
    membership: str
    event_id: EventID
    stream_ordering: int
    forgotten: bool = False


class RoomStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def room_version(self, room_id: str) -> str | None:
        value = await self._db.fetch_value(select(rooms.c.room_version).where(rooms.c.room_id == room_id))
        return str(value) if value is not None else None

    async def exists(self, room_id: str) -> bool:
        return await self.room_version(room_id) is not None

    # Membership

    async def membership(self, room_id: str, user_id: str) -> Membership | None:
        row = await self._db.fetch_one(
            select(room_memberships).where(
                room_memberships.c.room_id == room_id, room_memberships.c.user_id == user_id
            )
        )
        return membership_from_row(row) if row else None

    async def rooms_for_user(
        self, user_id: str, memberships: Collection[str] = ("join",)
    ) -> list[Membership]:
        rows = await self._db.fetch_all(
            select(room_memberships).where(
                room_memberships.c.user_id == user_id,
                room_memberships.c.membership.in_(list(memberships)),
                room_memberships.c.forgotten.is_(False),
            )
        )
        return [membership_from_row(r) for r in rows]

    async def members(self, room_id: str, memberships: Collection[str] | None = None) -> list[Membership]:
        stmt = select(room_memberships).where(room_memberships.c.room_id == room_id)
        if memberships is not None:
            stmt = stmt.where(room_memberships.c.membership.in_(list(memberships)))
        rows = await self._db.fetch_all(stmt.order_by(room_memberships.c.user_id))
        return [membership_from_row(r) for r in rows]

    async def forget(self, room_id: str, user_id: str) -> None:
        await self._db.execute(
            update(room_memberships)
            .where(room_memberships.c.room_id == room_id, room_memberships.c.user_id == user_id)
            .values(forgotten=True)
        )

    # Aliases and the directory

    async def create_alias(self, alias: str, room_id: str, creator: str) -> None:
        try:
            await self._db.execute(
                room_aliases.insert().values(alias=alias, room_id=room_id, creator=creator)
            )
        except IntegrityError:
            raise AliasInUse("Room alias already taken") from None

    async def resolve_alias(self, alias: str) -> RoomID | None:
        value = await self._db.fetch_value(
            select(room_aliases.c.room_id).where(room_aliases.c.alias == alias)
        )
        return RoomID(value) if value is not None else None

    async def alias_creator(self, alias: str) -> tuple[RoomID, UserID] | None:
        row = await self._db.fetch_one(
            select(room_aliases.c.room_id, room_aliases.c.creator).where(room_aliases.c.alias == alias)
        )
        return (RoomID(row.room_id), UserID(row.creator)) if row else None

    async def delete_alias(self, alias: str) -> bool:
        return await self._db.execute(delete(room_aliases).where(room_aliases.c.alias == alias)) > 0

    async def aliases_for_room(self, room_id: str) -> list[str]:
        rows = await self._db.fetch_all(
            select(room_aliases.c.alias)
            .where(room_aliases.c.room_id == room_id)
            .order_by(room_aliases.c.alias)
        )
        return [r.alias for r in rows]

    async def set_public(self, room_id: str, is_public: bool) -> None:
        await self._db.execute(update(rooms).where(rooms.c.room_id == room_id).values(is_public=is_public))

    async def is_public(self, room_id: str) -> bool:
        return bool(await self._db.fetch_value(select(rooms.c.is_public).where(rooms.c.room_id == room_id)))

    async def public_room_ids(self) -> list[RoomID]:
        rows = await self._db.fetch_all(select(rooms.c.room_id).where(rooms.c.is_public.is_(True)))
        return [RoomID(r.room_id) for r in rows]


def membership_from_row(row: Row[Any]) -> Membership:
    """A room_memberships row as a Membership (also used by the sync store)."""
    m = row._mapping
    return Membership(
        RoomID(m["room_id"]),
        UserID(m["user_id"]),
        m["membership"],
        EventID(m["event_id"]),
        m["stream_ordering"],
        bool(m["forgotten"]),
    )
