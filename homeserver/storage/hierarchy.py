"""Reads behind the space hierarchy (GET /rooms/{roomId}/hierarchy): a batch of rooms' summary
state, their m.space.child events and joined-member counts, and one user's memberships in a set
of rooms. Every method is a fixed number of queries for the whole batch, never one per room."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, func, or_, select

from homeserver.ids import RoomID
from homeserver.storage.database import Database
from homeserver.storage.tables import current_state, events, room_memberships, rooms

SPACE_CHILD = "m.space.child"
# Restricted rooms may name many allowed rooms: their IDs are looked up this many at a time.
IN_CHUNK = 500
# The room-level state a hierarchy entry is built from.
SUMMARY_STATE = (
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.topic",
    "m.room.canonical_alias",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.avatar",
    "m.room.encryption",
)


@dataclass(frozen=True)
class ChildEvent:
    """One current m.space.child state event of a space (state_key = the child's room ID)."""

    state_key: str
    sender: str
    origin_server_ts: int
    content: Mapping[str, Any]


@dataclass(frozen=True)
class RoomSnapshot:
    room_id: RoomID
    room_version: str
    joined_members: int
    state: Mapping[str, Mapping[str, Any]]  # event type -> content, for SUMMARY_STATE
    children: tuple[ChildEvent, ...]


class HierarchyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def snapshots(self, room_ids: Collection[str]) -> dict[RoomID, RoomSnapshot]:
        """The rooms of `room_ids` this server knows, in three queries: versions, state, counts."""
        if not room_ids:
            return {}
        ids = list(room_ids)
        version_rows = await self._db.fetch_all(
            select(rooms.c.room_id, rooms.c.room_version).where(rooms.c.room_id.in_(ids))
        )
        versions = {RoomID(r.room_id): str(r.room_version) for r in version_rows}
        if not versions:
            return {}
        known = list(versions)
        cs = current_state.c
        ev = events.c
        state_rows = await self._db.fetch_all(
            select(cs.room_id, cs.type, cs.state_key, ev.sender, ev.origin_server_ts, ev.json)
            .join(events, events.c.event_id == cs.event_id)
            .where(
                cs.room_id.in_(known),
                or_(and_(cs.state_key == "", cs.type.in_(SUMMARY_STATE)), cs.type == SPACE_CHILD),
            )
        )
        state: dict[RoomID, dict[str, Mapping[str, Any]]] = {r: {} for r in known}
        children: dict[RoomID, list[ChildEvent]] = {r: [] for r in known}
        for row in state_rows:
            content = orjson.loads(row.json).get("content")
            content = content if isinstance(content, dict) else {}
            room_id = RoomID(row.room_id)
            if row.type == SPACE_CHILD:
                children[room_id].append(
                    ChildEvent(row.state_key, row.sender, int(row.origin_server_ts), content)
                )
            else:
                state[room_id][row.type] = content
        m = room_memberships.c
        count_rows = await self._db.fetch_all(
            select(m.room_id, func.count().label("joined"))
            .where(m.room_id.in_(known), m.membership == "join")
            .group_by(m.room_id)
        )
        counts = {RoomID(r.room_id): int(r.joined) for r in count_rows}
        return {
            room_id: RoomSnapshot(
                room_id, version, counts.get(room_id, 0), state[room_id], tuple(children[room_id])
            )
            for room_id, version in versions.items()
        }

    async def memberships(self, user_id: str, room_ids: Collection[str]) -> dict[RoomID, str]:
        """The user's current membership in each of `room_ids` where they have one (a forgotten
        room counts as none)."""
        ids = list(room_ids)
        m = room_memberships.c
        out: dict[RoomID, str] = {}
        for start in range(0, len(ids), IN_CHUNK):
            rows = await self._db.fetch_all(
                select(m.room_id, m.membership).where(
                    m.user_id == user_id, m.room_id.in_(ids[start : start + IN_CHUNK]), m.forgotten.is_(False)
                )
            )
            out.update({RoomID(r.room_id): str(r.membership) for r in rows})
        return out
