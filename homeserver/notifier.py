"""Wakes whoever waits for new data once it is committed (sync long-polls, WebSockets,
pushers, the federation sender).

One position per stream (room events, account data, receipts, typing, presence, to-device,
device lists); together they make a /sync `next_batch`. A waiter registers for its user and
the rooms it is in, and is woken only by changes there: a message in a room wakes that
room's waiters, a to-device message wakes its recipient. A wake-up costs a set lookup and
one `Event.set()` per waiter.

In-process for now; every method takes plain IDs and positions so that a Redis pub/sub
notifier can replace it when several processes share a database (DESIGN.md, "Scale").
Listeners registered with `add_listener` are called synchronously after each event commit,
in commit order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from enum import StrEnum

from homeserver.events.model import Event

EventListener = Callable[[Event, int], None]


class Stream(StrEnum):
    ROOMS = "rooms"
    ACCOUNT_DATA = "account_data"
    RECEIPTS = "receipts"
    TYPING = "typing"
    PRESENCE = "presence"
    TO_DEVICE = "to_device"
    DEVICE_LISTS = "device_lists"


class _Waiter:
    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = asyncio.Event()


class Notifier:
    def __init__(self) -> None:
        self.positions: dict[Stream, int] = dict.fromkeys(Stream, 0)
        self._listeners: list[EventListener] = []
        self._by_user: dict[str, set[_Waiter]] = {}
        self._by_room: dict[str, set[_Waiter]] = {}
        self._everyone: set[_Waiter] = set()

    @property
    def room_stream_position(self) -> int:
        return self.positions[Stream.ROOMS]

    @property
    def account_data_stream_position(self) -> int:
        return self.positions[Stream.ACCOUNT_DATA]

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def on_new_event(self, event: Event, stream_position: int, *, persisted_up_to: int | None = None) -> None:
        """`event` committed at `stream_position`. Readers may step up to `persisted_up_to`,
        below which nothing is still in flight (an event of another room may hold a lower
        position and commit later); without it, up to the event's own position."""
        for listener in self._listeners:
            listener(event, stream_position)
        visible = stream_position if persisted_up_to is None else persisted_up_to
        # A membership change also wakes its target: an invitee is in no room yet.
        target = (event.state_key,) if event.type == "m.room.member" and event.state_key else ()
        self.notify(Stream.ROOMS, visible, users=target, rooms=(event.room_id,))

    def on_account_data(self, user_id: str, stream_position: int) -> None:
        """A user's account data changed (committed up to `stream_position`)."""
        self.notify(Stream.ACCOUNT_DATA, stream_position, users=(user_id,))

    def notify(
        self,
        stream: Stream,
        position: int,
        *,
        users: Iterable[str] = (),
        rooms: Iterable[str] = (),
        everyone: bool = False,
    ) -> None:
        """`stream` advanced to `position` (nothing below it still in flight); wake the
        waiters of `users`, of `rooms`, or all of them."""
        if position > self.positions[stream]:
            self.positions[stream] = position
        woken: set[_Waiter] = set()
        if everyone:
            woken = self._everyone
        else:
            for user in users:
                woken.update(self._by_user.get(user, ()))
            for room in rooms:
                woken.update(self._by_room.get(room, ()))
        for waiter in woken:
            waiter.event.set()

    async def wait_for(self, user_id: str, rooms: Iterable[str], timeout_s: float) -> bool:
        """Wait until something changes for `user_id` or in one of `rooms`; False on timeout.
        Registration happens before the first await, so a caller that checked the positions
        just before calling cannot miss a change."""
        waiter = _Waiter()
        room_list = list(rooms)
        self._everyone.add(waiter)
        self._by_user.setdefault(user_id, set()).add(waiter)
        for room in room_list:
            self._by_room.setdefault(room, set()).add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await waiter.event.wait()
                    return True
            return False
        finally:
            self._everyone.discard(waiter)
            _discard(self._by_user, user_id, waiter)
            for room in room_list:
                _discard(self._by_room, room, waiter)


def _discard(index: dict[str, set[_Waiter]], key: str, waiter: _Waiter) -> None:
    waiters = index.get(key)
    if waiters is not None:
        waiters.discard(waiter)
        if not waiters:
            del index[key]
