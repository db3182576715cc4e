"""What a room upgrade moves from the old room to its replacement outside the rooms' events:
the local aliases, the entry in the published room directory, and (read here, written through
the account data services) the members' tags, direct-chat lists and push rules naming it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, or_, select, update

from homeserver.ids import RoomID, UserID
from homeserver.storage.account_data import GLOBAL
from homeserver.storage.database import Database
from homeserver.storage.tables import account_data, room_aliases, room_memberships, rooms

TAG, DIRECT, PUSH_RULES = "m.tag", "m.direct", "m.push_rules"


@dataclass(frozen=True)
class MemberData:
    """One joined local member's account data entry about the old room."""

    user_id: UserID
    type: str  # m.tag (the room's), m.direct or m.push_rules (global, naming the room)
    content: dict[str, Any]


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

    async def member_data(self, room_id: RoomID, server_name: str) -> list[MemberData]:
        """The room's tags, and the m.direct and m.push_rules entries whose JSON names it, of
        its joined members on this server: one query, however many members."""
        c, m = account_data.c, room_memberships.c
        members = select(m.user_id).where(
            m.room_id == room_id,
            m.membership == "join",
            m.user_id.endswith(f":{server_name}", autoescape=True),
        )
        rows = await self._db.fetch_all(
            select(c.user_id, c.type, c.content)
            .where(
                c.user_id.in_(members),
                or_(
                    and_(c.room_id == room_id, c.type == TAG),
                    and_(
                        c.room_id == GLOBAL,
                        c.type.in_([DIRECT, PUSH_RULES]),
                        c.content.contains(room_id, autoescape=True),
                    ),
                ),
            )
            .order_by(c.user_id, c.type)
        )
        found = []
        for row in rows:
            content = orjson.loads(row.content)
            if isinstance(content, dict):
                found.append(MemberData(UserID(row.user_id), row.type, content))
        return found
