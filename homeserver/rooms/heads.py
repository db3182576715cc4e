"""What the pipeline keeps in memory per room while it writes: the room's head (forward
extremity, depth, state group) with the current state entries it has looked up, and the
tentative head of a batch of events being built on top of it.

Only the pipeline writes events, one writer per room, so the head and its state entries are
exactly what storage holds once each transaction commits; a failed transaction leaves the head
as it was, because a batch only touches its own `Batch` until then."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID, RoomID, UserID
from homeserver.room_versions import RoomVersion
from homeserver.storage.events import TxnKey

MAX_KNOWN_STATE = 2048  # state entries remembered per room head before members are dropped
MAX_BATCH = 64  # events of one room committed together under load


@dataclass(frozen=True)
class Draft:
    """What a local user wants to send; the pipeline fills in the rest."""

    room_id: RoomID
    sender: UserID
    type: str
    content: Mapping[str, Any]
    state_key: str | None = None
    txn: TxnKey | None = None
    redacts: EventID | None = None


@dataclass
class Queued:
    draft: Draft
    prune: Event | None  # the target of a redaction, pruned in the same transaction
    result: asyncio.Future[Event]

    def fail(self, error: BaseException) -> None:
        if not self.result.done():
            self.result.set_exception(error)


@dataclass
class RoomHead:
    """The room's write position, owned by its writer."""

    version: RoomVersion
    extremities: list[EventID]
    depth: int
    state_group: int | None
    chain_length: int
    # Current state entries looked up so far: event ID, or None when the room has none.
    known_state: dict[StateKey, EventID | None] = field(default_factory=dict)

    def learn(self, entries: Iterable[tuple[StateKey, EventID | None]]) -> None:
        self.known_state.update(entries)
        if len(self.known_state) > MAX_KNOWN_STATE:  # big rooms: keep the room-level entries
            self.known_state = {k: v for k, v in self.known_state.items() if k[0] != "m.room.member"}

    def advance(self, batch: Batch) -> None:
        """The batch has committed: it is the head now."""
        self.extremities = list(batch.extremities)
        self.depth = batch.depth
        self.state_group, self.chain_length = batch.state_group, batch.chain_length
        self.learn((key, event.event_id) for key, event in batch.new_state.items())


@dataclass
class Batch:
    """Events built on a head but not yet committed: where the next one goes."""

    extremities: list[EventID]
    depth: int
    state_group: int | None
    chain_length: int
    new_state: dict[StateKey, Event] = field(default_factory=dict)  # state set by the batch

    @classmethod
    def on(cls, head: RoomHead) -> Batch:
        return cls(list(head.extremities), head.depth, head.state_group, head.chain_length)

    def add(self, event: Event, state_group: int | None, chain_length: int) -> None:
        self.extremities = [event.event_id]
        self.depth = event.depth
        self.state_group, self.chain_length = state_group, chain_length
        if event.is_state:
            self.new_state[event.key] = event


class KeyedLocks:
    """One asyncio.Lock per key, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Any, asyncio.Lock] = {}
        self._users: dict[Any, int] = {}

    @asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:  # nobody waits: drop it, so idle keys cost nothing
                del self._users[key]
                del self._locks[key]


def take_batch(queue: deque[Queued]) -> list[Queued]:
    """The next batch: at most MAX_BATCH drafts, and an event with a relation only first, as
    the relation checks read storage (two identical reactions must not both pass)."""
    batch = [queue.popleft()]
    while queue and len(batch) < MAX_BATCH and "m.relates_to" not in queue[0].draft.content:
        batch.append(queue.popleft())
    return batch


def retrieve_failure(future: asyncio.Future[Any]) -> None:
    """Mark a failure as seen: the caller may have gone away (client disconnected)."""
    if not future.cancelled():
        future.exception()
