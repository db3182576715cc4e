"""DESIGN.md, "Performance": a woken long-poll of a live client costs no query. These tests
count the SQL statements the database runs while /sync answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from homeserver.appkeys import DATABASE
from tests.helpers import HomeserverUnderTest


@contextmanager
def statements(hs: HomeserverUnderTest) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = hs.app[DATABASE].engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_incremental_sync_of_a_live_client_runs_no_query(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await bob.post(f"/join/{room}")
    token = (await bob.get("/sync"))["next_batch"]
    for n in range(3):  # a client that has been following for a while
        await alice.put(f"/rooms/{room}/send/m.room.message/w{n}", {"msgtype": "m.text", "body": "w"})
        token = (await bob.get("/sync", params={"since": token}))["next_batch"]
    sent = await alice.put(f"/rooms/{room}/send/m.room.message/x", {"msgtype": "m.text", "body": "hi"})
    with statements(hs) as seen:
        body = await bob.get("/sync", params={"since": token})
    assert [e["event_id"] for e in body["rooms"]["join"][room]["timeline"]["events"]] == [sent["event_id"]]
    assert seen == []


async def test_initial_sync_query_count_does_not_grow_with_rooms(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")

    async def initial_sync_statements() -> int:
        await alice.get("/sync")  # fills the caches a second sync may use
        with statements(hs) as seen:
            await alice.get("/sync")
        return len(seen)

    for n in range(2):
        room = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
        await alice.put(f"/rooms/{room}/send/m.room.message/{n}", {"msgtype": "m.text", "body": "x"})
    with_two = await initial_sync_statements()
    for n in range(8):
        room = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
        await alice.put(f"/rooms/{room}/send/m.room.message/{n}", {"msgtype": "m.text", "body": "x"})
    assert await initial_sync_statements() == with_two


async def test_initial_sync_of_live_rooms_reads_txn_ids_and_relations_from_memory(
    hs: HomeserverUnderTest,
) -> None:
    """Rooms whose whole timeline is in the recent-events log need no transaction-ID or
    relations query; what those queries would give is still there."""
    alice = await hs.register("alice")
    rooms = []
    for n in range(3):
        room = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
        rooms.append(room)
        for i in range(12):  # more than the timeline limit, fewer than the log holds
            await alice.put(f"/rooms/{room}/send/m.room.message/{n}-{i}", {"msgtype": "m.text", "body": "x"})
    target = (
        await alice.put(f"/rooms/{rooms[0]}/send/m.room.message/t", {"msgtype": "m.text", "body": "t"})
    )["event_id"]
    sync_filter = {"filter": '{"room":{"timeline":{"limit":5}}}'}
    with statements(hs) as seen:
        body = await alice.get("/sync", params=sync_filter)
    assert not [s for s in seen if "event_txn_ids" in s or "event_relations" in s or "event_threads" in s]
    other = body["rooms"]["join"][rooms[1]]["timeline"]["events"]
    assert [e["unsigned"]["transaction_id"] for e in other] == [f"1-{i}" for i in range(7, 12)]
    edit = {
        "msgtype": "m.text",
        "body": "* t2",
        "m.new_content": {"msgtype": "m.text", "body": "t2"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": target},
    }
    edit_id = (await alice.put(f"/rooms/{rooms[0]}/send/m.room.message/e", edit))["event_id"]
    with statements(hs) as seen:
        body = await alice.get("/sync", params=sync_filter)
    assert not [s for s in seen if "event_txn_ids" in s]
    by_id = {e["event_id"]: e for e in body["rooms"]["join"][rooms[0]]["timeline"]["events"]}
    assert by_id[target]["unsigned"]["transaction_id"] == "t"
    assert by_id[target]["unsigned"]["m.relations"]["m.replace"]["event_id"] == edit_id
