"""Typing notifications: PUT /typing, what sync reads back through `Typing.for_sync`, expiry
(driven by a fake clock, and once for real with a tiny timeout awaited through the
notifier), wake-ups, restarts, and bad input changing nothing."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any, cast

import pytest

from homeserver.appkeys import NOTIFIER, TYPING
from homeserver.errors import Forbidden, InvalidParam
from homeserver.ids import RoomID, UserID
from homeserver.notifier import Notifier, Stream
from homeserver.storage.rooms import Membership, RoomStore
from homeserver.typing import MAX_TIMEOUT_MS, Typing
from tests.clientapi.room_helpers import create_room
from tests.helpers import HomeserverUnderTest, MatrixClient

ROOM = RoomID("!room:example.org")
OTHER_ROOM = RoomID("!other:example.org")
ALICE, BOB, CAROL = UserID("@alice:example.org"), UserID("@bob:example.org"), UserID("@carol:example.org")


# A service on a fake clock


class FakeHandle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeTimers:
    """A clock that moves only when told to, running the callbacks that fall due."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._queue: list[tuple[float, int, FakeHandle, Callable[[], object]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], object]) -> FakeHandle:
        handle = FakeHandle()
        heapq.heappush(self._queue, (when, next(self._order), handle, callback))
        return handle

    @property
    def pending(self) -> int:
        return sum(1 for _, _, handle, _ in self._queue if not handle.cancelled)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while self._queue and self._queue[0][0] <= self.now:
            _, _, handle, callback = heapq.heappop(self._queue)
            if not handle.cancelled:
                callback()


class Members:
    """The one RoomStore method the service asks: who is joined where."""

    def __init__(self, joined: dict[RoomID, set[UserID]]) -> None:
        self.joined = joined

    async def membership(self, room_id: str, user_id: str) -> Membership | None:
        if user_id not in self.joined.get(RoomID(room_id), set()):
            return None
        return Membership(RoomID(room_id), UserID(user_id), "join", cast(Any, "$join"), 1)


@pytest.fixture
def timers() -> FakeTimers:
    return FakeTimers()


@pytest.fixture
def notifier() -> Notifier:
    return Notifier()


@pytest.fixture
def typing(timers: FakeTimers, notifier: Notifier) -> Typing:
    members = Members({ROOM: {ALICE, BOB}, OTHER_ROOM: {ALICE, CAROL}})
    return Typing(cast(RoomStore, members), notifier, timers)


async def test_typing_expires_after_the_default_timeout(typing: Typing, timers: FakeTimers) -> None:
    await typing.set_typing(ALICE, ROOM, True, None)
    assert typing.for_sync([ROOM], 0) == {ROOM: [ALICE]}
    started = typing.position
    timers.advance(29.9)
    assert typing.for_sync([ROOM], 0) == {ROOM: [ALICE]}
    assert typing.position == started
    timers.advance(0.1)
    assert typing.for_sync([ROOM], 0) == {}
    assert typing.for_sync([ROOM], started) == {ROOM: []}
    assert typing.position == started + 1
    assert timers.pending == 0


async def test_timeout_is_capped(typing: Typing, timers: FakeTimers) -> None:
    await typing.set_typing(ALICE, ROOM, True, 10**12)
    timers.advance(MAX_TIMEOUT_MS / 1000 - 0.5)
    assert typing.for_sync([ROOM], 0) == {ROOM: [ALICE]}
    timers.advance(0.5)
    assert typing.for_sync([ROOM], 0) == {}


async def test_typing_again_extends_without_a_change(typing: Typing, timers: FakeTimers) -> None:
    await typing.set_typing(ALICE, ROOM, True, 30_000)
    position = typing.position
    timers.advance(20)
    await typing.set_typing(ALICE, ROOM, True, 30_000)
    assert typing.position == position  # still typing: nothing new for sync
    timers.advance(15)  # past the first timeout
    assert typing.for_sync([ROOM], 0) == {ROOM: [ALICE]}
    timers.advance(15)
    assert typing.for_sync([ROOM], 0) == {}
    assert typing.position == position + 1


