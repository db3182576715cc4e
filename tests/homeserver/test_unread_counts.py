"""The in-memory unread counts (push.unread): push actions committed while the counts are
being read are added afterwards unless the read saw them, receipts of the user (and only
theirs) make the next look read again, and threads are counted apart."""

from __future__ import annotations

import asyncio

from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID, UserID
from homeserver.notifier import Notifier, Stream
from homeserver.push.unread import UnreadCounts, main_and_threads
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import Outcome, PushPlan, UnreadRow

BOB = UserID("@bob:example.org")
ROOM = RoomID("!r:example.org")


class SlowStore:
    """Answers `unread` with `rows` once `release` is set; counts the reads."""

    def __init__(self, rows: list[UnreadRow]) -> None:
        self.rows = rows
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.reads = 0

    async def unread(self, user_id: UserID) -> list[UnreadRow]:
        self.reads += 1
        self.started.set()
        await self.release.wait()
        return self.rows


def _item(stream: int, thread: str = "main", highlight: bool = False) -> EventToPersist:
    pdu = {"type": "m.room.message", "room_id": ROOM, "sender": "@a:example.org", "content": {}}
    event = Event(EventID(f"$e{stream}"), KNOWN_ROOM_VERSIONS["11"], pdu)
    plan = PushPlan(thread, Outcome(highlight, '["notify"]'), (BOB,))
    return EventToPersist(event, stream, None, push=plan)


async def test_actions_committed_during_the_read_are_added_unless_seen() -> None:
    store = SlowStore([UnreadRow(ROOM, "main", 2, 1, 10)])
    counts = UnreadCounts(store, Notifier())  # type: ignore[arg-type]
    reading = asyncio.create_task(counts.for_rooms(BOB, [ROOM]))
    await store.started.wait()
    counts.on_committed([_item(9), _item(11, highlight=True)])  # 9: the read saw it; 11: new
    store.release.set()
    room = (await reading)[ROOM]
    assert (room.total().notifications, room.total().highlights) == (3, 2)
    counts.on_committed([_item(12)])
    again = await counts.for_rooms(BOB, [ROOM])
    assert again[ROOM].total().notifications == 4 and store.reads == 1


async def test_concurrent_looks_share_one_read() -> None:
    store = SlowStore([UnreadRow(ROOM, "main", 1, 0, 5)])
    counts = UnreadCounts(store, Notifier())  # type: ignore[arg-type]
    looks = [asyncio.create_task(counts.for_rooms(BOB, [ROOM])) for _ in range(3)]
    await store.started.wait()
    store.release.set()
    results = await asyncio.gather(*looks)
    assert [r[ROOM].total().notifications for r in results] == [1, 1, 1] and store.reads == 1


async def test_only_the_users_own_receipts_read_again() -> None:
    store = SlowStore([UnreadRow(ROOM, "main", 1, 0, 5)])
    store.release.set()
    notifier = Notifier()
    counts = UnreadCounts(store, notifier)  # type: ignore[arg-type]
    await counts.for_rooms(BOB, [ROOM])
    notifier.notify(Stream.RECEIPTS, 1, rooms=(ROOM,), users=("@someone:example.org",))
    await counts.for_rooms(BOB, [ROOM])
    assert store.reads == 1
    store.rows = []
    notifier.notify(Stream.RECEIPTS, 2, rooms=(ROOM,), users=(BOB,))
    assert await counts.for_rooms(BOB, [ROOM]) == {} and store.reads == 2


async def test_threads_are_counted_apart() -> None:
    store = SlowStore([UnreadRow(ROOM, "main", 1, 0, 5), UnreadRow(ROOM, "$root", 2, 1, 7)])
    store.release.set()
    counts = UnreadCounts(store, Notifier())  # type: ignore[arg-type]
    counts_now = await counts.for_rooms(BOB, [ROOM])
    counts.on_committed([_item(8, "$root")])
    main, threads = main_and_threads(counts_now[ROOM])
    assert main.json() == {"notification_count": 1, "highlight_count": 0}
    assert {t: c.json() for t, c in threads.items()} == {
        "$root": {"notification_count": 3, "highlight_count": 1}
    }
    assert await counts.total(BOB) == 4


async def test_a_row_read_before_its_writer_reports_it_is_not_counted() -> None:
    """The read says how far the room's read rows go ("" row): an action read by a receipt
    between its commit and its report is not added when the report comes."""
    store = SlowStore([UnreadRow(ROOM, "main", 1, 0, 5), UnreadRow(ROOM, "", 0, 0, 9)])
    store.release.set()
    counts = UnreadCounts(store, Notifier())  # type: ignore[arg-type]
    await counts.for_rooms(BOB, [ROOM])
    counts.on_committed([_item(9)])
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 1
    counts.on_committed([_item(10)])
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 2


def _redaction(room_id: RoomID) -> EventToPersist:
    pdu = {"type": "m.room.redaction", "room_id": room_id, "sender": "@a:example.org", "content": {}}
    event = Event(EventID("$redaction"), KNOWN_ROOM_VERSIONS["11"], pdu)
    return EventToPersist(event, 20, None, prune=(EventID("$e5"), {}))


async def test_a_redaction_in_a_room_with_counts_reads_them_again() -> None:
    store = SlowStore([UnreadRow(ROOM, "main", 2, 0, 5)])
    store.release.set()
    counts = UnreadCounts(store, Notifier())  # type: ignore[arg-type]
    await counts.for_rooms(BOB, [ROOM])
    counts.on_committed([_redaction(RoomID("!elsewhere:example.org"))])
    await counts.for_rooms(BOB, [ROOM])
    assert store.reads == 1  # not one of bob's rooms with counts
    store.rows = [UnreadRow(ROOM, "main", 1, 0, 4)]
    counts.on_committed([_redaction(ROOM)])
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 1 and store.reads == 2
    await counts.for_rooms(BOB, [ROOM])
    assert store.reads == 2


async def test_leaving_drops_the_rooms_counts() -> None:
    store = SlowStore([UnreadRow(ROOM, "main", 2, 0, 5)])
    store.release.set()
    counts = UnreadCounts(store, Notifier())  # type: ignore[arg-type]
    await counts.for_rooms(BOB, [ROOM])
    pdu = {
        "type": "m.room.member",
        "room_id": ROOM,
        "sender": BOB,
        "state_key": BOB,
        "content": {"membership": "leave"},
    }
    counts.on_committed([EventToPersist(Event(EventID("$leave"), KNOWN_ROOM_VERSIONS["11"], pdu), 6, None)])
    assert await counts.for_rooms(BOB, [ROOM]) == {} and store.reads == 1
