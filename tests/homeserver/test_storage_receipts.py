"""ReceiptStore on SQLite and PostgreSQL: receipts only move forward (also when writers
race), and the sync read filters by position, room and privacy."""

from __future__ import annotations

import asyncio

import pytest

from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage import receipts as receipt_storage
from homeserver.storage.database import Database
from homeserver.storage.receipts import Receipt, ReceiptStore
from homeserver.storage.tables import events

ROOM = RoomID("!room:example.org")
ALICE, BOB = UserID("@alice:example.org"), UserID("@bob:example.org")


async def _events(db: Database, room: RoomID, orderings: range) -> list[EventID]:
    """Timeline events at the given stream orderings (only what receipts look at)."""
    ids = [EventID(f"${room[1:5]}{n}") for n in orderings]
    async with db.transaction() as conn:
        await conn.execute(
            events.insert(),
            [
                {
                    "stream_ordering": n,
                    "event_id": event_id,
                    "room_id": room,
                    "type": "m.room.message",
                    "sender": ALICE,
                    "depth": n,
                    "origin_server_ts": n,
                    "json": "{}",
                    "outlier": False,
                }
                for n, event_id in zip(orderings, ids, strict=True)
            ],
        )
    return ids


def _receipt(
    event_id: EventID, stream_id: int, *, user: UserID = BOB, kind: str = "m.read", room: RoomID = ROOM
) -> Receipt:
    return Receipt(room, kind, user, "", event_id, {"ts": stream_id}, stream_id)


async def test_receipt_moves_forward_only(database: Database) -> None:
    store = ReceiptStore(database)
    ids = await _events(database, ROOM, range(1, 4))
    assert await store.advance(_receipt(ids[1], 1), 2)
    assert not await store.advance(_receipt(ids[0], 2), 1)
    assert not await store.advance(_receipt(ids[1], 3), 2)
    assert await store.advance(_receipt(ids[2], 4), 3)
    stored = await store.get(ROOM, "m.read", BOB)
    assert stored is not None and (stored.event_id, stored.stream_id) == (ids[2], 4)
    assert await store.max_stream_id() == 4
    assert await store.event_position(ids[2]) == (ROOM, 3)
    assert await store.event_position(EventID("$missing")) is None


async def test_racing_writers_keep_the_latest(database: Database) -> None:
    store = ReceiptStore(database)
    ids = await _events(database, ROOM, range(1, 21))
    ordering = {event_id: n for n, event_id in enumerate(ids, start=1)}
    writes = [*reversed(ids), *ids]  # stream IDs in write order, event orderings both ways
    await asyncio.gather(
        *(store.advance(_receipt(e, stream_id), ordering[e]) for stream_id, e in enumerate(writes, 1))
    )
    stored = await store.get(ROOM, "m.read", BOB)
    assert stored is not None and stored.event_id == ids[-1]


async def test_changed_in_rooms_filters_position_rooms_and_privacy(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receipt_storage, "BATCH", 2)
    store = ReceiptStore(database)
    rooms = [RoomID(f"!r{n}:example.org") for n in range(5)]
    stream = 0
    for room in rooms:
        (event_id,) = await _events(database, room, range(stream + 1, stream + 2))
        stream += 1
        await store.advance(_receipt(event_id, stream, room=room), stream)
    (private_event,) = await _events(database, rooms[0], range(100, 101))
    await store.advance(_receipt(private_event, 6, kind="m.read.private", room=rooms[0]), 100)

    def rooms_of(found: list[Receipt]) -> list[RoomID]:
        return [r.room_id for r in found]

    assert rooms_of(await store.changed_in_rooms(ALICE, rooms, 0, 6)) == rooms
    assert rooms_of(await store.changed_in_rooms(BOB, rooms, 0, 6)) == [*rooms, rooms[0]]
    assert rooms_of(await store.changed_in_rooms(BOB, rooms, 5, 6)) == [rooms[0]]
    assert rooms_of(await store.changed_in_rooms(ALICE, rooms, 2, 4)) == rooms[2:4]
    assert await store.changed_in_rooms(ALICE, [], 0, 6) == []
