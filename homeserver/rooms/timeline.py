"""Reading a room as a user: single events, /messages pagination, state and members, each
filtered by what the user may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from homeserver.errors import Forbidden, InvalidParam, NotFound
from homeserver.events.model import Event, StateKey
from homeserver.filters import RoomEventFilter
from homeserver.ids import EventID, RoomID, UserID
from homeserver.rooms.visibility import Viewer, Visibility
from homeserver.storage.events import EventStore, TopologicalPosition
from homeserver.storage.rooms import RoomStore

MAX_LIMIT = 1000
MAX_SCANS = 5  # batches read to fill one page when filters drop events


def format_token(position: TopologicalPosition) -> str:
    return f"t{position.depth}_{position.stream}"


@dataclass(frozen=True)
class Page:
    chunk: list[Event]
    start: str
    end: str | None
    state: list[Event]


class IgnoredUsers(Protocol):
    async def ignored_users(self, user_id: UserID) -> frozenset[UserID]: ...


class Timeline:
    def __init__(
        self,
        events: EventStore,
        rooms: RoomStore,
        visibility: Visibility,
        ignored: IgnoredUsers | None = None,
    ) -> None:
        self._events = events
        self._rooms = rooms
        self._visibility = visibility
        self._ignored = ignored

    async def _viewer(self, user_id: UserID, room_id: RoomID) -> Viewer:
        """The user as a reader of the room: a member now or before (not forgotten since), or
        anyone at all in a world-readable room; 403 otherwise (invited and knocking users
        included, as for a room that does not exist)."""
        viewer = await self._visibility.viewer(user_id, room_id)
        if viewer.is_member:
            return viewer
        if await self._rooms.exists(room_id) and await self._visibility.world_readable(room_id):
            return viewer
        raise Forbidden("You are not allowed to view this room")

    async def _require_room_access(self, user_id: UserID, room_id: RoomID) -> None:
        await self._viewer(user_id, room_id)

    async def parse_token(self, room_id: RoomID, token: str) -> TopologicalPosition:
        """`t<depth>_<stream>` from /messages, or `s<stream>...` from /sync."""
        try:
            if token.startswith("t"):
                depth, stream = token[1:].split("_", 1)
                return TopologicalPosition(int(depth), int(stream))
            if token.startswith("s"):
                stream = token[1:].split("_", 1)[0]
                return await self._events.position_at_stream(room_id, int(stream))
        except ValueError:
            pass
        raise InvalidParam("Invalid pagination token")

    async def event(self, user_id: UserID, room_id: RoomID, event_id: EventID) -> Event:
        event = await self._events.get_event(event_id)
        if event is None or event.room_id != room_id or event.rejected_reason is not None:
            raise NotFound("Event not found")
        if not await self._visibility.filter(user_id, room_id, [event]):
            raise NotFound("Event not found")  # do not tell whether it exists
        return event

    async def messages(
        self,
        user_id: UserID,
        room_id: RoomID,
        *,
        from_token: str | None,
        to_token: str | None,
        backwards: bool,
        limit: int,
        event_filter: RoomEventFilter,
    ) -> Page:
        """One page of /messages. `end` continues after the last event read (not just the
        last one returned: filtered-out events are not read again); it is omitted once the
        room has no more events in that direction. A former member's pages stop at their
        leave: nothing after it is theirs to see, so it is not even scanned."""
        viewer = await self._viewer(user_id, room_id)
        limit = max(0, min(limit, MAX_LIMIT))
        position = await self.parse_token(room_id, from_token) if from_token else None
        stop = await self.parse_token(room_id, to_token) if to_token else None
        if viewer.has_left:
            position, stop = await self._clamp_to_leave(viewer, position, stop, backwards)
        batch = max(limit * 2, 10)
        ignored = await self._ignored.ignored_users(user_id) if self._ignored else frozenset()
        chunk: list[Event] = []
        more = limit > 0
        first: TopologicalPosition | None = None
        for _ in range(MAX_SCANS):
            if len(chunk) >= limit or not more:
                break
            rows = await self._events.paginate(room_id, position, backwards, batch)
            more = len(rows) == batch
            if stop is not None and any(not _before_stop(p, stop, backwards) for _, p in rows):
                rows = [(e, p) for e, p in rows if _before_stop(p, stop, backwards)]
                more = False
            fetched = await self._events.get_events([eid for eid, _ in rows])
            wanted = [
                fetched[eid] for eid, _ in rows if eid in fetched and event_filter.matches(fetched[eid])
            ]
            visible = {e.event_id for e in await self._visibility.filter_for(viewer, wanted)}
            visible -= {e.event_id for e in wanted if e.sender in ignored and not e.is_state}
            for index, (eid, pos) in enumerate(rows):
                first = first or pos
                position = pos
                if eid in visible:
                    chunk.append(fetched[eid])
                    if len(chunk) >= limit:
                        more = more or index < len(rows) - 1
                        break
        if from_token:
            start = from_token
        elif first is not None:
            start = format_token(_just_outside(first, backwards))
        else:
            start = "t0_0"
        end = format_token(position) if more and position is not None else None
        state = await self._lazy_members(viewer, chunk) if event_filter.lazy_load_members else []
        return Page(chunk, start, end, state)

    async def _clamp_to_leave(
        self,
        viewer: Viewer,
        position: TopologicalPosition | None,
        stop: TopologicalPosition | None,
        backwards: bool,
    ) -> tuple[TopologicalPosition | None, TopologicalPosition | None]:
        assert viewer.membership is not None
        leave = await self._events.position_of(viewer.membership.event_id)
        if leave is None:
            return position, stop
        after_leave = _just_outside(leave, backwards=True)  # the leave itself is still theirs
        if backwards:
            if position is None or _pair(position) > _pair(after_leave):
                position = after_leave
        elif stop is None or _pair(stop) > _pair(after_leave):
            stop = after_leave
        return position, stop

    async def _lazy_members(self, viewer: Viewer, chunk: Sequence[Event]) -> list[Event]:
        keys: list[StateKey] = [("m.room.member", s) for s in {e.sender for e in chunk}]
        return await self._state_events(viewer, keys) if keys else []

    async def _state_events(self, viewer: Viewer, keys: Sequence[StateKey] | None = None) -> list[Event]:
        """The state a reader sees (all of it, or only `keys`): the current state for members
        and world-readable peekers, the state when they left for former members."""
        if viewer.has_left:
            assert viewer.membership is not None
            meta = (await self._events.get_meta([viewer.membership.event_id])).get(viewer.membership.event_id)
            if meta is None or meta.state_group is None:
                return []
            ids = await self._events.state_ids_at_group(meta.state_group, keys)
        else:
            ids = await self._events.current_state_ids(viewer.room_id, keys)
        found = await self._events.get_events(list(ids.values()))
        return [found[eid] for eid in ids.values() if eid in found]

    async def state(self, user_id: UserID, room_id: RoomID) -> list[Event]:
        """The current state for members; the state when they left for former members."""
        return await self._state_events(await self._viewer(user_id, room_id))

    async def state_event(self, user_id: UserID, room_id: RoomID, event_type: str, state_key: str) -> Event:
        found = await self._state_events(await self._viewer(user_id, room_id), [(event_type, state_key)])
        if not found:
            raise NotFound("State event not found")
        return found[0]

    async def members(self, user_id: UserID, room_id: RoomID, at: str | None = None) -> list[Event]:
        """The room's member events as the user may see them: now, when they left, or at a
        pagination token (never past a former member's leave)."""
        viewer = await self._viewer(user_id, room_id)
        position = await self.parse_token(room_id, at) if at is not None else None
        if viewer.has_left:
            position, _ = await self._clamp_to_leave(viewer, position, None, backwards=True)
        if position is None:
            current = await self._rooms.members(room_id)  # the index, not a full state read
            found = await self._events.get_events([m.event_id for m in current])
            return [found[m.event_id] for m in current if m.event_id in found]
        group = await self._events.state_group_at(room_id, position)
        ids = await self._events.state_ids_at_group(group) if group is not None else {}
        wanted = [eid for (etype, _), eid in ids.items() if etype == "m.room.member"]
        found = await self._events.get_events(wanted)
        return sorted((found[eid] for eid in wanted if eid in found), key=lambda e: e.state_key or "")

    async def joined_members(self, user_id: UserID, room_id: RoomID) -> list[Event]:
        """The joined members' events, for joined members only (spec: /joined_members)."""
        membership = await self._rooms.membership(room_id, user_id)
        if membership is None or membership.membership != "join":
            raise Forbidden("You are not in this room")
        joined = await self._rooms.members(room_id, ["join"])
        found = await self._events.get_events([m.event_id for m in joined])
        return [found[m.event_id] for m in joined if m.event_id in found]


def _pair(position: TopologicalPosition) -> tuple[int, int]:
    return (position.depth, position.stream)


def _just_outside(position: TopologicalPosition, backwards: bool) -> TopologicalPosition:
    """A position just past `position` on the side pagination started from."""
    return TopologicalPosition(position.depth, position.stream + (1 if backwards else -1))


def _before_stop(position: TopologicalPosition, stop: TopologicalPosition, backwards: bool) -> bool:
    pair, limit = (position.depth, position.stream), (stop.depth, stop.stream)
    return pair > limit if backwards else pair < limit
