"""Which events a user may see (Client-Server API, "History visibility").

A user sees an event if, at that event, the room was world_readable, or they were joined, or
they were invited and history was `invited`, or history was `shared` and they joined at some
point after it (they are joined now, or they left after having been joined).
The state at an event comes from its state group; a page of events usually spans few groups,
so the lookups are one per distinct group, not one per event."""

from __future__ import annotations

from collections.abc import Sequence

from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.events import EventStore
from homeserver.storage.rooms import RoomStore

HISTORY_KEY: StateKey = ("m.room.history_visibility", "")


class Visibility:
    def __init__(self, events: EventStore, rooms: RoomStore) -> None:
        self._events = events
        self._rooms = rooms

    async def filter(self, user_id: UserID, room_id: RoomID, events: Sequence[Event]) -> list[Event]:
        if not events:
            return []
        joined_until = await self._joined_until(room_id, user_id)
        metas = await self._events.get_meta([e.event_id for e in events])
        member_key: StateKey = ("m.room.member", user_id)
        groups = {m.state_group for m in metas.values() if m.state_group is not None}
        state_by_group: dict[int, dict[StateKey, EventID]] = {}
        for group in groups:
            state_by_group[group] = await self._events.state_ids_at_group(group, [HISTORY_KEY, member_key])
        needed = {eid for state in state_by_group.values() for eid in state.values()}
        state_events = await self._events.get_events(needed)
        visible: list[Event] = []
        for event in events:
            meta = metas.get(event.event_id)
            if meta is None or meta.state_group is None:
                continue
            state = state_by_group[meta.state_group]
            history = _content_str(
                state_events.get(state.get(HISTORY_KEY, EventID(""))), "history_visibility"
            )
            membership = _content_str(state_events.get(state.get(member_key, EventID(""))), "membership")
            if event.type == "m.room.member" and event.state_key == user_id:
                membership = event.membership  # one always sees one's own membership changes
            joined_after = joined_until is not None and meta.stream_ordering < joined_until
            if _may_see(history or "shared", membership, joined_after):
                visible.append(event)
        return visible

    async def _joined_until(self, room_id: RoomID, user_id: UserID) -> int | None:
        """The stream position up to which the user has been joined at some later point:
        infinity while joined; the position of their leave if they left after being joined."""
        current = await self._rooms.membership(room_id, user_id)
        if current is None:
            return None
        if current.membership == "join":
            return 2**63
        if current.membership not in ("leave", "ban"):
            return None
        meta = (await self._events.get_meta([current.event_id])).get(current.event_id)
        if meta is None or meta.replaces_state is None:
            return None
        previous = await self._events.get_event(meta.replaces_state)
        return current.stream_ordering if previous is not None and previous.membership == "join" else None

    async def can_see_room(self, user_id: UserID, room_id: RoomID) -> bool:
        """Whether the user may read the room at all: ever a member, or world-readable."""
        if await self._rooms.membership(room_id, user_id) is not None:
            return True
        ids = await self._events.current_state_ids(room_id, [HISTORY_KEY])
        events = await self._events.get_events(list(ids.values()))
        return (
            _content_str(events.get(ids.get(HISTORY_KEY, EventID(""))), "history_visibility")
            == "world_readable"
        )


def _content_str(event: Event | None, key: str) -> str | None:
    if event is None:
        return None
    value = event.content.get(key)
    return value if isinstance(value, str) else None


def _may_see(history: str, membership: str | None, joined_after: bool) -> bool:
    if history == "world_readable" or membership == "join":
        return True
    if history == "shared" and joined_after:
        return True
    return history == "invited" and membership == "invite"
