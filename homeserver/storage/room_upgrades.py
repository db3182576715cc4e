"""What a room upgrade moves from the old room to its replacement outside the rooms' events:
the local aliases and the entry in the published room directory."""

from __future__ import annotations

from sqlalchemy import select, update

from homeserver.ids import RoomID
from homeserver.storage.database import Database
from homeserver.storage.tables import room_aliases, rooms


class RoomUpgradeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def move_to_replacement(self, old: RoomID, new: RoomID) -> None:
        """Point every local alias of `old` at `new`, and if `old` was published in the room
        directory, publish `new` in its place; one transaction, so the directory never
        lists both rooms or neither."""
        async with self._db.transaction() as conn:
            await conn.execute(update(room_aliases).where(room_aliases.c.room_id == old).values(room_id=new))
            listed = (await conn.execute(select(rooms.c.is_public).where(rooms.c.room_id == old))).scalar()
            if listed:
                await conn.execute(update(rooms).where(rooms.c.room_id == old).values(is_public=False))
                await conn.execute(update(rooms).where(rooms.c.room_id == new).values(is_public=True))
