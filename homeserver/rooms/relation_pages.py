"""Paginated reads over the relations index: the children of an event (/relations) and the
threads of a room (/threads), each filtered by what the user may see.

Tokens are the DAG positions /messages uses (`t<depth>_<stream>`), so a /messages or /sync
token can start a /relations page, as the spec allows."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.errors import Forbidden
from homeserver.events.model import Event
from homeserver.events.redaction import redact
from homeserver.ids import EventID, RoomID, UserID
from homeserver.rooms.relations import IgnoredUsers
from homeserver.rooms.timeline import Timeline, format_token
from homeserver.rooms.visibility import Visibility
from homeserver.storage.events import EventStore, TopologicalPosition
from homeserver.storage.relations import RelationStore
from homeserver.storage.rooms import RoomStore

MAX_LIMIT = 1000
MAX_SCANS = 5  # batches read to fill one page when visibility drops events
RECURSION_DEPTH = 3  # relations followed with recurse=true, as Synapse


@dataclass(frozen=True)
class RelationsQuery:
    rel_type: str | None = None
    event_type: str | None = None
    from_token: str | None = None
    to_token: str | None = None
    backwards: bool = True
    limit: int = 5
    recurse: bool = False


@dataclass(frozen=True)
class Page:
    chunk: list[Event]
    next_batch: str | None


class RelationPages:
    def __init__(
        self,
        relations: RelationStore,
        events: EventStore,
        rooms: RoomStore,
        timeline: Timeline,
        visibility: Visibility,
        ignored: IgnoredUsers,
    ) -> None:
        self._relations = relations
        self._events = events
        self._rooms = rooms
        self._timeline = timeline
        self._visibility = visibility
        self._ignored = ignored

    async def children(
        self, user_id: UserID, room_id: RoomID, parent_id: EventID, query: RelationsQuery
    ) -> Page:
        """One page of the parent's children (404 unless the user may see the parent),
        leaving out those sent by users the user ignores."""
        await self._timeline.event(user_id, room_id, parent_id)
        ignored = await self._ignored.ignored_users(user_id)
        position = await self._position(room_id, query.from_token)
        stop = await self._position(room_id, query.to_token)
        limit = max(0, min(query.limit, MAX_LIMIT))
        batch = max(limit * 2, 10)
        chunk: list[Event] = []
        more = limit > 0
        for _ in range(MAX_SCANS):
            if len(chunk) >= limit or not more:
                break
            rows = await self._relations.children(
                parent_id,
                room_id,
                rel_type=query.rel_type,
                event_type=query.event_type,
                levels=RECURSION_DEPTH if query.recurse else 1,
                start=position,
                stop=stop,
                backwards=query.backwards,
                limit=batch,
            )
            more = len(rows) == batch
            fetched = await self._events.get_events([eid for eid, _ in rows])
            found = [fetched[eid] for eid, _ in rows if eid in fetched and fetched[eid].sender not in ignored]
            visible = {e.event_id for e in await self._visibility.filter(user_id, room_id, found)}
            for index, (eid, pos) in enumerate(rows):
                position = pos
                if eid in visible:
                    chunk.append(fetched[eid])
                    if len(chunk) >= limit:
                        more = more or index < len(rows) - 1
                        break
        return Page(chunk, format_token(position) if more and position is not None else None)

    async def threads(
        self, user_id: UserID, room_id: RoomID, *, participated: bool, from_token: str | None, limit: int
    ) -> Page:
        """One page of the room's thread roots the user may see, latest activity first; a root
        sent by a user they ignore comes redacted, as the spec says."""
        if not await self._rooms.exists(room_id) or not await self._visibility.can_see_room(user_id, room_id):
            raise Forbidden("You are not allowed to view this room")
        ignored = await self._ignored.ignored_users(user_id)
        position = await self._position(room_id, from_token)
        limit = max(1, min(limit, MAX_LIMIT))
        batch = limit + 1
        chunk: list[Event] = []
        more = True
        for _ in range(MAX_SCANS):
            if len(chunk) >= limit or not more:
                break
            rows = await self._relations.threads(
                room_id, before=position, participant=user_id if participated else None, limit=batch
            )
            more = len(rows) == batch
            fetched = await self._events.get_events([s.thread_id for s in rows])
            roots = [fetched[s.thread_id] for s in rows if s.thread_id in fetched]
            visible = {e.event_id for e in await self._visibility.filter(user_id, room_id, roots)}
            for index, summary in enumerate(rows):
                position = summary.latest
                if summary.thread_id in visible:
                    chunk.append(_redacted_if(fetched[summary.thread_id], ignored))
                    if len(chunk) >= limit:
                        more = more or index < len(rows) - 1
                        break
        return Page(chunk, format_token(position) if more and position is not None else None)

    async def _position(self, room_id: RoomID, token: str | None) -> TopologicalPosition | None:
        return await self._timeline.parse_token(room_id, token) if token else None


def _redacted_if(event: Event, ignored: frozenset[UserID]) -> Event:
    if event.sender not in ignored:
        return event
    return Event(event.event_id, event.room_version, redact(event.pdu, event.room_version))
