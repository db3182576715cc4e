"""Unread counts from the rooms' logs of event rows (push.unread): an event row is logged once
and each user counts it when they look, so a user is counted exactly the rows whose members
they are in: from their first row in a room read without rows, from a rejoin, not their own
events, their own rows beside; and a user who looks too late has their counts read again."""

from __future__ import annotations

from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID, UserID
from homeserver.notifier import Notifier
from homeserver.push import unread
from homeserver.push.unread import UnreadCounts
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import Outcome, PushPlan, UnreadRow, UserOutcome
from tests.homeserver.test_unread_counts import SlowStore

BOB, CAROL, DAN = (UserID(f"@{n}:example.org") for n in ("bob", "carol", "dan"))
ROOM = RoomID("!r:example.org")
NOTIFY = Outcome(False, '["notify"]')
MENTION = Outcome(True, '["notify",{"set_tweak":"highlight"}]')


def _item(
    stream: int, members: tuple[UserID, ...], *own: UserOutcome, thread: str = "main"
) -> EventToPersist:
    pdu = {"type": "m.room.message", "room_id": ROOM, "sender": "@a:example.org", "content": {}}
    event = Event(EventID(f"$e{stream}"), KNOWN_ROOM_VERSIONS["11"], pdu)
    return EventToPersist(event, stream, None, push=PushPlan(thread, NOTIFY, members, own))


def _member(stream: int, user_id: UserID, membership: str) -> EventToPersist:
    pdu = {
        "type": "m.room.member",
        "room_id": ROOM,
        "sender": user_id,
        "state_key": user_id,
        "content": {"membership": membership},
    }
    return EventToPersist(Event(EventID(f"$m{stream}"), KNOWN_ROOM_VERSIONS["11"], pdu), stream, None)


async def _counts(rows: list[UnreadRow]) -> tuple[UnreadCounts, SlowStore]:
    store = SlowStore(rows)
    store.release.set()
    return UnreadCounts(store, Notifier()), store  # type: ignore[arg-type]


async def test_a_room_read_without_rows_counts_from_its_first_row() -> None:
    counts, store = await _counts([])
    assert await counts.total(BOB) == 0  # read: no rows anywhere
    members = (BOB, CAROL)
    counts.on_committed([_item(5, members), _item(6, (CAROL,)), _item(7, members, UserOutcome(BOB, MENTION))])
    assert await counts.total(BOB) == 2  # the badge finds the room without a sync asking for it
    room = (await counts.for_rooms(BOB, [ROOM]))[ROOM]
    assert (room.total().notifications, room.total().highlights) == (2, 1) and store.reads == 1


async def test_a_rejoin_counts_from_its_own_rows_only() -> None:
    counts, _ = await _counts([UnreadRow(ROOM, "main", 1, 0, 4)])
    await counts.for_rooms(BOB, [ROOM])
    counts.on_committed([_item(5, (BOB, CAROL)), _member(6, BOB, "leave"), _item(7, (CAROL,))])
    assert await counts.for_rooms(BOB, [ROOM]) == {}
    counts.on_committed([_member(8, BOB, "join"), _item(9, (BOB, CAROL)), _item(10, (CAROL,))])
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 1


async def test_counts_handed_out_follow_rows_logged_later() -> None:
    counts, _ = await _counts([UnreadRow(ROOM, "main", 1, 0, 4)])
    room = (await counts.for_rooms(BOB, [ROOM]))[ROOM]
    counts.on_committed([_item(5, (BOB, DAN)), _item(6, (DAN,)), _item(7, (BOB,), thread="$root")])
    assert room.thread("main").notifications == 2 and room.thread("$root").notifications == 1


async def test_a_user_who_looks_after_the_log_moved_on_is_read_again() -> None:
    counts, store = await _counts([UnreadRow(ROOM, "main", 1, 0, 4)])
    await counts.for_rooms(DAN, [ROOM])
    await counts.for_rooms(BOB, [ROOM])
    kept = unread.LOG_KEPT
    items = [_item(stream, (BOB, DAN)) for stream in range(10, 10 + 2 * kept)]
    for item in items:  # dan looks now and then, bob never
        counts.on_committed([item])
        if item.stream_ordering % 100 == 0:
            await counts.for_rooms(DAN, [ROOM])
    assert store.reads == 2
    assert (await counts.for_rooms(DAN, [ROOM]))[ROOM].total().notifications == 1 + 2 * kept
    store.rows = [UnreadRow(ROOM, "main", 7, 0, 9 + 2 * kept)]
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 7 and store.reads == 3
