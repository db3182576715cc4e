"""The published room directory (spec: GET/POST /publicRooms): rooms with more joined members
first, then by room ID; keyset pagination with opaque tokens, searchable by name, topic and
aliases, filterable by room type.

A page costs three queries whatever its size: the page of rooms (filtered, ordered and cut by
the database), their directory state, and the count estimate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.errors import InvalidParam
from homeserver.page_tokens import decode_page_token, encode_page_token
from homeserver.storage.directory import DirectoryStore, PublishedRoom, RoomListFilter, RoomListPosition

MAX_LIMIT = 100  # as Synapse: also the page size when the client names none
MAX_SEARCH_TERM = 256
DIRECTORY_STATE = (
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.topic",
    "m.room.canonical_alias",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.avatar",
)


@dataclass(frozen=True)
class RoomListRequest:
    limit: int | None = None
    since: str | None = None
    search_term: str | None = None
    room_types: tuple[str | None, ...] | None = None


@dataclass(frozen=True)
class RoomListPage:
    chunk: list[dict[str, Any]]
    next_batch: str | None
    prev_batch: str | None
    total_room_count_estimate: int


@dataclass(frozen=True)
class _Token:
    forwards: bool
    position: RoomListPosition


class RoomList:
    def __init__(self, store: DirectoryStore) -> None:
        self._store = store

    async def page(self, request: RoomListRequest) -> RoomListPage:
        limit = MAX_LIMIT if request.limit is None else request.limit
        if limit < 0:
            raise InvalidParam("limit must not be negative")
        limit = min(limit, MAX_LIMIT)
        room_filter = _filter(request)
        token = _parse_token(request.since) if request.since else None
        total = await self._store.count_published_rooms(room_filter)
        if limit == 0:
            return RoomListPage([], None, None, total)
        forwards = token is None or token.forwards
        bound = token.position if token is not None else None
        rows = await self._store.published_rooms(room_filter, bound, not forwards, limit + 1)
        more = len(rows) > limit
        page = rows[:limit] if forwards else list(reversed(rows[:limit]))
        chunk = await self._entries(page)
        first = _position(page[0]) if page else bound
        last = _position(page[-1]) if page else bound
        if forwards:
            next_batch = _token(True, last) if more else None
            prev_batch = _token(False, first) if token is not None else None
        else:
            next_batch = _token(True, last)
            prev_batch = _token(False, first) if more else None
        return RoomListPage(chunk, next_batch, prev_batch, total)

    async def _entries(self, page: Sequence[PublishedRoom]) -> list[dict[str, Any]]:
        state = await self._store.room_state_contents([r.room_id for r in page], DIRECTORY_STATE)
        return [room_entry(room, state[room.room_id]) for room in page]


def room_entry(room: PublishedRoom, state: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One PublishedRoomsChunk from the room's directory state (type -> content)."""

    def text(event_type: str, key: str) -> str | None:
        value = state.get(event_type, {}).get(key)
        return value if isinstance(value, str) and value else None

    entry: dict[str, Any] = {
        "room_id": room.room_id,
        "num_joined_members": room.joined_members,
        "world_readable": text("m.room.history_visibility", "history_visibility") == "world_readable",
        "guest_can_join": text("m.room.guest_access", "guest_access") == "can_join",
    }
    optional = {
        "name": text("m.room.name", "name"),
        "topic": plain_topic(state.get("m.room.topic", {})),
        "canonical_alias": text("m.room.canonical_alias", "alias"),
        "avatar_url": text("m.room.avatar", "url"),
        "join_rule": text("m.room.join_rules", "join_rule"),
        "room_type": text("m.room.create", "type"),
    }
    entry.update({key: value for key, value in optional.items() if value is not None})
    return entry


def plain_topic(content: Mapping[str, Any]) -> str | None:
    """The text/plain topic: from the m.topic content block if it has one, else `topic`."""
    block = content.get("m.topic")
    if isinstance(block, dict) and isinstance(block.get("m.text"), list):
        for representation in block["m.text"]:
            if not isinstance(representation, dict):
                continue
            mimetype = representation.get("mimetype", "text/plain")
            body = representation.get("body")
            if mimetype == "text/plain" and isinstance(body, str) and body:
                return body
    topic = content.get("topic")
    return topic if isinstance(topic, str) and topic else None


def _filter(request: RoomListRequest) -> RoomListFilter:
    term = (request.search_term or "").strip().lower()
    if len(term) > MAX_SEARCH_TERM or "\x00" in term:
        raise InvalidParam(f"generic_search_term must be at most {MAX_SEARCH_TERM} characters, without NUL")
    types = request.room_types
    if types is not None and any(t is not None and "\x00" in t for t in types):
        raise InvalidParam("room_types must not contain NUL characters")
    return RoomListFilter(search_term=term or None, room_types=types or None)


def _position(room: PublishedRoom) -> RoomListPosition:
    return RoomListPosition(room.joined_members, room.room_id)


def _token(forwards: bool, position: RoomListPosition | None) -> str | None:
    if position is None:
        return None
    return encode_page_token(["n" if forwards else "p", position.joined_members, position.room_id])


def _parse_token(token: str) -> _Token:
    decoded = decode_page_token(token)
    if (
        not isinstance(decoded, list)
        or len(decoded) != 3
        or decoded[0] not in ("n", "p")
        or not isinstance(decoded[1], int)
        or isinstance(decoded[1], bool)
        or not 0 <= decoded[1] < 2**53
        or not isinstance(decoded[2], str)
        or "\x00" in decoded[2]
    ):
        raise InvalidParam("Invalid pagination token")
    return _Token(decoded[0] == "n", RoomListPosition(decoded[1], decoded[2]))
