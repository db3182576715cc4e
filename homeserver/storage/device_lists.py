"""Device-list changes (spec: "Tracking the device list for a user"): a row per change of a
user's devices (or, later, their keys), numbered on the device-list stream; and the
membership changes that start or end sharing a room, read from the room stream.

Membership changes are found through the events of the user's rooms in the range (the index
on (room_id, stream_ordering)), joined to `room_memberships` to keep only each member's
current membership, so the cost follows the events in the range, not the rooms' sizes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import FromClause, and_, func, not_, select, union
from sqlalchemy.sql import Select

from homeserver.ids import RoomID, UserID
from homeserver.storage.database import Database
from homeserver.storage.dialect import json_text
from homeserver.storage.shared_rooms import JOIN, shares_joined_room
from homeserver.storage.tables import device_list_changes, events, room_memberships

BATCH = 500
GONE = ("leave", "ban")
# Aliases built once: building them per query makes columns in reference cycles, garbage
# left for the collector's full passes.
_MINE, _MEMBER = room_memberships.alias("mine"), room_memberships.alias("member")
_EVENT, _PREVIOUS = events.alias("event"), events.alias("previous")
_MINE_GONE, _OTHER = room_memberships.alias("mine_gone"), room_memberships.alias("other")


@dataclass(frozen=True)
class NewJoin:
    room_id: RoomID
    user_id: UserID


class DeviceListStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, user_id: str, stream_id: int) -> None:
        await self._db.execute(device_list_changes.insert().values(stream_id=stream_id, user_id=user_id))

    async def max_stream_id(self) -> int:
        return int(await self._db.fetch_value(select(func.max(device_list_changes.c.stream_id))) or 0)

    async def changed_devices(self, user_id: str, since: int, until: int) -> list[UserID]:
        """Users whose devices changed in (since, until]: `user_id` and those sharing a
        joined room with them."""
        c = device_list_changes.c
        rows = await self._db.fetch_all(
            select(c.user_id)
            .where(
                c.stream_id > since,
                c.stream_id <= until,
                (c.user_id == user_id) | shares_joined_room(user_id, c.user_id),
            )
            .group_by(c.user_id)
        )
        return [UserID(r.user_id) for r in rows]

    async def new_joins(self, user_id: str, since: int, until: int) -> list[NewJoin]:
        """Members (`user_id` among them) who joined one of `user_id`'s joined rooms in the
        room-stream range (since, until] and are still joined. A membership event replacing a
        join from before the range (a profile change) is no new join."""
        mine, member, event, previous = _MINE, _MEMBER, _EVENT, _PREVIOUS
        previous_membership = json_text(self._db.dialect, previous.c.json, ("content", "membership"))
        was_joined = and_(
            previous.c.stream_ordering.is_not(None),
            previous.c.stream_ordering <= since,
            func.coalesce(previous_membership, "") == JOIN,
        )
        stmt = (
            _member_changes(mine, event, member, since, until)
            .outerjoin(previous, previous.c.event_id == event.c.replaces_state)
            .where(
                mine.c.user_id == user_id,
                mine.c.membership == JOIN,
                member.c.membership == JOIN,
                not_(was_joined),
            )
        )
        rows = await self._db.fetch_all(stmt)
        return [NewJoin(RoomID(r.room_id), UserID(r.user_id)) for r in rows]

    async def joined_members(self, room_ids: Sequence[str]) -> set[UserID]:
        c = room_memberships.c
        found: set[UserID] = set()
        for i in range(0, len(room_ids), BATCH):
            rows = await self._db.fetch_all(
                select(c.user_id).where(c.room_id.in_(room_ids[i : i + BATCH]), c.membership == JOIN)
            )
            found.update(UserID(r.user_id) for r in rows)
        return found

    async def no_longer_sharing(self, user_id: str, since: int, until: int) -> list[UserID]:
        """Users who left (or were banned from) one of `user_id`'s joined rooms in the range,
        and members of rooms `user_id` left in the range, who now share no joined room with
        `user_id`. Never `user_id`."""
        mine, member, event, mine_gone, other = _MINE, _MEMBER, _EVENT, _MINE_GONE, _OTHER
        they_left = (
            _member_changes(mine, event, member, since, until)
            .with_only_columns(member.c.user_id)
            .where(mine.c.user_id == user_id, mine.c.membership == JOIN, member.c.membership.in_(GONE))
        )
        i_left = (
            select(other.c.user_id)
            .select_from(mine_gone.join(other, other.c.room_id == mine_gone.c.room_id))
            .where(
                mine_gone.c.user_id == user_id,
                mine_gone.c.membership.in_(GONE),
                mine_gone.c.stream_ordering > since,
                mine_gone.c.stream_ordering <= until,
                (other.c.membership == JOIN)
                | (
                    other.c.membership.in_(GONE)
                    & (other.c.stream_ordering > since)
                    & (other.c.stream_ordering <= until)
                ),
            )
        )
        candidates = union(they_left, i_left).subquery("candidates")
        candidate = candidates.c.user_id
        rows = await self._db.fetch_all(
            select(candidate).where(candidate != user_id, not_(shares_joined_room(user_id, candidate)))
        )
        return [UserID(r.user_id) for r in rows]


def _member_changes(
    mine: FromClause, event: FromClause, member: FromClause, since: int, until: int
) -> Select[tuple[str, str]]:
    """(room_id, user_id) of the membership events in (since, until] in the rooms of the
    `mine` rows that are still their member's current membership (`member`). Callers
    restrict `mine` to one user and `member` to a membership."""
    return select(member.c.room_id, member.c.user_id).select_from(
        mine.join(
            event,
            and_(
                event.c.room_id == mine.c.room_id,
                event.c.stream_ordering > since,
                event.c.stream_ordering <= until,
                event.c.type == "m.room.member",
            ),
        ).join(
            member,
            and_(
                member.c.room_id == event.c.room_id,
                member.c.user_id == event.c.state_key,
                member.c.event_id == event.c.event_id,
            ),
        )
    )