async def test_one_timer_per_room(typing: Typing, timers: FakeTimers) -> None:
    await typing.set_typing(ALICE, ROOM, True, 10_000)
    await typing.set_typing(BOB, ROOM, True, 20_000)
    assert timers.pending == 1
    timers.advance(10)
    assert typing.for_sync([ROOM], 0) == {ROOM: [BOB]}
    assert timers.pending == 1
    # A shorter timeout than the pending timer's moves the timer earlier.
    await typing.set_typing(ALICE, ROOM, True, 1_000)
    assert timers.pending == 1
    timers.advance(1)
    assert typing.for_sync([ROOM], 0) == {ROOM: [BOB]}
    timers.advance(9)
    assert typing.for_sync([ROOM], 0) == {}
    assert timers.pending == 0


async def test_stopping_cancels_the_rooms_timer(typing: Typing, timers: FakeTimers) -> None:
    await typing.set_typing(ALICE, ROOM, True, 10_000)
    position = typing.position
    await typing.set_typing(ALICE, ROOM, False, None)
    assert timers.pending == 0
    assert typing.for_sync([ROOM], position) == {ROOM: []}
    await typing.set_typing(ALICE, ROOM, False, None)  # not typing: no change
    assert typing.position == position + 1


async def test_expiry_wakes_the_rooms_waiters(typing: Typing, timers: FakeTimers, notifier: Notifier) -> None:
    await typing.set_typing(ALICE, ROOM, True, 5_000)
    in_room = asyncio.create_task(notifier.wait_for(BOB, [ROOM], 30))
    elsewhere = asyncio.create_task(notifier.wait_for(CAROL, [OTHER_ROOM], 30))
    await asyncio.sleep(0)
    timers.advance(5)
    assert await in_room is True
    assert not elsewhere.done()
    elsewhere.cancel()
    assert notifier.positions[Stream.TYPING] == typing.position


async def test_for_sync_reports_only_rooms_changed_since(typing: Typing) -> None:
    await typing.set_typing(ALICE, ROOM, True, None)
    after_first = typing.position
    await typing.set_typing(CAROL, OTHER_ROOM, True, None)
    assert typing.for_sync([ROOM, OTHER_ROOM], after_first) == {OTHER_ROOM: [CAROL]}
    assert typing.for_sync([ROOM], after_first) == {}
    assert typing.for_sync([ROOM, OTHER_ROOM], typing.position) == {}
    assert typing.for_sync([ROOM, OTHER_ROOM], 0) == {ROOM: [ALICE], OTHER_ROOM: [CAROL]}
    assert typing.for_sync([], 0) == {}


async def test_a_position_from_before_a_restart_reads_as_zero(typing: Typing) -> None:
    await typing.set_typing(ALICE, ROOM, True, None)
    assert typing.for_sync([ROOM, OTHER_ROOM], typing.position + 50) == {ROOM: [ALICE]}


async def test_serial_starts_at_the_notifiers_position(timers: FakeTimers) -> None:
    notifier = Notifier()
    notifier.notify(Stream.TYPING, 7)
    typing = Typing(cast(RoomStore, Members({ROOM: {ALICE}})), notifier, timers)
    assert typing.position == 7
    await typing.set_typing(ALICE, ROOM, True, None)
    assert typing.position == notifier.positions[Stream.TYPING] == 8


async def test_service_refuses_non_members_and_negative_timeouts(typing: Typing) -> None:
    with pytest.raises(Forbidden):
        await typing.set_typing(CAROL, ROOM, True, None)
    with pytest.raises(InvalidParam):
        await typing.set_typing(ALICE, ROOM, True, -1)
    assert typing.position == 0
    assert typing.for_sync([ROOM], 0) == {}


# Over HTTP


