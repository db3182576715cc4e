"""Repeated transaction IDs in the event pipeline: a retry the pipeline remembers is answered
without reading storage; an older one (forgotten, or from before a restart) is refused by
storage's key inside the write transaction and still answered with the first event, and the
drafts batched with it are built again and stored."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from homeserver.appkeys import EVENTS, PIPELINE
from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID
from homeserver.rooms.txns import RecentTxns
from tests.clientapi.room_helpers import create_room, event_count, send_text
from tests.helpers import HomeserverUnderTest, MatrixClient
from tests.homeserver.pipeline_helpers import hold_first_batch, until

MSG = {"msgtype": "m.text", "body": "once"}  # sent with txn IDs send_text() never uses


def forget_txns(hs: HomeserverUnderTest) -> None:
    hs.app[PIPELINE]._recent_txns = RecentTxns()


async def last_event(hs: HomeserverUnderTest, client: MatrixClient, room: str) -> Event:
    page = await client.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "1"})
    event = await hs.app[EVENTS].get_event(EventID(page["chunk"][0]["event_id"]))
    assert event is not None
    return event


async def test_a_remembered_repeat_reads_no_storage(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    first = await alice.put(f"/rooms/{room}/send/m.room.message/once", MSG)
    count = await event_count(hs, room)

    async def no_lookup(*_: Any) -> Any:
        raise AssertionError("looked the transaction up in storage")

    monkeypatch.setattr(hs.app[EVENTS], "events_for_txns", no_lookup)
    again = await alice.put(f"/rooms/{room}/send/m.room.message/once", {"msgtype": "m.text", "body": "2"})
    assert again == first
    assert await event_count(hs, room) == count


async def test_a_forgotten_repeat_gets_the_first_event(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    first = await alice.put(f"/rooms/{room}/send/m.room.message/once", MSG)
    count = await event_count(hs, room)
    forget_txns(hs)
    again = await alice.put(f"/rooms/{room}/send/m.room.message/once", MSG)
    assert again == first
    assert await event_count(hs, room) == count
    after = await send_text(alice, room, "next")  # the room goes on from its head
    event = await hs.app[EVENTS].get_event(EventID(after))
    assert event is not None and event.prev_event_ids == [EventID(first["event_id"])]


async def test_a_repeat_after_a_restart_gets_the_first_event(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    first = await alice.put(f"/rooms/{room}/send/m.room.message/once", MSG)
    redaction = await alice.put(f"/rooms/{room}/redact/{first['event_id']}/undo", {})
    count = await event_count(hs, room)
    again = HomeserverUnderTest(hs.config)
    await again.start()
    try:
        same = again.client(alice.access_token)
        assert await same.put(f"/rooms/{room}/send/m.room.message/once", MSG) == first
        assert await same.put(f"/rooms/{room}/redact/{first['event_id']}/undo", {}) == redaction
        assert await event_count(again, room) == count
    finally:
        await again.stop()


async def test_a_forgotten_repeat_batched_with_new_sends(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch holding the repeat is refused by storage; the repeat gets its first event and
    the other drafts of the batch are built again, each on top of the previous one."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    old = await alice.put(f"/rooms/{room}/send/m.room.message/earlier", MSG)
    forget_txns(hs)
    head = await last_event(hs, alice, room)
    count = await event_count(hs, room)
    store = hs.app[EVENTS]
    batches, gate = hold_first_batch(monkeypatch, store)
    first = asyncio.ensure_future(send_text(bob, room, "first"))
    await until(lambda: bool(batches))
    repeat = asyncio.ensure_future(alice.put(f"/rooms/{room}/send/m.room.message/earlier", MSG))
    await until(lambda: len(hs.app[PIPELINE]._queues[RoomID(room)]) == 1)
    rest = [asyncio.ensure_future(send_text(bob, room, f"m{i}")) for i in range(3)]
    await until(lambda: len(hs.app[PIPELINE]._queues[RoomID(room)]) == 4)
    gate.set()
    ids = [await first] + [await r for r in rest]
    assert await repeat == old
    assert batches == [1, 4, 3]
    assert await event_count(hs, room) == count + 4
    found = await store.get_events([EventID(e) for e in ids])
    previous = head
    for event_id in ids:
        event = found[EventID(event_id)]
        assert event.prev_event_ids == [previous.event_id] and event.depth == previous.depth + 1
        previous = event
