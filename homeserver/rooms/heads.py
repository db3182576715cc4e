"""What the pipeline keeps in memory per room while it writes: the room's head (forward
extremity, depth, state group) with the current state entries it has looked up, and the
tentative head of a batch of events being built on top of it.

Only the pipeline writes events, one writer per room, so the head and its state entries are
exactly what storage holds once each transaction commits; a failed transaction leaves the head
as it was, because a batch only touches its own `Batch` until then."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
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
    """A draft waiting for its room's writer, and the callers waiting for its event. Each
    caller awaits a future of its own, resolved by the writer directly: a caller that goes
    away cancels only its own (the draft is still written, so a retry of its transaction
    finds the event), and the others resume one loop turn after the commit, not two as
    behind `asyncio.shield`."""

    draft: Draft
    prune: Event | None  # the target of a redaction, pruned in the same transaction
    on_done: Callable[[], object] | None = None  # called once the outcome is known
    done: bool = False
    _waiters: list[asyncio.Future[Event]] = field(default_factory=list)

    def wait(self) -> asyncio.Future[Event]:
        """A future of the draft's event for one more caller."""
        waiter: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    def succeed(self, event: Event) -> None:
        if self._settle():
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(event)

    def fail(self, error: BaseException) -> None:
        if self._settle():
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_exception(error)

    def _settle(self) -> bool:
        if self.done:
            return False
        self.done = True
        if self.on_done is not None:
            self.on_done()
        return True


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
