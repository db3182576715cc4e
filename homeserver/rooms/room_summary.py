"""Room summaries (Client-Server API: GET /_matrix/client/v1/room_summary/{roomIdOrAlias}): the
space hierarchy's summary of one room, for a user or for an anonymous caller.

A room is summarised for anyone when its join rule lets anyone in or ask in (public, knock,
knock_restricted) or its history is world-readable (the spec's conditions for unauthenticated
access); for a user also when they are joined, invited or knocking, or when the room is
restricted and they are joined to one of the rooms its join rule allows. Anything else is
"not found", the same answer as for a room that does not exist, so that the answer does not
tell which private rooms exist."""

from __future__ import annotations

from typing import Any

from homeserver.errors import NotFound
from homeserver.ids import RoomID, UserID
from homeserver.rooms.space_rooms import allowed_room_ids, is_accessible, room_chunk
from homeserver.storage.hierarchy import HierarchyStore, RoomSnapshot

MEMBER = ("join", "invite", "knock")


class RoomSummaries:
    def __init__(self, store: HierarchyStore) -> None:
        self._store = store

    async def summary(self, room_id: RoomID, user_id: UserID | None) -> dict[str, Any]:
        """The room's summary with the caller's `membership` (`leave` if they have none; absent
        for an anonymous caller); M_NOT_FOUND if the caller may not see it."""
        snapshot = (await self._store.snapshots([room_id])).get(room_id)
        if snapshot is None:
            raise NotFound("Room not found")
        membership = None
        if user_id is not None:
            memberships = await self._store.memberships(user_id, [room_id, *allowed_room_ids(snapshot)])
            membership = memberships.get(room_id)
            if not _visible_to_user(snapshot, membership, memberships):
                raise NotFound("Room not found")
        elif not _visible_to_anyone(snapshot):
            raise NotFound("Room not found")
        body = room_chunk(snapshot, [])
        del body["children_state"]  # hierarchy-only
        if user_id is not None:
            body["membership"] = membership or "leave"
        return body


def _visible_to_anyone(snapshot: RoomSnapshot) -> bool:
    """World-readable, public, knock or knock_restricted: what the hierarchy shows someone
    with no membership and no joined rooms."""
    return is_accessible(snapshot, None, ())


def _visible_to_user(snapshot: RoomSnapshot, membership: str | None, memberships: dict[RoomID, str]) -> bool:
    """A member sees the room, a banned one what anyone sees; beyond that, what the hierarchy
    shows them (a restricted room when they are joined to an allowed one)."""
    if membership in MEMBER:
        return True
    joined = {room for room, kind in memberships.items() if kind == "join"}
    return is_accessible(snapshot, None, joined)
