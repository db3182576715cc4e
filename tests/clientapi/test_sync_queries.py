"""DESIGN.md, "Performance": a woken long-poll of a live client costs no query. These tests
count the SQL statements the database runs while /sync answers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from homeserver.appkeys import DATABASE
from tests.helpers import HomeserverUnderTest

NEWEST_EVENTS = "SELECT * FROM (SELECT events.room_id"  # SyncStore.latest_events


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


async def test_first_initial_sync_query_count_does_not_grow_with_rooms(hs: HomeserverUnderTest) -> None:
    """A server with nothing cached (just started) answering rooms with more events than the
    timeline limit: each timeline is `limited` and comes with the state before it, whose
    state groups, like the rooms' heroes, are read for all rooms at once."""
    alice = await hs.register("alice")
    sync_filter = '{"room":{"timeline":{"limit":3}}}'
    txns = itertools.count()

    async def add_rooms(count: int) -> None:
        for _ in range(count):
            room = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
            for _ in range(5):
                body = {"msgtype": "m.text", "body": "x"}
                await alice.put(f"/rooms/{room}/send/m.room.message/{next(txns)}", body)

    async def cold_initial_sync_statements(rooms: int) -> int:
        token = (await alice.get("/sync", params={"filter": sync_filter}))["next_batch"]
        fresh = HomeserverUnderTest(hs.config)  # the same database, empty caches
        await fresh.start()
        try:
            client = fresh.client(alice.access_token)
            await client.get("/sync", params={"since": token, "timeout": "0"})  # presence, tokens
            with statements(fresh) as seen:
                body = await client.get("/sync", params={"filter": sync_filter})
        finally:
            await fresh.stop()
        joined = body["rooms"]["join"]
        assert len(joined) == rooms
        for section in joined.values():
            assert section["timeline"]["limited"] and len(section["timeline"]["events"]) == 3
            assert "m.room.create" in {e["type"] for e in section["state"]["events"]}
            assert section["summary"]["m.joined_member_count"] == 1
        return len(seen)

    await add_rooms(2)
    with_two = await cold_initial_sync_statements(2)
    await add_rooms(4)
    assert await cold_initial_sync_statements(6) == with_two


async def test_repeated_initial_sync_reads_account_data_and_inbox_from_memory(
    hs: HomeserverUnderTest,
) -> None:
    """A client that starts over without a token: its account data and its device's empty
    inbox are known from the last initial sync until the notifier reports a change."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await alice.put(f"/user/{alice.user_id}/account_data/org.example.a", {"n": 1})
    await alice.get("/sync")
    with statements(hs) as seen:
        body = await alice.get("/sync")
    assert not [s for s in seen if "account_data" in s or "device_inbox" in s]
    assert {"type": "org.example.a", "content": {"n": 1}} in body["account_data"]["events"]
    assert body["to_device"]["events"] == []

    await alice.put(f"/user/{alice.user_id}/account_data/org.example.a", {"n": 2})
    message = {"messages": {alice.user_id: {alice.device_id: {"k": "v"}}}}
    await bob.put("/sendToDevice/m.test/t1", message)
    body = await alice.get("/sync")
    assert {"type": "org.example.a", "content": {"n": 2}} in body["account_data"]["events"]
    assert body["to_device"]["events"] == [{"sender": bob.user_id, "type": "m.test", "content": {"k": "v"}}]
    # Delivered, not yet acknowledged (no sync from its token): a fresh start gets it again.
    assert (await alice.get("/sync"))["to_device"]["events"] == body["to_device"]["events"]


async def test_repeated_initial_sync_reads_the_newest_events_of_unchanged_rooms_from_memory(
    hs: HomeserverUnderTest,
) -> None:
    alice = await hs.register("alice")
    quiet = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    busy = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    await alice.get("/sync")
    with statements(hs) as seen:
        await alice.get("/sync")
    assert not [s for s in seen if NEWEST_EVENTS in " ".join(s.split())]

    sent = await alice.put(f"/rooms/{busy}/send/m.room.message/1", {"msgtype": "m.text", "body": "new"})
    with statements(hs) as seen:
        body = await alice.get("/sync")
    newest = [s for s in seen if NEWEST_EVENTS in " ".join(s.split())]
    assert len(newest) == 1 and "UNION" not in newest[0]  # for one room: the one that changed
    joined = body["rooms"]["join"]
    assert joined[busy]["timeline"]["events"][-1]["event_id"] == sent["event_id"]
    assert joined[quiet]["timeline"]["events"][-1]["type"] != "m.room.message"


async def test_limited_sync_of_a_member_reads_no_visibility_state(
    hs: HomeserverUnderTest,
) -> None:
    """A member joined before the token who fell behind by more than the timeline limit (a
    WebSocket that stalled) gets a gappy timeline from storage: everything sent while they were
    joined is visible to them, so no membership or state is read to check it."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await bob.post(f"/join/{room}")
    sync_filter = '{"room":{"timeline":{"limit":3}}}'
    token = (await bob.get("/sync", params={"filter": sync_filter}))["next_batch"]
    sent = []
    for n in range(6):
        body = {"msgtype": "m.text", "body": str(n)}
        sent.append((await alice.put(f"/rooms/{room}/send/m.room.message/g{n}", body))["event_id"])
    with statements(hs) as seen:
        body = await bob.get("/sync", params={"since": token, "filter": sync_filter})
    timeline = body["rooms"]["join"][room]["timeline"]
    assert timeline["limited"]
    assert [e["event_id"] for e in timeline["events"]] == sent[-3:]
    assert not [s for s in seen if "FROM room_memberships" in s]  # the viewer's membership
    assert not [s for s in seen if "events.redacted_by" in s]  # the events' state groups


async def test_visibility_of_history_from_many_state_groups_is_read_in_one_pass(
    hs: HomeserverUnderTest,
) -> None:
    """An initial sync showing history from before the user joined checks what they may see
    at each event's state: one query for the state groups' chains, not one per group, and
    the answer still follows each group's history visibility."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    shared, hidden = [], []
    for n in range(6):  # each state event starts a state group; the message after it is in it
        await alice.put(f"/rooms/{room}/state/org.example.k/{n}", {"n": n})
        sent = await alice.put(f"/rooms/{room}/send/m.room.message/s{n}", {"msgtype": "m.text", "body": "s"})
        shared.append(sent["event_id"])
    await alice.put(f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "joined"})
    for n in range(6):
        await alice.put(f"/rooms/{room}/state/org.example.j/{n}", {"n": n})
        sent = await alice.put(f"/rooms/{room}/send/m.room.message/j{n}", {"msgtype": "m.text", "body": "j"})
        hidden.append(sent["event_id"])
    await bob.post(f"/join/{room}")
    with statements(hs) as seen:
        body = await bob.get("/sync", params={"filter": '{"room":{"timeline":{"limit":50}}}'})
    timeline = {e["event_id"] for e in body["rooms"]["join"][room]["timeline"]["events"]}
    assert set(shared) <= timeline and not set(hidden) & timeline
    assert len([s for s in seen if "RECURSIVE" in s.upper()]) == 1
