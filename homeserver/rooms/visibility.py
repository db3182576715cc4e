"""Which events a user may see (Client-Server API, "History visibility").

A user sees an event if, at that event, the room was world_readable, or they were joined, or
they were invited and history was `invited`, or history was `shared` and they joined at some
point after it (they are joined now, or they left after having been joined). Users always
see their own membership changes (a kicked user sees the kick). A forgotten room is, to its
former member, like any room they were never in.
The state at an event comes from its state group; a page of events usually spans few groups,
so the lookups are one per distinct group, not one per event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.events import EventStore
from homeserver.storage.rooms import Membership, RoomStore

HISTORY_KEY: StateKey = ("m.room.history_visibility", "")
NONE = EventID("")
READS_HISTORY = ("join", "leave", "ban")  # memberships whose holder may read the room's history


@dataclass(frozen=True)
class Viewer:
    """A user looking at one room: their membership there, worked out once per request."""

    user_id: UserID
    room_id: RoomID
    membership: Membership | None  # None when never in the room, or when it was forgotten
    joined_until: int | None  # see Visibility._joined_until

    @property
    def is_member(self) -> bool:
        """Joined now, or left (or was banned): may read the history they could see."""
        return self.membership is not None and self.membership.membership in READS_HISTORY

    @property
    def has_left(self) -> bool:
        return self.membership is not None and self.membership.membership in ("leave", "ban")


class Visibility:
    def __init__(self, events: EventStore, rooms: RoomStore) -> None:
        self._events = events
        self._rooms = rooms

    async def viewer(self, user_id: UserID, room_id: RoomID) -> Viewer:
        membership = await self._rooms.membership(room_id, user_id)
        if membership is not None and membership.forgotten:
            membership = None
        return Viewer(user_id, room_id, membership, await self._joined_until(membership))

    async def filter(self, user_id: UserID, room_id: RoomID, events: Sequence[Event]) -> list[Event]:
        if not events:
            return []
        return await self.filter_for(await self.viewer(user_id, room_id), events)

    async def filter_for(self, viewer: Viewer, events: Sequence[Event]) -> list[Event]:
        if not events:
            return []
        return (await self.filter_many([(viewer, events)]))[0]

    def joined_viewer(self, membership: Membership) -> Viewer:
        """The viewer of a user whose current membership (a join) is already known."""
        return Viewer(membership.user_id, membership.room_id, membership, 2**63)

    async def filter_many(self, pages: Sequence[tuple[Viewer, Sequence[Event]]]) -> list[list[Event]]:
        """Several rooms' pages at once (an initial sync): one metadata read for them all."""
        metas = await self._events.get_meta([e.event_id for _, events in pages for e in events])
        wanted: dict[int, list[StateKey]] = {}
        for viewer, events in pages:
            member_key: StateKey = ("m.room.member", viewer.user_id)
            for e in events:
                meta = metas.get(e.event_id)
                if meta is not None and meta.state_group is not None:
                    wanted.setdefault(meta.state_group, [HISTORY_KEY])
                    if member_key not in wanted[meta.state_group]:
                        wanted[meta.state_group].append(member_key)
        state_by_group = await self._events.state_keys_at_groups(wanted)
        needed = {eid for state in state_by_group.values() for eid in state.values()}
        state_events = await self._events.get_events(needed)
        out: list[list[Event]] = []
        for viewer, events in pages:
            user_id = viewer.user_id
            member_key = ("m.room.member", user_id)
            visible: list[Event] = []
            for event in events:
                meta = metas.get(event.event_id)
                if meta is None or meta.state_group is None:
                    continue
                if (
                    viewer.membership is not None
                    and event.type == "m.room.member"
                    and event.state_key == user_id
                ):
                    visible.append(event)  # one always sees one's own membership changes
                    continue
                state = state_by_group[meta.state_group]
                history = _content_str(state_events.get(state.get(HISTORY_KEY, NONE)), "history_visibility")
                membership = _content_str(state_events.get(state.get(member_key, NONE)), "membership")
                if viewer.membership is None:
                    membership = None  # forgotten: no longer counts as having been there
                joined_after = viewer.joined_until is not None and meta.stream_ordering < viewer.joined_until
                if _may_see(history or "shared", membership, joined_after):
                    visible.append(event)
            out.append(visible)
        return out

    async def _joined_until(self, current: Membership | None) -> int | None:
        """The stream position up to which the user has been joined at some later point:
        infinity while joined; the position of their leave if they left after being joined."""
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

    async def world_readable(self, room_id: RoomID) -> bool:
        ids = await self._events.current_state_ids(room_id, [HISTORY_KEY])
        events = await self._events.get_events(list(ids.values()))
        history = _content_str(events.get(ids.get(HISTORY_KEY, NONE)), "history_visibility")
        return history == "world_readable"

    async def can_see_room(self, user_id: UserID, room_id: RoomID) -> bool:
        """Whether the user may read the room at all: joined now or before (and not forgotten
        since), or the room is world-readable. Invited and knocking users may not."""
        return (await self.viewer(user_id, room_id)).is_member or await self.world_readable(room_id)


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
