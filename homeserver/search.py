"""Server-side search of room events (spec: "Server Side Search").

A search reads the full-text index (homeserver/storage/search.py) over the rooms the user is
or was in, keeps what the filter and the history visibility rules let them see, and adds what
was asked for: the context around each result, historic profiles, the rooms' state, groups by
room or sender. Results come in batches; `next_batch` continues where the previous batch
stopped reading, globally or within one group (room or sender)."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from homeserver.errors import InvalidParam
from homeserver.events.model import Event, StateKey
from homeserver.filters import RoomEventFilter
from homeserver.fulltext import SearchQuery, parse_query, surface_words
from homeserver.ids import EventID, RoomID, UserID
from homeserver.rooms.timeline import Timeline, format_token
from homeserver.rooms.visibility import Visibility
from homeserver.storage.events import EventStore, TopologicalPosition
from homeserver.storage.rooms import RoomStore
from homeserver.storage.search import (
    ALL_KEYS,
    KEY_OF_TYPE,
    Cursor,
    Order,
    SearchHit,
    SearchScope,
    SearchStore,
    search_entry,
)

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
DEFAULT_CONTEXT = 5
MAX_CONTEXT = 50
MAX_SCANS = 5  # index batches read to fill one page when filters or visibility drop results
SEARCHABLE_MEMBERSHIPS = ("join", "leave", "ban")  # rooms one is in, or was (spec)
GROUP_KEYS = ("room_id", "sender")
TOKEN_VERSION = 1


class IgnoredUsers(Protocol):
    async def ignored_users(self, user_id: UserID) -> frozenset[UserID]: ...


@dataclass(frozen=True)
class ContextRequest:
    before_limit: int = DEFAULT_CONTEXT
    after_limit: int = DEFAULT_CONTEXT
    include_profile: bool = False


@dataclass(frozen=True)
class RoomEventsRequest:
    search_term: str
    keys: tuple[str, ...] = ALL_KEYS
    event_filter: RoomEventFilter = field(default_factory=RoomEventFilter)
    order_by: Order = "rank"
    context: ContextRequest | None = None
    include_state: bool = False
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResultContext:
    events_before: list[Event]  # newest first
    events_after: list[Event]  # oldest first
    start: str
    end: str
    profile_info: dict[UserID, dict[str, str]] | None


@dataclass(frozen=True)
class SearchResult:
    rank: float
    event: Event
    context: ResultContext | None


@dataclass(frozen=True)
class ResultGroup:
    results: list[EventID]
    order: int  # 1 for the group of the first result, 2 for the next group, ...
    next_batch: str | None


@dataclass(frozen=True)
class RoomEventsResults:
    results: list[SearchResult]
    count: int
    highlights: list[str]
    next_batch: str | None = None
    groups: dict[str, dict[str, ResultGroup]] = field(default_factory=dict)
    state: dict[RoomID, list[Event]] | None = None


# Batch tokens


@dataclass(frozen=True)
class Batch:
    """Where a batch continues: the order it belongs to, the group it is limited to (a room or
    a sender, or neither), and the last hit read."""

    order: Order
    room_id: RoomID | None
    sender: UserID | None
    after: Cursor

    def encode(self) -> str:
        after = self.after
        raw = orjson.dumps(
            [TOKEN_VERSION, self.order, self.room_id, self.sender, after.stream_ordering, after.rank]
        )
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Batch:
        try:
            raw = base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4))
            version, order, room_id, sender, stream, rank = orjson.loads(raw)
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise InvalidParam("Invalid next_batch token") from None
        if (
            version != TOKEN_VERSION
            or order not in ("rank", "recent")
            or not (room_id is None or isinstance(room_id, str))
            or not (sender is None or isinstance(sender, str))
            or type(stream) is not int
            or not 0 <= stream < 2**63
            or type(rank) not in (int, float)
            or not math.isfinite(rank)
        ):
            raise InvalidParam("Invalid next_batch token")
        room = RoomID(room_id) if room_id is not None else None
        return cls(order, room, UserID(sender) if sender is not None else None, Cursor(stream, float(rank)))


# The search


class RoomSearch:
    def __init__(
        self,
        store: SearchStore,
        events: EventStore,
        rooms: RoomStore,
        visibility: Visibility,
        timeline: Timeline,
        ignored: IgnoredUsers | None = None,
    ) -> None:
        self._store = store
        self._events = events
        self._rooms = rooms
        self._visibility = visibility
        self._timeline = timeline
        self._ignored = ignored

    async def search(
        self, user_id: UserID, req: RoomEventsRequest, next_batch: str | None
    ) -> RoomEventsResults:
        batch = Batch.decode(next_batch) if next_batch is not None else None
        if batch is not None and batch.order != req.order_by:
            raise InvalidParam("next_batch belongs to a search with another order_by")
        query = parse_query(req.search_term)
        scope = await self._scope(user_id, req, batch)
        count = await self._store.count(query, scope)
        limit = max(
            0, min(req.event_filter.limit if req.event_filter.limit is not None else DEFAULT_LIMIT, MAX_LIMIT)
        )
        page = await self._read(user_id, query, scope, req, batch, limit)
        results = [
            SearchResult(
                hit.rank,
                event,
                await self._context(user_id, event, hit, req.context) if req.context is not None else None,
            )
            for hit, event in page.found
        ]
        next_token = page.token(batch.room_id if batch else None, batch.sender if batch else None)
        return RoomEventsResults(
            results=results,
            count=count,
            highlights=_highlights(query, [event for _, event in page.found]),
            next_batch=next_token,
            groups=_groups(req.group_by, page, batch) if req.group_by else {},
            state=await self._state(user_id, page) if req.include_state else None,
        )

    async def _scope(self, user_id: UserID, req: RoomEventsRequest, batch: Batch | None) -> SearchScope:
        f = req.event_filter
        memberships = await self._rooms.rooms_for_user(user_id, SEARCHABLE_MEMBERSHIPS)
        room_ids = {m.room_id for m in memberships}
        if f.rooms is not None:
            room_ids &= set(f.rooms)
        room_ids -= set(f.not_rooms)
        senders: set[UserID] | None = {UserID(s) for s in f.senders} if f.senders is not None else None
        if batch is not None and batch.room_id is not None:
            room_ids &= {batch.room_id}
        if batch is not None and batch.sender is not None:
            senders = {batch.sender} if senders is None else senders & {batch.sender}
        keys = [k for k in req.keys if _type_wanted(f, _TYPE_OF_KEY[k])]
        return SearchScope(
            room_ids=sorted(room_ids),
            keys=keys,
            senders=sorted(s for s in senders if "\x00" not in s) if senders is not None else None,
            not_senders=sorted(UserID(s) for s in f.not_senders if "\x00" not in s),
        )

    async def _read(
        self,
        user_id: UserID,
        query: SearchQuery,
        scope: SearchScope,
        req: RoomEventsRequest,
        batch: Batch | None,
        limit: int,
    ) -> _Page:
        """Read index batches until `limit` results the user may see, or the end."""
        order = req.order_by
        page = _Page(order, batch.after if batch is not None else None)
        if limit == 0:
            return page
        ignored = await self._ignored.ignored_users(user_id) if self._ignored is not None else frozenset()
        size = max(2 * limit, 20)
        for _ in range(MAX_SCANS):
            hits = await self._store.search(query, scope, order, page.after, size)
            visible = await self._visible(user_id, hits, req.event_filter, ignored)
            for index, hit in enumerate(hits):
                page.after = hit.cursor
                event = visible.get(hit.event_id)
                if event is not None:
                    page.found.append((hit, event))
                    if len(page.found) >= limit:
                        page.more = len(hits) == size or index < len(hits) - 1
                        return page
            if len(hits) < size:
                page.more = False
                return page
        page.more = True  # stopped reading, not at the end
        return page

    async def _visible(
        self, user_id: UserID, hits: Sequence[SearchHit], f: RoomEventFilter, ignored: frozenset[UserID]
    ) -> dict[EventID, Event]:
        fetched = await self._events.get_events([h.event_id for h in hits])
        by_room: dict[RoomID, list[Event]] = {}
        for hit in hits:
            event = fetched.get(hit.event_id)
            if event is not None and f.matches(event) and event.sender not in ignored and _searchable(event):
                by_room.setdefault(hit.room_id, []).append(event)
        visible: dict[EventID, Event] = {}
        for room_id, room_events in by_room.items():
            for event in await self._visibility.filter(user_id, room_id, room_events):
                visible[event.event_id] = event
        return visible

    async def _context(
        self, user_id: UserID, event: Event, hit: SearchHit, req: ContextRequest
    ) -> ResultContext:
        """The events around a result, read like /messages from its position (so with the
        same visibility rules), and the senders' profiles as of the last event shown."""
        here = TopologicalPosition(hit.depth, hit.stream_ordering)
        pages = []
        for backwards, limit in ((True, req.before_limit), (False, req.after_limit)):
            pages.append(
                await self._timeline.messages(
                    user_id,
                    hit.room_id,
                    from_token=format_token(here),
                    to_token=None,
                    backwards=backwards,
                    limit=limit,
                    event_filter=RoomEventFilter(),
                )
            )
        before, after = pages
        start = before.end or await self._token_at(before.chunk[-1] if before.chunk else event, here)
        end = after.end or await self._token_at(after.chunk[-1] if after.chunk else event, here)
        profiles = None
        if req.include_profile:
            profiles = await self._profiles(
                after.chunk[-1] if after.chunk else event, [*before.chunk, event, *after.chunk]
            )
        return ResultContext(before.chunk, after.chunk, start, end, profiles)

    async def _token_at(self, event: Event, default: TopologicalPosition) -> str:
        position = await self._events.position_of(event.event_id)
        return format_token(position or default)

    async def _profiles(self, last: Event, shown: Sequence[Event]) -> dict[UserID, dict[str, str]]:
        """Display names and avatars of the senders in the room's state after `last`."""
        meta = (await self._events.get_meta([last.event_id])).get(last.event_id)
        if meta is None or meta.state_group is None:
            return {}
        keys: list[StateKey] = [("m.room.member", s) for s in {e.sender for e in shown}]
        ids = await self._events.state_ids_at_group(meta.state_group, keys)
        members = await self._events.get_events(list(ids.values()))
        profiles: dict[UserID, dict[str, str]] = {}
        for (_, state_key), event_id in ids.items():
            member = members.get(event_id)
            if member is None:
                continue
            profile = {
                name: value
                for name in ("displayname", "avatar_url")
                if isinstance(value := member.content.get(name), str)
            }
            profiles[UserID(state_key)] = profile
        return profiles

    async def _state(self, user_id: UserID, page: _Page) -> dict[RoomID, list[Event]]:
        """The state of each room with results (as of leaving, for rooms the user left)."""
        rooms = dict.fromkeys(hit.room_id for hit, _ in page.found)
        return {room_id: await self._timeline.state(user_id, room_id) for room_id in rooms}


