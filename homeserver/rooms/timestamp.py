"""The event closest to a point in time (spec: `GET /rooms/{roomId}/timestamp_to_event`),
among the events the user may see, read through the (room, origin_server_ts) index."""

from __future__ import annotations

from homeserver.errors import Forbidden, NotFound
from homeserver.ids import RoomID, UserID
from homeserver.rooms.visibility import Visibility
from homeserver.storage.events import EventStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.timestamps import TimedEvent, TimestampStore

BATCH = 50
MAX_SCANS = 5  # batches read before giving up when the user may see none of them


class TimestampLookup:
    def __init__(
        self, timestamps: TimestampStore, events: EventStore, rooms: RoomStore, visibility: Visibility
    ) -> None:
        self._timestamps = timestamps
        self._events = events
        self._rooms = rooms
        self._visibility = visibility

    async def closest(self, user_id: UserID, room_id: RoomID, ts: int, backwards: bool) -> TimedEvent:
        if not await self._rooms.exists(room_id) or not await self._visibility.can_see_room(user_id, room_id):
            raise Forbidden("You are not allowed to view this room")
        after: TimedEvent | None = None
        for _ in range(MAX_SCANS):
            rows = await self._timestamps.near(room_id, ts, backwards, after, BATCH)
            fetched = await self._events.get_events([r.event_id for r in rows])
            candidates = [fetched[r.event_id] for r in rows if r.event_id in fetched]
            visible = {e.event_id for e in await self._visibility.filter(user_id, room_id, candidates)}
            for row in rows:
                if row.event_id in visible:
                    return row
            if len(rows) < BATCH:
                break
            after = rows[-1]
        direction = "backwards" if backwards else "forwards"
        raise NotFound(f"Unable to find an event {direction} from {ts}")