async def _room(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    return alice, bob, room


def _typing(hs: HomeserverUnderTest) -> Typing:
    return hs.app[TYPING]


async def test_typing_over_http_wakes_the_room(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    notifier = hs.app[NOTIFIER]
    waiter = asyncio.create_task(notifier.wait_for(bob.user_id or "", [room], 30))
    await asyncio.sleep(0)
    body = {"typing": True, "timeout": 30_000}
    assert await alice.put(f"/rooms/{room}/typing/{alice.user_id}", body) == {}
    assert await waiter is True
    assert _typing(hs).for_sync([RoomID(room)], 0) == {room: [alice.user_id]}
    started = _typing(hs).position

    waiter = asyncio.create_task(notifier.wait_for(bob.user_id or "", [room], 30))
    await asyncio.sleep(0)
    await alice.put(f"/rooms/{room}/typing/{alice.user_id}", {"typing": False})
    assert await waiter is True
    assert _typing(hs).for_sync([RoomID(room)], started) == {room: []}
    assert notifier.positions[Stream.TYPING] == _typing(hs).position


async def test_typing_times_out_for_real(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    notifier, typing = hs.app[NOTIFIER], _typing(hs)
    await alice.put(f"/rooms/{room}/typing/{alice.user_id}", {"typing": True, "timeout": 20})
    started = typing.position
    # Checking and registering happen with no await between them: the wake-up cannot be missed.
    while typing.for_sync([RoomID(room)], started) != {room: []}:
        assert await notifier.wait_for(bob.user_id or "", [room], 30) is True
    assert typing.for_sync([RoomID(room)], 0) == {}


async def test_leaving_the_room_stops_typing(hs: HomeserverUnderTest) -> None:
    _alice, bob, room = await _room(hs)
    await bob.put(f"/rooms/{room}/typing/{bob.user_id}", {"typing": True})
    started = _typing(hs).position
    await bob.post(f"/rooms/{room}/leave")
    assert _typing(hs).for_sync([RoomID(room)], started) == {room: []}


async def test_typing_answers_under_r0(hs: HomeserverUnderTest) -> None:
    alice, _bob, room = await _room(hs)
    await alice.put(f"/_matrix/client/r0/rooms/{room}/typing/{alice.user_id}", {"typing": True})
    assert _typing(hs).for_sync([RoomID(room)], 0) == {room: [alice.user_id]}


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({}, "M_MISSING_PARAM"),
        ({"timeout": 1000}, "M_MISSING_PARAM"),
        ({"typing": "yes"}, "M_INVALID_PARAM"),
        ({"typing": 1}, "M_INVALID_PARAM"),
        ({"typing": True, "timeout": "30000"}, "M_INVALID_PARAM"),
        ({"typing": True, "timeout": 1.5}, "M_INVALID_PARAM"),
        ({"typing": True, "timeout": True}, "M_INVALID_PARAM"),
        ({"typing": True, "timeout": -1}, "M_INVALID_PARAM"),
    ],
)
async def test_bad_typing_body_is_refused(
    hs: HomeserverUnderTest, body: dict[str, Any], errcode: str
) -> None:
    alice, _bob, room = await _room(hs)
    err = await alice.put(f"/rooms/{room}/typing/{alice.user_id}", body, expect=400)
    assert err["errcode"] == errcode
    assert _typing(hs).position == 0
    assert _typing(hs).for_sync([RoomID(room)], 0) == {}


async def test_typing_body_must_be_json(hs: HomeserverUnderTest) -> None:
    alice, _bob, room = await _room(hs)
    path = f"/rooms/{room}/typing/{alice.user_id}"
    assert (await alice.request("PUT", path, data=b"typing", expect=400))["errcode"] == "M_NOT_JSON"
    assert (await alice.put(path, [True], expect=400))["errcode"] == "M_BAD_JSON"
    assert _typing(hs).position == 0


async def test_cannot_type_as_someone_else_or_outside_the_room(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    charlie = await hs.register("charlie")
    err = await alice.put(f"/rooms/{room}/typing/{bob.user_id}", {"typing": True}, expect=403)
    assert err["errcode"] == "M_FORBIDDEN"
    err = await charlie.put(f"/rooms/{room}/typing/{charlie.user_id}", {"typing": True}, expect=403)
    assert err["errcode"] == "M_FORBIDDEN"
    err = await charlie.put(
        f"/rooms/!nowhere:localhost/typing/{charlie.user_id}", {"typing": True}, expect=403
    )
    assert err["errcode"] == "M_FORBIDDEN"
    err = await alice.put(f"/rooms/not-a-room/typing/{alice.user_id}", {"typing": True}, expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"
    assert _typing(hs).position == 0
    assert _typing(hs).for_sync([RoomID(room)], 0) == {}
