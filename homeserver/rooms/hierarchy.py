"""The space hierarchy (Client-Server API: GET /rooms/{roomId}/hierarchy): a depth-first walk of
m.space.child links from a room, one page of the rooms the user may see at a time.

The walk visits each room once, so loops (a space containing itself or its parent) end. Room
summaries are read in batches of the rooms next in the queue: a page costs a few queries per
PREFETCH rooms, never one per child. The `from` token is stateless (any process can continue a
walk): it carries the request's parameters and how many rooms earlier pages returned, and the
next page walks again from the start, skipping those."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from homeserver.errors import Forbidden, InvalidParam
from homeserver.ids import RoomID, UserID
from homeserver.page_tokens import decode_page_token, encode_page_token
from homeserver.rooms.space_rooms import (
    allowed_room_ids,
    child_via,
    is_accessible,
    room_chunk,
    space_children,
)
from homeserver.storage.hierarchy import HierarchyStore, RoomSnapshot

DEFAULT_LIMIT = 50  # as Synapse: the default page size is also its cap
MAX_LIMIT = 50
MAX_DEPTH = 2**31  # anything deeper is "no limit" in practice (each room is visited once)
MAX_SKIP = 100_000  # rooms skipped when continuing a walk; a larger count is a forged token
PREFETCH = 50  # rooms whose summaries are read together
TOKEN_VERSION = 1


@dataclass(frozen=True)
class HierarchyRequest:
    room_id: RoomID
    suggested_only: bool = False
    max_depth: int | None = None
    limit: int | None = None
    from_token: str | None = None


@dataclass(frozen=True)
class HierarchyPage:
    rooms: list[dict[str, Any]]
    next_batch: str | None


@dataclass(frozen=True)
class _QueueEntry:
    room_id: RoomID
    via: tuple[str, ...]
    depth: int


@dataclass(frozen=True)
class _Loaded:
    """A known room and whether the requester may see it."""

    snapshot: RoomSnapshot
    accessible: bool


class SpaceHierarchy:
    def __init__(self, store: HierarchyStore) -> None:
        self._store = store

    async def page(self, user_id: UserID, request: HierarchyRequest) -> HierarchyPage:
        limit = _limit(request.limit)
        if request.max_depth is not None and not 0 <= request.max_depth <= MAX_DEPTH:
            raise InvalidParam("max_depth must be a non-negative integer")
        skip = _parse_token(request.from_token, user_id, request) if request.from_token else 0
        # One room more than the page: a next page is promised only if it has something in it.
        rooms = await _Walk(self._store, user_id, request).run(skip, limit + 1)
        next_batch = _token(user_id, request, skip + limit) if len(rooms) > limit else None
        return HierarchyPage(rooms[:limit], next_batch)


class _Walk:
    """One depth-first walk from the requested room, for one user."""

    def __init__(self, store: HierarchyStore, user_id: UserID, request: HierarchyRequest) -> None:
        self._store = store
        self._user_id = user_id
        self._request = request
        self._queue: deque[_QueueEntry] = deque([_QueueEntry(request.room_id, (), 0)])
        self._seen: set[RoomID] = set()
        self._loaded: dict[RoomID, _Loaded | None] = {}

    async def run(self, skip: int, limit: int) -> list[dict[str, Any]]:
        """The chunks of the accessible rooms after the first `skip`, at most `limit` of them."""
        out: list[dict[str, Any]] = []
        position = 0
        while self._queue and len(out) < limit:
            entry = self._queue.popleft()
            if entry.room_id in self._seen:
                continue
            self._seen.add(entry.room_id)
            loaded = await self._load(entry.room_id)
            if loaded is None or not loaded.accessible:
                if entry.depth == 0:
                    # Spec: the room does not exist, cannot be peeked, or the user is banned.
                    raise Forbidden("You are not allowed to view this room.")
                continue
            children = space_children(loaded.snapshot, self._request.suggested_only)
            if position >= skip:
                out.append(room_chunk(loaded.snapshot, children))
            position += 1
            max_depth = self._request.max_depth
            if max_depth is None or entry.depth < max_depth:
                self._queue.extendleft(
                    _QueueEntry(RoomID(c.state_key), tuple(child_via(c)), entry.depth + 1)
                    for c in reversed(children)
                )
        return out

    async def _load(self, room_id: RoomID) -> _Loaded | None:
        """The room's summary, read together with those of the next rooms in the queue."""
        if room_id not in self._loaded:
            batch = [room_id]
            for entry in self._queue:
                if len(batch) >= PREFETCH:
                    break
                if entry.room_id not in self._loaded and entry.room_id not in self._seen:
                    if entry.room_id not in batch:
                        batch.append(entry.room_id)
            await self._load_batch(batch)
        return self._loaded[room_id]

    async def _load_batch(self, batch: list[RoomID]) -> None:
        snapshots = await self._store.snapshots(batch)
        allowed = {r for s in snapshots.values() for r in allowed_room_ids(s)}
        memberships = await self._store.memberships(self._user_id, set(batch) | allowed)
        joined = {room for room, membership in memberships.items() if membership == "join"}
        for room_id in batch:
            snapshot = snapshots.get(room_id)
            if snapshot is None:
                # Not a room this server knows. With federation, this is where its summary
                # would be fetched from the servers in the link's `via` (federation
                # GET /hierarchy/{roomId}, cached for a while) and checked the same way.
                self._loaded[room_id] = None
                continue
            accessible = is_accessible(snapshot, memberships.get(room_id), joined)
            self._loaded[room_id] = _Loaded(snapshot, accessible)


def _limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit <= 0:
        raise InvalidParam("limit must be a positive integer")
    return min(limit, MAX_LIMIT)


def _binding(user_id: UserID, request: HierarchyRequest) -> str:
    """What a token is bound to: the user, the room and the walk's filters."""
    material = orjson.dumps([user_id, request.room_id, request.suggested_only, request.max_depth])
    return hashlib.sha256(material).hexdigest()[:32]


def _token(user_id: UserID, request: HierarchyRequest, skip: int) -> str:
    return encode_page_token([TOKEN_VERSION, _binding(user_id, request), skip])


def _parse_token(token: str, user_id: UserID, request: HierarchyRequest) -> int:
    """How many rooms the earlier pages returned; M_INVALID_PARAM for a token that is not ours
    or was issued for another room, user, max_depth or suggested_only."""
    decoded = decode_page_token(token)
    if (
        not isinstance(decoded, list)
        or len(decoded) != 3
        or decoded[0] != TOKEN_VERSION
        or not isinstance(decoded[1], str)
        or not isinstance(decoded[2], int)
        or isinstance(decoded[2], bool)
        or not 0 <= decoded[2] <= MAX_SKIP
    ):
        raise InvalidParam("Unknown pagination token")
    if decoded[1] != _binding(user_id, request):
        raise InvalidParam("suggested_only and max_depth cannot change on paginated requests")
    return decoded[2]
