"""The events around one event (spec: "Event Context"), read with the same pagination,
visibility and ignored-user rules as /messages."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from homeserver.errors import NotFound
from homeserver.events.model import Event
from homeserver.filters import RoomEventFilter
from homeserver.ids import EventID, RoomID, UserID
from homeserver.rooms.timeline import Timeline, format_token
from homeserver.storage.events import EventStore


@dataclass(frozen=True)
class Context:
    event: Event
    events_before: list[Event]  # newest first
    events_after: list[Event]  # oldest first
    start: str
    end: str
    state: list[Event]


class EventContext:
    def __init__(self, timeline: Timeline, events: EventStore) -> None:
        self._timeline = timeline
        self._events = events

    async def around(
        self, user_id: UserID, room_id: RoomID, event_id: EventID, limit: int, event_filter: RoomEventFilter
    ) -> Context:
        """`limit` events split between before (half, rounded down) and after; the filter
        applies to them and to the state, never to the event itself. The state is the room's
        state after the last event returned."""
        event = await self._timeline.event(user_id, room_id, event_id)  # 404 unless visible
        position = await self._events.position_of(event_id)
        if position is None:
            raise NotFound("Event not found")
        here = format_token(position)
        page_filter = dataclasses.replace(event_filter, lazy_load_members=False)
        before_limit = limit // 2
        before = await self._timeline.messages(
            user_id,
            room_id,
            from_token=here,
            to_token=None,
            backwards=True,
            limit=before_limit,
            event_filter=page_filter,
        )
        after = await self._timeline.messages(
            user_id,
            room_id,
            from_token=here,
            to_token=None,
            backwards=False,
            limit=limit - before_limit,
            event_filter=page_filter,
        )
        last = after.chunk[-1] if after.chunk else event
        return Context(
            event=event,
            events_before=before.chunk,
            events_after=after.chunk,
            start=before.end or await self._token_at(before.chunk[-1] if before.chunk else event),
            end=after.end or await self._token_at(last),
            state=await self._state_after(last, [*before.chunk, event, *after.chunk], event_filter),
        )

    async def _token_at(self, event: Event) -> str:
        """A token just past `event`: where pagination stopped when nothing was left to read
        (paginating from it again finds only events that arrive later)."""
        position = await self._events.position_of(event.event_id)
        return format_token(position) if position is not None else "t0_0"

    async def _state_after(
        self, last: Event, shown: list[Event], event_filter: RoomEventFilter
    ) -> list[Event]:
        meta = (await self._events.get_meta([last.event_id])).get(last.event_id)
        if meta is None or meta.state_group is None:
            return []
        ids = await self._events.state_ids_at_group(meta.state_group)
        if event_filter.lazy_load_members:
            senders = {e.sender for e in shown}
            ids = {k: v for k, v in ids.items() if k[0] != "m.room.member" or k[1] in senders}
        found = await self._events.get_events(list(ids.values()))
        return [found[eid] for eid in ids.values() if eid in found and event_filter.matches(found[eid])]
