"""GET /rooms/{roomId}/context/{eventId} (spec: "Event Context")."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

_txn = itertools.count()


async def say(client: MatrixClient, room: str, body: str) -> str:
    content = {"msgtype": "m.text", "body": body}
    return str((await client.put(f"/rooms/{room}/send/m.room.message/c{next(_txn)}", content))["event_id"])


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["content"]["body"] for e in events if e["type"] == "m.room.message"]


async def context(client: MatrixClient, room: str, event_id: str, expect: int = 200, **params: Any) -> Any:
    query = {k: orjson.dumps(v).decode() if k == "filter" else str(v) for k, v in params.items()}
    return await client.get(f"/rooms/{room}/context/{event_id}", params=query, expect=expect)


async def chat(hs: HomeserverUnderTest, count: int) -> tuple[MatrixClient, str, list[str]]:
    alice = await hs.register("alice")
    room = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    ids = [await say(alice, room, f"m{i}") for i in range(count)]
    return alice, room, ids


async def test_events_around_an_event(hs: HomeserverUnderTest) -> None:
    alice, room, ids = await chat(hs, 7)
    ctx = await context(alice, room, ids[3], limit=4)
    assert ctx["event"]["event_id"] == ids[3]
    assert ctx["event"]["content"]["body"] == "m3"
    assert texts(ctx["events_before"]) == ["m2", "m1"]  # newest first
    assert texts(ctx["events_after"]) == ["m4", "m5"]  # oldest first
    assert {e["type"] for e in ctx["state"]} >= {"m.room.create", "m.room.member", "m.room.power_levels"}

    # The tokens continue with /messages on either side.
    older = await alice.get(
        f"/rooms/{room}/messages", params={"dir": "b", "from": ctx["start"], "limit": "3"}
    )
    assert texts(older["chunk"]) == ["m0"]
    newer = await alice.get(f"/rooms/{room}/messages", params={"dir": "f", "from": ctx["end"], "limit": "3"})
    assert texts(newer["chunk"]) == ["m6"]


async def test_limit_split_default_and_zero(hs: HomeserverUnderTest) -> None:
    alice, room, ids = await chat(hs, 13)
    ctx = await context(alice, room, ids[6])
    assert texts(ctx["events_before"]) == ["m5", "m4", "m3", "m2", "m1"]
    assert texts(ctx["events_after"]) == ["m7", "m8", "m9", "m10", "m11"]

    ctx = await context(alice, room, ids[6], limit=3)
    assert (len(ctx["events_before"]), len(ctx["events_after"])) == (1, 2)

    ctx = await context(alice, room, ids[6], limit=0)
    assert ctx["event"]["event_id"] == ids[6]
    assert ctx["events_before"] == [] and ctx["events_after"] == []
    older = await alice.get(
        f"/rooms/{room}/messages", params={"dir": "b", "from": ctx["start"], "limit": "1"}
    )
    assert texts(older["chunk"]) == ["m5"]
    newer = await alice.get(f"/rooms/{room}/messages", params={"dir": "f", "from": ctx["end"], "limit": "1"})
    assert texts(newer["chunk"]) == ["m7"]


async def test_at_the_newest_event_the_end_token_waits_for_new_events(hs: HomeserverUnderTest) -> None:
    alice, room, ids = await chat(hs, 3)
    ctx = await context(alice, room, ids[-1], limit=40)  # more than the room holds
    assert ctx["events_after"] == []
    assert texts(ctx["events_before"]) == ["m1", "m0"]
    assert ctx["events_before"][-1]["type"] == "m.room.create"
    assert isinstance(ctx["end"], str) and isinstance(ctx["start"], str)
    empty = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "from": ctx["start"]})
    assert empty["chunk"] == []
    await say(alice, room, "later")
    newer = await alice.get(f"/rooms/{room}/messages", params={"dir": "f", "from": ctx["end"]})
    assert texts(newer["chunk"]) == ["later"]


async def test_state_is_at_the_last_event_returned(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = (await alice.post("/createRoom", {"preset": "private_chat", "topic": "A"}))["room_id"]
    target = await say(alice, room, "target")
    await alice.put(f"/rooms/{room}/state/m.room.topic", {"topic": "B"})
    await say(alice, room, "after")

    def topic(ctx: Any) -> Any:
        return [e["content"]["topic"] for e in ctx["state"] if e["type"] == "m.room.topic"]

    assert topic(await context(alice, room, target, limit=0)) == ["A"]
    assert topic(await context(alice, room, target, limit=4)) == ["B"]


async def test_filter_applies_around_the_event_and_to_state(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat", "topic": "T"}))["room_id"]
    await bob.post(f"/join/{room}")
    await say(bob, room, "bob 1")
    await say(alice, room, "alice 1")
    target = await say(bob, room, "bob target")  # the filter never hides the event itself
    await say(alice, room, "alice 2")
    await say(bob, room, "bob 2")

    only_alice = {"senders": [alice.user_id]}
    ctx = await context(bob, room, target, limit=10, filter=only_alice)
    assert ctx["event"]["event_id"] == target
    assert texts(ctx["events_before"]) == ["alice 1"]
    assert texts(ctx["events_after"]) == ["alice 2"]
    assert all(
        e["sender"] == alice.user_id for e in ctx["events_before"] + ctx["events_after"] + ctx["state"]
    )

    messages_only = {"types": ["m.room.message"], "lazy_load_members": True}
    ctx = await context(bob, room, target, limit=2, filter=messages_only)
    assert texts(ctx["events_before"]) == ["alice 1"] and texts(ctx["events_after"]) == ["alice 2"]
    assert ctx["state"] == []  # the filter's types apply to the state too

    lazy = {"lazy_load_members": True}
    ctx = await context(bob, room, target, limit=0, filter=lazy)
    members = {e["state_key"] for e in ctx["state"] if e["type"] == "m.room.member"}
    assert members == {bob.user_id}  # only the senders of what was returned
    assert any(e["type"] == "m.room.topic" for e in ctx["state"])
    ctx = await context(bob, room, target, limit=2, filter=lazy)
    members = {e["state_key"] for e in ctx["state"] if e["type"] == "m.room.member"}
    assert members == {alice.user_id, bob.user_id}


async def test_history_visibility_hides_events_before_joining(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await alice.put(f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "joined"})
    secret = await say(alice, room, "before bob")
    await bob.post(f"/join/{room}")
    seen = await say(alice, room, "after bob")

    assert_error(await context(bob, room, secret, expect=404), "M_NOT_FOUND")
    ctx = await context(bob, room, seen, limit=10)
    assert texts(ctx["events_before"]) == []
    assert ctx["events_before"][0]["sender"] == bob.user_id  # his join; then the creation, shared before
    visibility_changes = [e for e in ctx["events_before"] if e["type"] == "m.room.history_visibility"]
    assert [e["content"] for e in visibility_changes] == [{"history_visibility": "shared"}]


async def test_world_readable_rooms_can_be_read_by_anyone(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await alice.put(
        f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    first = await say(alice, room, "one")
    await say(alice, room, "two")
    ctx = await context(bob, room, first, limit=2)
    assert texts(ctx["events_after"]) == ["two"]


async def test_bad_requests(hs: HomeserverUnderTest) -> None:
    alice, room, ids = await chat(hs, 2)
    bob = await hs.register("bob")
    other = (await alice.post("/createRoom", {}))["room_id"]
    unknown_event = "$" + "A" * 43

    assert_error(await context(alice, room, unknown_event, expect=404), "M_NOT_FOUND")
    assert_error(await context(alice, other, ids[0], expect=404), "M_NOT_FOUND")  # not in that room
    assert_error(await context(bob, room, ids[0], expect=404), "M_NOT_FOUND")  # not a member
    assert_error(
        await context(alice, f"!nosuchroom:{hs.config.server_name}", ids[0], expect=404), "M_NOT_FOUND"
    )
    assert_error(await context(alice, room, "not-an-event", expect=400), "M_INVALID_PARAM")
    assert_error(await context(alice, "not-a-room", ids[0], expect=400), "M_INVALID_PARAM")
    for limit in ("-1", "ten", "1.5", "", "99999999999999999999999"):
        assert_error(await context(alice, room, ids[0], expect=400, limit=limit), "M_INVALID_PARAM")
    err = await alice.get(f"/rooms/{room}/context/{ids[0]}", params={"filter": "{nope"}, expect=400)
    assert_error(err, "M_BAD_JSON")
    for bad_filter in ([1], {"types": "m.room.message"}, {"lazy_load_members": "yes"}):
        assert_error(await context(alice, room, ids[0], expect=400, filter=bad_filter), "M_BAD_JSON")
    await hs.client().get(f"/rooms/{room}/context/{ids[0]}", expect=401)
