"""The notifier (homeserver/notifier.py): per-user and per-room wake-ups, changes deferred
until the stream catches up with them, positions that never go backwards, the change memory
behind `changed_since`, and event listeners called in commit order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from homeserver import notifier as notifier_module
from homeserver.events.model import Event
from homeserver.ids import UserID
from homeserver.notifier import ChangeMemory, Notifier, Stream, Watch
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.events import TxnKey
from tests.homeserver.eventbuilder import make_event

ALICE, BOB = "@alice:test", "@bob:test"
ROOM_A, ROOM_B = "!a:test", "!b:test"
COMES = 5.0  # the wait ends as soon as the wake-up comes; this only bounds a broken test
NEVER = 0.05  # a wake-up that must not come


async def woken(
    notifier: Notifier, user: str, rooms: list[str], change: Callable[[], None], within_s: float
) -> bool:
    """Whether a waiter for `user` and `rooms`, registered before `change` runs, is woken."""
    waiting = asyncio.create_task(notifier.wait_for(user, rooms, within_s))
    await asyncio.sleep(0)  # one turn of the loop: the task runs up to its wait, registered
    change()
    return await waiting


def message(room_id: str, event_id: str, *, body: str = "hi") -> Event:
    return make_event(
        KNOWN_ROOM_VERSIONS["10"],
        event_id=event_id,
        type="m.room.message",
        sender=ALICE,
        content={"msgtype": "m.text", "body": body},
        room_id=room_id,
    )


def member(room_id: str, event_id: str, target: str, membership: str) -> Event:
    return make_event(
        KNOWN_ROOM_VERSIONS["10"],
        event_id=event_id,
        type="m.room.member",
        sender=ALICE,
        content={"membership": membership},
        room_id=room_id,
        state_key=target,
    )


# Wake-ups


async def test_room_change_wakes_that_rooms_waiter() -> None:
    n = Notifier()
    assert await woken(n, BOB, [ROOM_A], lambda: n.notify(Stream.ROOMS, 1, rooms=[ROOM_A]), COMES)


async def test_room_change_does_not_wake_waiter_of_another_room() -> None:
    n = Notifier()
    assert not await woken(n, BOB, [ROOM_B], lambda: n.notify(Stream.ROOMS, 1, rooms=[ROOM_A]), NEVER)
    assert n.positions[Stream.ROOMS] == 1  # the change still moved the stream on


async def test_user_change_wakes_that_user_only() -> None:
    n = Notifier()
    assert await woken(n, ALICE, [], lambda: n.notify(Stream.TO_DEVICE, 3, users=[ALICE]), COMES)
    assert not await woken(n, BOB, [ROOM_A], lambda: n.notify(Stream.TO_DEVICE, 4, users=[ALICE]), NEVER)


async def test_user_waits_on_its_rooms_and_itself_at_once() -> None:
    n = Notifier()
    assert await woken(n, BOB, [ROOM_A, ROOM_B], lambda: n.notify(Stream.ROOMS, 1, rooms=[ROOM_B]), COMES)
    assert await woken(n, BOB, [ROOM_A, ROOM_B], lambda: n.on_account_data(BOB, 1), COMES)
    assert not await woken(n, BOB, [ROOM_A, ROOM_B], lambda: n.on_account_data(ALICE, 2), NEVER)


async def test_one_change_wakes_every_waiter_of_the_room() -> None:
    n = Notifier()
    waiters = [asyncio.create_task(n.wait_for(user, [ROOM_A], COMES)) for user in (ALICE, BOB, "@c:test")]
    await asyncio.sleep(0)
    n.notify(Stream.ROOMS, 1, rooms=[ROOM_A])
    assert await asyncio.gather(*waiters) == [True, True, True]


async def test_membership_event_wakes_its_target_outside_the_room() -> None:
    """An invitee waits on no room of the invite yet: the event must wake the user."""
    n = Notifier()
    invite = member(ROOM_A, "$invite", BOB, "invite")
    assert await woken(n, BOB, [ROOM_B], lambda: n.on_new_event(invite, 1), COMES)
    other = message(ROOM_A, "$m")
    assert not await woken(n, BOB, [ROOM_B], lambda: n.on_new_event(other, 2), NEVER)


async def test_a_waiter_is_forgotten_when_its_wait_ends() -> None:
    n = Notifier()
    assert not await n.wait_for(BOB, [ROOM_A, ROOM_B], 0.01)
    assert await woken(n, ALICE, [ROOM_A], lambda: n.notify(Stream.ROOMS, 1, rooms=[ROOM_A]), COMES)
    assert n._waiters == {}


# Out-of-order commits


async def test_change_above_the_visible_position_wakes_nobody_until_it_is_visible() -> None:
    """Position 5 commits before 4: its waiters wake only when 4 commits and 5 is visible."""
    n = Notifier()
    in_a = asyncio.create_task(n.wait_for(ALICE, [ROOM_A], COMES))
    in_b = asyncio.create_task(n.wait_for(BOB, [ROOM_B], COMES))
    await asyncio.sleep(0)
    n.notify(Stream.ROOMS, 5, visible=3, rooms=[ROOM_A])
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not in_a.done() and not in_b.done()
    assert n.positions[Stream.ROOMS] == 3
    n.notify(Stream.ROOMS, 4, visible=5, rooms=[ROOM_B])
    assert list(await asyncio.gather(in_a, in_b)) == [True, True]
    assert n.positions[Stream.ROOMS] == 5


async def test_deferred_change_wakes_a_reader_that_started_waiting_after_it() -> None:
    """A reader that looked at position 3 (and saw nothing of 5) and then waits must not
    sleep through 5 once it becomes visible."""
    n = Notifier()
    n.notify(Stream.ROOMS, 5, visible=3, rooms=[ROOM_A])
    assert await woken(n, BOB, [ROOM_A], lambda: n.notify(Stream.ROOMS, 4, visible=5, rooms=[ROOM_B]), COMES)


async def test_deferred_change_stays_deferred_while_the_stream_lags() -> None:
    n = Notifier()
    n.notify(Stream.ROOMS, 6, visible=3, rooms=[ROOM_A])
    assert not await woken(n, BOB, [ROOM_A], lambda: n.notify(Stream.ROOMS, 4, visible=5), NEVER)
    assert await woken(n, BOB, [ROOM_A], lambda: n.notify(Stream.ROOMS, 5, visible=6), COMES)


async def test_on_new_event_defers_until_persisted_up_to() -> None:
    n = Notifier()
    late = message(ROOM_A, "$late")
    assert not await woken(n, BOB, [ROOM_A], lambda: n.on_new_event(late, 2, persisted_up_to=1), NEVER)
    early = message(ROOM_B, "$early")
    assert await woken(n, BOB, [ROOM_A], lambda: n.on_new_event(early, 1, persisted_up_to=2), COMES)


async def test_streams_are_independent() -> None:
    n = Notifier()
    n.notify(Stream.RECEIPTS, 9, visible=2, rooms=[ROOM_A])
    assert await woken(n, BOB, [ROOM_A], lambda: n.notify(Stream.ROOMS, 1, rooms=[ROOM_B]), NEVER) is False
    assert n.positions[Stream.RECEIPTS] == 2 and n.positions[Stream.ROOMS] == 1
    assert await woken(n, BOB, [ROOM_A], lambda: n.notify(Stream.RECEIPTS, 3, visible=9), COMES)


# Positions


def test_positions_never_go_backwards() -> None:
    n = Notifier()
    n.notify(Stream.ROOMS, 10)
    n.notify(Stream.ROOMS, 7)
    n.notify(Stream.ROOMS, 8, visible=6)
    assert n.positions[Stream.ROOMS] == 10
    assert n.room_stream_position == 10


async def test_late_change_below_the_position_wakes_at_once() -> None:
    n = Notifier()
    n.notify(Stream.ROOMS, 10)
    assert await woken(n, BOB, [ROOM_A], lambda: n.notify(Stream.ROOMS, 7, rooms=[ROOM_A]), COMES)


def test_start_sets_position_and_forgets_earlier_changes() -> None:
    n = Notifier()
    n.start(Stream.ACCOUNT_DATA, 40)
    assert n.positions[Stream.ACCOUNT_DATA] == 40 == n.account_data_stream_position
    assert n.changed_since(Stream.ACCOUNT_DATA, ALICE, 39)  # before start: maybe
    assert not n.changed_since(Stream.ACCOUNT_DATA, ALICE, 40)
    n.on_account_data(ALICE, 41)
    assert n.changed_since(Stream.ACCOUNT_DATA, ALICE, 40)
    assert not n.changed_since(Stream.ACCOUNT_DATA, BOB, 40)
    assert not n.changed_since(Stream.ACCOUNT_DATA, ALICE, 41)


# changed_since and ChangeMemory


def test_changed_since_per_stream_and_key() -> None:
    n = Notifier()
    n.notify(Stream.ROOMS, 5, users=[BOB], rooms=[ROOM_A])
    assert n.changed_since(Stream.ROOMS, ROOM_A, 4)
    assert n.changed_since(Stream.ROOMS, BOB, 4)
    assert not n.changed_since(Stream.ROOMS, ROOM_A, 5)
    assert not n.changed_since(Stream.ROOMS, ROOM_B, 4)
    assert not n.changed_since(Stream.RECEIPTS, ROOM_A, 4)


def test_changed_since_counts_deferred_changes() -> None:
    """A change above the visible position is remembered at once (a reader past it reads it)."""
    n = Notifier()
    n.notify(Stream.ROOMS, 5, visible=3, rooms=[ROOM_A])
    assert n.changed_since(Stream.ROOMS, ROOM_A, 4)


def test_changed_among_picks_the_keys_changed_after_the_position_in_their_order() -> None:
    n = Notifier()
    n.notify(Stream.ROOMS, 5, rooms=[ROOM_B])
    n.notify(Stream.ROOMS, 7, rooms=[ROOM_A])
    assert n.changed_among(Stream.ROOMS, [ROOM_A, ROOM_B, "!quiet:hs"], 4) == [ROOM_A, ROOM_B]
    assert n.changed_among(Stream.ROOMS, [ROOM_A, ROOM_B], 5) == [ROOM_A]
    assert n.changed_among(Stream.ROOMS, [ROOM_A, ROOM_B], 7) == []
    assert n.changed_among(Stream.RECEIPTS, [ROOM_A, ROOM_B], 0) == []


def test_changed_among_answers_maybe_for_every_key_before_earliest() -> None:
    memory = ChangeMemory(10)
    memory.record(ROOM_A, 12)
    assert memory.changed_among(iter([ROOM_A, ROOM_B]), 9) == [ROOM_A, ROOM_B]
    assert memory.changed_among([ROOM_A, ROOM_B], 10) == [ROOM_A]


def test_change_memory_keeps_the_latest_position() -> None:
    memory = ChangeMemory(10)
    memory.record(ROOM_A, 15)
    memory.record(ROOM_A, 12)  # a late commit of a lower position
    assert memory.changed_since(ROOM_A, 14)
    assert not memory.changed_since(ROOM_A, 15)


def test_change_memory_answers_maybe_before_earliest() -> None:
    memory = ChangeMemory(10)
    assert memory.earliest == 10
    assert memory.changed_since(ROOM_A, 9)
    assert memory.changed_since(ROOM_A, 0)
    assert not memory.changed_since(ROOM_A, 10)
    assert not memory.changed_since(ROOM_A, 100)


def test_change_memory_forgets_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifier_module, "MAX_REMEMBERED_CHANGES", 3)
    memory = ChangeMemory(0)
    for position, key in enumerate(["!1:t", "!2:t", "!3:t"], start=1):
        memory.record(key, position)
    assert memory.earliest == 0
    assert memory.changed_since("!1:t", 0) and not memory.changed_since("!1:t", 1)
    memory.record("!1:t", 4)  # still three keys: nothing forgotten
    assert memory.earliest == 0 and not memory.changed_since("!2:t", 2)
    memory.record("!4:t", 5)  # a fourth key: the memory restarts from the newest position
    assert memory.earliest == 5
    for key in ("!1:t", "!2:t", "!3:t", "!4:t", "!never:t"):
        assert memory.changed_since(key, 4), key  # older than what is remembered: maybe
        assert not memory.changed_since(key, 5), key
    memory.record("!2:t", 6)
    assert memory.changed_since("!2:t", 5) and not memory.changed_since("!3:t", 5)


def test_notifier_change_memory_forgets_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifier_module, "MAX_REMEMBERED_CHANGES", 2)
    n = Notifier()
    n.notify(Stream.ROOMS, 1, rooms=["!1:t"])
    n.notify(Stream.ROOMS, 2, rooms=["!2:t"])
    assert not n.changed_since(Stream.ROOMS, "!3:t", 0)
    n.notify(Stream.ROOMS, 3, rooms=["!3:t"])
    assert n.changed_since(Stream.ROOMS, "!3:t", 0)  # forgotten: maybe
    assert n.changed_since(Stream.ROOMS, "!unknown:t", 2)
    assert not n.changed_since(Stream.ROOMS, "!1:t", 3)


# Listeners


def test_listeners_get_event_position_and_transaction_in_commit_order() -> None:
    n = Notifier()
    calls: list[tuple[str, str, int, TxnKey | None]] = []
    n.add_listener(lambda event, position, txn: calls.append(("first", event.event_id, position, txn)))
    n.add_listener(lambda event, position, txn: calls.append(("second", event.event_id, position, txn)))
    txn = TxnKey(UserID(ALICE), "DEVICE", "send/m.room.message/t1", "t1")
    n.on_new_event(message(ROOM_A, "$1"), 1, txn=txn)
    n.on_new_event(message(ROOM_B, "$3"), 3, persisted_up_to=1)  # called even while deferred
    n.on_new_event(message(ROOM_A, "$2"), 2, persisted_up_to=3)
    assert calls == [
        ("first", "$1", 1, txn),
        ("second", "$1", 1, txn),
        ("first", "$3", 3, None),
        ("second", "$3", 3, None),
        ("first", "$2", 2, None),
        ("second", "$2", 2, None),
    ]
    assert n.positions[Stream.ROOMS] == 3


def test_listener_sees_the_event_before_readers_can() -> None:
    """Listeners run before the position moves on: a reader woken by the change finds what
    the listener recorded."""
    n = Notifier()
    seen: list[int] = []
    n.add_listener(lambda event, position, txn: seen.append(n.positions[Stream.ROOMS]))
    n.on_new_event(message(ROOM_A, "$1"), 1)
    assert seen == [0] and n.positions[Stream.ROOMS] == 1


async def test_close_ends_every_wait_and_later_waits_return_at_once() -> None:
    notifier = Notifier()
    waiting = asyncio.create_task(notifier.wait_for("@a:test", ["!r:test"], 60))
    await asyncio.sleep(0)  # registered
    notifier.close()
    assert await asyncio.wait_for(waiting, 20) is True
    assert await asyncio.wait_for(notifier.wait_for("@a:test", [], 60), 20) is False


# Watches (one-shot callbacks: what an idle WebSocket waits with)


def test_watch_fires_once_for_its_user_or_rooms_then_is_gone() -> None:
    n = Notifier()
    fired: list[str] = []
    n.watch(BOB, [ROOM_A, ROOM_B], lambda: fired.append("bob"))
    n.notify(Stream.ROOMS, 1, rooms=["!other:test"])
    n.on_account_data(ALICE, 1)
    assert fired == []
    n.notify(Stream.ROOMS, 2, rooms=[ROOM_B])
    assert fired == ["bob"]
    n.notify(Stream.ROOMS, 3, rooms=[ROOM_A])  # one-shot: unregistered from every key
    n.on_account_data(BOB, 2)
    assert fired == ["bob"]
    assert n._waiters == {}


def test_watch_of_a_user_fires_on_their_own_change() -> None:
    n = Notifier()
    fired: list[int] = []
    n.watch(BOB, [], lambda: fired.append(1))
    n.notify(Stream.TO_DEVICE, 1, users=[BOB])
    assert fired == [1]


def test_unwatched_watch_never_fires() -> None:
    n = Notifier()
    fired: list[int] = []
    watch = n.watch(BOB, [ROOM_A], lambda: fired.append(1))
    n.unwatch(watch)
    n.unwatch(watch)  # twice is harmless
    n.notify(Stream.ROOMS, 1, rooms=[ROOM_A])
    assert fired == [] and n._waiters == {}


def test_watch_waits_for_the_change_to_be_visible() -> None:
    n = Notifier()
    fired: list[int] = []
    n.watch(BOB, [ROOM_A], lambda: fired.append(1))
    n.notify(Stream.ROOMS, 5, visible=3, rooms=[ROOM_A])
    assert fired == []
    n.notify(Stream.ROOMS, 4, visible=5, rooms=[ROOM_B])
    assert fired == [1]


async def test_watches_and_waiters_of_one_room_all_wake_and_a_watch_may_watch_again() -> None:
    """A callback that registers a new watch at once (a socket that found nothing new yet)
    is not woken by the same change again."""
    n = Notifier()
    fired: list[int] = []

    def again() -> None:
        fired.append(len(fired))
        if len(fired) < 3:
            n.watch(BOB, [ROOM_A], again)

    n.watch(BOB, [ROOM_A], again)
    waiting = asyncio.create_task(n.wait_for(ALICE, [ROOM_A], COMES))
    await asyncio.sleep(0)
    n.notify(Stream.ROOMS, 1, rooms=[ROOM_A])
    assert await waiting is True
    assert fired == [0]
    n.notify(Stream.ROOMS, 2, rooms=[ROOM_A])
    assert fired == [0, 1]


def test_no_watch_is_registered_after_close() -> None:
    n = Notifier()
    fired: list[int] = []
    n.watch(BOB, [ROOM_A], lambda: fired.append(1))
    n.close()
    n.watch(ALICE, [ROOM_A], lambda: fired.append(2))
    n.notify(Stream.ROOMS, 1, rooms=[ROOM_A])
    assert 2 not in fired


# Pacing: many waiters of one change are told WAKE_BATCH per loop turn


async def test_many_watches_are_told_a_batch_per_loop_turn_each_once() -> None:
    """The first WAKE_BATCH run inside the notify, the rest in the next loop turns (so a send
    in flight gets a turn between batches of woken listeners), and every one runs once."""
    n = Notifier()
    count = 2 * notifier_module.WAKE_BATCH + 3
    fired: list[int] = []
    for i in range(count):
        n.watch(f"@u{i}:test", [ROOM_A], lambda i=i: fired.append(i))
    n.notify(Stream.ROOMS, 1, rooms=[ROOM_A])
    assert len(fired) == notifier_module.WAKE_BATCH
    await asyncio.sleep(0)
    assert len(fired) == 2 * notifier_module.WAKE_BATCH
    await asyncio.sleep(0)
    assert sorted(fired) == list(range(count))
    n.notify(Stream.ROOMS, 2, rooms=[ROOM_A])  # one-shot: all were unregistered
    await asyncio.sleep(0)
    assert len(fired) == count and n._waiters == {}


async def test_a_watch_unwatched_while_waiting_its_turn_never_fires() -> None:
    """Woken but not yet told (later in its batch, or in a later turn), an unwatched watch
    does not run: a socket that closed meanwhile gets no frame task."""
    n = Notifier()
    fired: list[int] = []
    watches: list[Watch] = []

    def first_one_unwatches_the_rest(i: int) -> None:
        fired.append(i)
        for watch in watches:
            n.unwatch(watch)

    for i in range(notifier_module.WAKE_BATCH + 5):
        watches.append(n.watch(f"@u{i}:test", [ROOM_A], lambda i=i: first_one_unwatches_the_rest(i)))
    n.notify(Stream.ROOMS, 1, rooms=[ROOM_A])
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(fired) == 1


async def test_many_long_polls_of_one_change_are_all_woken() -> None:
    n = Notifier()
    count = 3 * notifier_module.WAKE_BATCH
    waits = [asyncio.create_task(n.wait_for(f"@u{i}:test", [ROOM_A], COMES)) for i in range(count)]
    await asyncio.sleep(0)
    n.notify(Stream.ROOMS, 1, rooms=[ROOM_A])
    assert await asyncio.gather(*waits) == [True] * count
    assert n._waiters == {}


def test_settled_returns_at_once_when_no_listener_is_working() -> None:
    """No yield at all: an idle server's commits do not wait a loop turn."""
    settling = Notifier().settled(COMES)
    with pytest.raises(StopIteration):
        settling.send(None)


async def test_settled_waits_for_working_listeners_and_watches_not_yet_told() -> None:
    n = Notifier()
    n.working(+1)
    settling = asyncio.create_task(n.settled(COMES))
    await asyncio.sleep(0)
    assert not settling.done()
    for i in range(notifier_module.WAKE_BATCH + 1):  # one watch waits a turn to be told
        n.watch(f"@u{i}:test", [ROOM_A], lambda: None)
    n.notify(Stream.ROOMS, 1, rooms=[ROOM_A])
    n.working(-1)  # the due watch still holds it
    await asyncio.sleep(0)
    assert not settling.done()
    await asyncio.wait_for(settling, COMES)  # told in the next turn
    assert n.busy_listeners == 0


async def test_settled_gives_up_after_its_cap() -> None:
    n = Notifier()
    n.working(+1)  # a listener that never finishes
    await asyncio.wait_for(n.settled(NEVER), COMES)
    assert n.busy_listeners == 1
