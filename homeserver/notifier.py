"""Wakes whoever waits for new data once it is committed (sync long-polls, WebSockets,
pushers, the federation sender).

One position per stream (room events, account data, receipts, typing, presence, to-device,
device lists); together they make a /sync `next_batch`. A waiter registers for its user and
the rooms it is in, and is woken only by changes there: a message in a room wakes that
room's waiters, a to-device message wakes its recipient. A wake-up costs a set lookup and
one future resolved per waiter.

Writers commit out of order (two rooms, two receipts), so a change carries its own position
and the stream's visible position (below which nothing is in flight). A change above the
visible position wakes nobody yet: its waiters are woken when the stream catches up with it,
or a reader could look, see nothing, and sleep through it.

The notifier also remembers, per stream, the last position at which each room or user
changed (`changed_since`), so sync can skip a room or a query without asking the database.

A waiter is either a future (a long-poll's `wait_for`) or a `Watch`: a one-shot callback that
holds no task while it waits, so that an idle WebSocket costs a set entry, not a parked chain
of coroutines and a timer.

In-process for now; every method takes plain IDs and positions so that a Redis pub/sub
notifier can replace it when several processes share a database (DESIGN.md, "Scale").
Listeners registered with `add_listener` are called synchronously after each event commit,
in commit order."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import TypeVar

from homeserver.events.model import Event
from homeserver.storage.events import TxnKey

# (event, its stream position, the client transaction that sent it)
EventListener = Callable[[Event, int, TxnKey | None], None]
KeyT = TypeVar("KeyT", bound=str)  # a room or user ID, kept as the caller's type
MAX_REMEMBERED_CHANGES = 200_000  # per stream; past it the memory restarts (answers "maybe")
# Watches (WebSockets) whose callbacks run per loop turn. Each callback starts a frame task that
# runs in the next turn; 200 sockets woken at once make a turn of ~16 ms that every send in
# flight waits behind at each of its awaits (bench_sync b: send ack p50 39-43 -> 27-29 ms; the
# delivery p99 did not move, ~50 ms). Long-polls are not paced: spreading their wake-ups made
# smaller commit batches and cost a third of scenario a's throughput.
WAKE_BATCH = 16


class Stream(StrEnum):
    ROOMS = "rooms"
    ACCOUNT_DATA = "account_data"
    RECEIPTS = "receipts"
    TYPING = "typing"
    PRESENCE = "presence"
    TO_DEVICE = "to_device"
    DEVICE_LISTS = "device_lists"


_Waiter = asyncio.Future[bool]  # one per waiting long-poll (True: woken, False: timed out)


class ChangeMemory:
    """The last position at which each key (room or user ID) changed, for positions above
    `earliest`; about anything older the answer is "maybe" (True)."""

    __slots__ = ("_last", "earliest")

    def __init__(self, earliest: int) -> None:
        self.earliest = earliest
        self._last: dict[str, int] = {}

    def record(self, key: str, position: int) -> None:
        if position > self._last.get(key, 0):
            self._last[key] = position
        if len(self._last) > MAX_REMEMBERED_CHANGES:
            self.earliest = max(self._last.values())
            self._last.clear()

    def changed_since(self, key: str, position: int) -> bool:
        if position < self.earliest:
            return True
        return self._last.get(key, 0) > position

    def changed_among(self, keys: Iterable[KeyT], position: int) -> list[KeyT]:
        """Those of `keys` that may have changed after `position` (one pass: a user in
        hundreds of rooms asks about all of them on every sync)."""
        if position < self.earliest:
            return list(keys)
        last = self._last.get
        return [k for k in keys if last(k, 0) > position]


class Watch:
    """A one-shot registration: `callback` runs once when something changes for its user or
    rooms (inside the `notify` that woke it, or a few loop turns later when many wake at once:
    WAKE_BATCH); it is unregistered when woken, and never runs after `unwatch`."""

    __slots__ = ("callback", "keys", "live")

    def __init__(self, keys: tuple[str, ...], callback: Callable[[], None]) -> None:
        self.keys = keys
        self.callback = callback
        self.live = True


class Notifier:
    def __init__(self) -> None:
        self.positions: dict[Stream, int] = dict.fromkeys(Stream, 0)
        self._changes = {s: ChangeMemory(0) for s in Stream}
        self._pending: dict[Stream, list[tuple[int, tuple[str, ...]]]] = {s: [] for s in Stream}
        self._listeners: list[EventListener] = []
        # Waiters by user or room ID (the sigils keep the two apart: "@..." and "!...").
        self._waiters: dict[str, set[_Waiter | Watch]] = {}
        self._due: deque[Watch] = deque()  # woken watches whose callbacks wait (WAKE_BATCH)
        self._pacing = False  # a later turn is scheduled to tell the rest of `_due`
        self._working = 0  # listeners acting on news now (`working`)
        self._settled: list[asyncio.Future[None]] = []  # writers waiting in `settled`
        self.closed = False

    @property
    def room_stream_position(self) -> int:
        return self.positions[Stream.ROOMS]

    @property
    def account_data_stream_position(self) -> int:
        return self.positions[Stream.ACCOUNT_DATA]

    def start(self, stream: Stream, position: int) -> None:
        """At start-up: the stream's persisted position; changes before it are unknown."""
        self.positions[stream] = position
        self._changes[stream] = ChangeMemory(position)

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def on_new_event(
        self,
        event: Event,
        stream_position: int,
        *,
        persisted_up_to: int | None = None,
        txn: TxnKey | None = None,
    ) -> None:
        """`event` committed at `stream_position`. Readers may step up to `persisted_up_to`,
        below which nothing is still in flight (an event of another room may hold a lower
        position and commit later); without it, up to the event's own position."""
        for listener in self._listeners:
            listener(event, stream_position, txn)
        # A membership change also wakes its target: an invitee is in no room yet.
        target = (event.state_key,) if event.type == "m.room.member" and event.state_key else ()
        self.notify(
            Stream.ROOMS, stream_position, visible=persisted_up_to, users=target, rooms=(event.room_id,)
        )

    def on_account_data(self, user_id: str, stream_position: int, *, visible: int | None = None) -> None:
        """A user's account data changed at `stream_position`."""
        self.notify(Stream.ACCOUNT_DATA, stream_position, visible=visible, users=(user_id,))

    def notify(
        self,
        stream: Stream,
        position: int,
        *,
        visible: int | None = None,
        users: Iterable[str] = (),
        rooms: Iterable[str] = (),
    ) -> None:
        """A change at `position` of `stream` concerning `users` and `rooms` committed;
        nothing below `visible` (default: `position`) is still in flight. Wakes the waiters
        of those users and rooms once the change is visible."""
        keys = (*users, *rooms)
        memory = self._changes[stream]
        for key in keys:
            memory.record(key, position)
        pending = self._pending[stream]
        pending.append((position, keys))
        visible = position if visible is None else visible
        if visible > self.positions[stream]:
            self.positions[stream] = visible
        visible = self.positions[stream]
        ready = [keys for p, keys in pending if p <= visible]
        if len(ready) < len(pending):
            self._pending[stream] = [(p, keys) for p, keys in pending if p > visible]
        else:
            pending.clear()
        for group in ready:
            self._wake(group)

    def changed_since(self, stream: Stream, key: str, position: int) -> bool:
        """Whether `key` (a room or user ID) may have changed in `stream` after `position`."""
        return self._changes[stream].changed_since(key, position)

    def changed_among(self, stream: Stream, keys: Iterable[KeyT], position: int) -> list[KeyT]:
        """Those of `keys` (room or user IDs) that may have changed in `stream` after `position`."""
        return self._changes[stream].changed_among(keys, position)

    def _wake(self, keys: Iterable[str]) -> None:
        due = self._due
        for key in keys:
            waiters = self._waiters.get(key)
            if not waiters:
                continue
            fired: list[Watch] = []
            for waiter in waiters:
                if isinstance(waiter, Watch):
                    fired.append(waiter)  # unregistered after the loop: it changes this set
                elif not waiter.done():
                    waiter.set_result(True)
            for watch in fired:
                self._unregister(watch)
                due.append(watch)
        self._tell()

    def _tell(self) -> None:
        """Run the first WAKE_BATCH woken watches' callbacks now, the rest in later turns."""
        due = self._due
        for _ in range(min(WAKE_BATCH, len(due))):
            watch = due.popleft()
            if watch.live:
                watch.live = False
                watch.callback()
        if due and not self._pacing:
            self._pacing = True
            asyncio.get_running_loop().call_soon(self._tell_later)
        self._maybe_settled()

    @property
    def busy_listeners(self) -> int:
        """Listeners acting on news now (woken watches not yet told count apart)."""
        return self._working

    def working(self, delta: int) -> None:
        """A listener starts (+1) or stops (-1) acting on news: building its frame, not
        waiting for a slow client to read it (WebSocket pumps)."""
        self._working += delta
        self._maybe_settled()

    def _quiet(self) -> bool:
        """No woken watch waits to be told and no listener is acting on news."""
        return not self._due and self._working <= 0

    def _maybe_settled(self) -> None:
        if self._settled and self._quiet():
            settled, self._settled = self._settled, []
            for waiter in settled:
                _settle(waiter)

    async def settled(self, cap_s: float) -> None:
        """Return once no woken listener is still acting on news, or after `cap_s`; at once
        (without yielding) when none is. Event writers wait for it before each commit: when
        the loop cannot keep up with the fan-out, commits get bigger instead of more frequent,
        and each socket's next frame carries all that came meanwhile. Without it, sockets fall
        ever further behind a stream that runs ahead of them, past the recent-events log into
        reads from storage that put them further behind (bench_sync b above ~130 messages/s).
        The cap keeps a stuck listener from holding writes up for long."""
        if self._quiet():
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._settled.append(waiter)
        timer = loop.call_later(cap_s, _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()

    def _tell_later(self) -> None:
        self._pacing = False
        self._tell()

    def close(self) -> None:
        """The server is shutting down: end every wait now, and every later one at once, so
        long-polls answer instead of holding the shutdown for their whole timeout."""
        self.closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not isinstance(waiter, Watch) and not waiter.done():
                    waiter.set_result(True)

    async def wait_for(self, user_id: str, rooms: Iterable[str], timeout_s: float) -> bool:
        """Wait until something changes for `user_id` or in one of `rooms`; False on timeout.
        Registration happens before the first await, so a caller that checked the positions
        just before calling cannot miss a change."""
        if self.closed:
            return False
        loop = asyncio.get_running_loop()
        waiter: _Waiter = loop.create_future()
        keys = (user_id, *rooms)
        for key in keys:
            self._waiters.setdefault(key, set()).add(waiter)
        # A plain timer resolving the future (asyncio.timeout costs a cancellation scope and
        # two reschedules per wait: measurable when every delivery is a long-poll).
        timer = loop.call_later(timeout_s, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            for key in keys:
                _discard(self._waiters, key, waiter)

    def watch(self, user_id: str, rooms: Iterable[str], callback: Callable[[], None]) -> Watch:
        """Call `callback` once, at the next change for `user_id` or in one of `rooms`. The
        caller compares the positions it answered from with the current ones right after
        this (no await in between), so that a change just before it is not missed. After
        `close` nothing is registered: the server is going down."""
        watch = Watch((user_id, *rooms), callback)
        if not self.closed:
            for key in watch.keys:
                self._waiters.setdefault(key, set()).add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        """Unregister `watch`: its callback will not run (nothing if it already ran)."""
        watch.live = False
        self._unregister(watch)

    def _unregister(self, watch: Watch) -> None:
        for key in watch.keys:
            _discard(self._waiters, key, watch)


def _expire(waiter: _Waiter) -> None:
    if not waiter.done():
        waiter.set_result(False)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _discard(index: dict[str, set[_Waiter | Watch]], key: str, waiter: _Waiter | Watch) -> None:
    waiters = index.get(key)
    if waiters is not None:
        waiters.discard(waiter)
        if not waiters:
            del index[key]