@dataclass
class _Page:
    """One batch being read: the results so far, and the last hit read."""

    order: Order
    after: Cursor | None
    found: list[tuple[SearchHit, Event]] = field(default_factory=list)
    more: bool = False

    def token(self, room_id: RoomID | None, sender: UserID | None) -> str | None:
        if not self.more or self.after is None:
            return None
        return Batch(self.order, room_id, sender, self.after).encode()


def _groups(group_by: Sequence[str], page: _Page, batch: Batch | None) -> dict[str, dict[str, ResultGroup]]:
    """The results partitioned by room and/or sender (Synapse's groupings). Each group's token
    continues within that group (and within the batch's own group, if it had one): the cursor
    of the last hit read is valid in any narrower scope."""
    scope_room = batch.room_id if batch is not None else None
    scope_sender = batch.sender if batch is not None else None
    out: dict[str, dict[str, ResultGroup]] = {}
    for key in dict.fromkeys(group_by):
        members: dict[str, list[EventID]] = {}
        for hit, _ in page.found:
            members.setdefault(hit.room_id if key == "room_id" else hit.sender, []).append(hit.event_id)
        out[key] = {
            value: ResultGroup(
                ids,
                order,
                page.token(RoomID(value), scope_sender)
                if key == "room_id"
                else page.token(scope_room, UserID(value)),
            )
            for order, (value, ids) in enumerate(members.items(), start=1)
        }
    return out


def _highlights(query: SearchQuery, found: Sequence[Event]) -> list[str]:
    """The query's words, and the words of the results that matched them as written."""
    wanted = query.positive_tokens()
    words: set[str] = set(wanted)
    for event in found:
        words |= surface_words(_raw_text(event), wanted)
    return sorted(words)


def _raw_text(event: Event) -> str:
    key = KEY_OF_TYPE.get(event.type, "")
    value = event.content.get(key.removeprefix("content."))
    return value if isinstance(value, str) else ""


def _searchable(event: Event) -> bool:
    """Still searchable when read (a redaction may have committed since the index was read)."""
    return (
        event.rejected_reason is None and search_entry(event.type, event.is_state, event.content) is not None
    )


_TYPE_OF_KEY = {key: event_type for event_type, key in KEY_OF_TYPE.items()}


def _type_wanted(f: RoomEventFilter, event_type: str) -> bool:
    """Whether the filter's types let events of this type through (to skip index keys no result
    could come from)."""

    def matches(patterns: Sequence[str]) -> bool:
        return any(p == event_type or ("*" in p and fnmatch.fnmatchcase(event_type, p)) for p in patterns)

    return (f.types is None or matches(f.types)) and not matches(f.not_types)
