"""What push rule conditions ask about a room, kept in memory per room: its joined members
(the count for `room_member_count`, the local ones with their display names for
`contains_display_name`), its power levels and create event (`sender_notification_permission`).

Read once per room, then moved along by each new event (`after`), so evaluating an event for
every member costs no query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from homeserver.events.model import Event
from homeserver.ids import RoomID, UserID
from homeserver.lru import Lru
from homeserver.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.storage.events import EventStore
from homeserver.storage.rooms import RoomStore

ROOM_CACHE_SIZE: Final = 5_000
_CREATE: Final = ("m.room.create", "")
_POWER_LEVELS: Final = ("m.room.power_levels", "")


@dataclass(frozen=True)
class RoomPushState:
    version: RoomVersion
    joined: frozenset[UserID]
    local_names: Mapping[UserID, str | None]  # local joined members -> display name
    power_levels: Event | None
    create: Event | None

    def after(self, event: Event, is_local: bool) -> RoomPushState:
        """The state once `event` is applied (member, power level and create events move it)."""
        if event.rejected_reason is not None or not event.is_state:
            return self
        if event.key == _POWER_LEVELS:
            return replace(self, power_levels=event)
        if event.key == _CREATE:
            return replace(self, create=event)
        if event.type != "m.room.member" or event.state_key is None:
            return self
        user = UserID(event.state_key)
        names = dict(self.local_names)
        if event.membership == "join":
            joined = self.joined | {user}
            if is_local:
                names[user] = display_name(event)
        else:
            joined = self.joined - {user}
            names.pop(user, None)
        return replace(self, joined=joined, local_names=names)


def display_name(member: Event) -> str | None:
    name = member.content.get("displayname")
    return name if isinstance(name, str) else None


class RoomPushStates:
    """The rooms' push states, read on first use and moved along by the notifier's event
    listener (in commit order)."""

    def __init__(self, rooms: RoomStore, events: EventStore, server_name: str) -> None:
        self._rooms = rooms
        self._events = events
        self._suffix = ":" + server_name
        self._cache: Lru[RoomID, RoomPushState] = Lru(ROOM_CACHE_SIZE)

    def is_local(self, user_id: str) -> bool:
        return user_id.endswith(self._suffix)

    async def get(self, room_id: RoomID) -> RoomPushState | None:
        state = self._cache.get(room_id)
        if state is None:
            state = await self._load(room_id)
            if state is not None:
                self._cache.put(room_id, state)
        return state

    def on_event(self, event: Event, _position: int, _txn: object) -> None:
        """Notifier listener: a committed event moves its room's state, if it is held."""
        state = self._cache.get(event.room_id)
        if state is not None and event.is_state:
            self._cache.put(event.room_id, state.after(event, self.is_local(event.state_key or "")))

    async def _load(self, room_id: RoomID) -> RoomPushState | None:
        version_id = await self._rooms.room_version(room_id)
        if version_id is None or version_id not in KNOWN_ROOM_VERSIONS:
            return None
        members = await self._rooms.members(room_id, ["join"])
        local = {m.event_id for m in members if self.is_local(m.user_id)}
        keys = await self._events.current_state_ids(room_id, [_CREATE, _POWER_LEVELS])
        events = await self._events.get_events(local | set(keys.values()))
        names = {
            m.user_id: display_name(events[m.event_id]) if m.event_id in events else None
            for m in members
            if m.event_id in local
        }
        by_key = {key: events.get(event_id) for key, event_id in keys.items()}
        return RoomPushState(
            KNOWN_ROOM_VERSIONS[version_id],
            frozenset(m.user_id for m in members),
            names,
            by_key.get(_POWER_LEVELS),
            by_key.get(_CREATE),
        )
