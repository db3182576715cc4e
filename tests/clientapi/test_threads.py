"""Threads: the m.thread summary bundled with the root, the rule against nested threads, and
GET /v1/rooms/{roomId}/threads (latest activity first, include, pagination, bad input)."""

from __future__ import annotations

from typing import Any

from tests.clientapi.relation_helpers import (
    V1,
    bundle,
    edit,
    ids,
    public_room,
    react,
    redact,
    reply_in_thread,
    text,
    thread_row,
    threads,
)
from tests.helpers import HomeserverUnderTest


async def test_thread_summary_count_latest_and_participation(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await public_room(alice, bob, carol)
    root = await text(alice, room, "root")
    await reply_in_thread(bob, room, root, "first")
    latest = await reply_in_thread(bob, room, root, "second")

    summary = (await bundle(carol, room, root))["m.thread"]
    assert summary["count"] == 2
    assert summary["latest_event"]["event_id"] == latest
    assert summary["latest_event"]["content"]["body"] == "second"
    assert summary["latest_event"]["room_id"] == room
    assert summary["current_user_participated"] is False  # carol
    assert (await bundle(alice, room, root))["m.thread"]["current_user_participated"] is True  # root
    assert (await bundle(bob, room, root))["m.thread"]["current_user_participated"] is True  # replies

    page = await carol.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "10"})
    served = {e["event_id"]: e for e in page["chunk"]}
    assert served[root]["unsigned"]["m.relations"]["m.thread"]["count"] == 2
    assert "m.relations" not in served[latest]["unsigned"]


async def test_latest_thread_event_carries_its_own_bundle(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    root = await text(alice, room, "root")
    reply = await reply_in_thread(alice, room, root, "typo")
    fixed = await edit(alice, room, reply, "fixed")
    summary = (await bundle(alice, room, root))["m.thread"]
    # The edit is a child of the reply, not a thread reply: the thread's latest stays the reply.
    assert summary["count"] == 1
    assert summary["latest_event"]["event_id"] == reply
    assert summary["latest_event"]["unsigned"]["m.relations"]["m.replace"]["event_id"] == fixed


async def test_redacting_thread_replies_updates_the_summary(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    root = await text(alice, room, "root")
    first = await reply_in_thread(alice, room, root, "first")
    second = await reply_in_thread(alice, room, root, "second")
    assert await thread_row(hs, root) == (2, second)

    await redact(alice, room, second)
    summary = (await bundle(alice, room, root))["m.thread"]
    assert (summary["count"], summary["latest_event"]["event_id"]) == (1, first)
    await redact(alice, room, first)
    assert await bundle(alice, room, root) == {}
    assert await thread_row(hs, root) is None
    assert (await threads(alice, room))["chunk"] == []


async def test_threads_cannot_start_from_an_event_with_a_relation(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    root = await text(alice, room, "root")
    reply = await reply_in_thread(alice, room, root, "in thread")
    reaction = await react(alice, room, root, "👍")
    for parent in (reply, reaction):
        err = await reply_in_thread(alice, room, parent, "nested", expect=400)
        assert err["errcode"] == "M_UNKNOWN"
    assert (await bundle(alice, room, root))["m.thread"]["count"] == 1


async def test_threads_list_latest_activity_first_with_pagination(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    first, second, third = [await text(alice, room, name) for name in ("a", "b", "c")]
    await text(alice, room, "not a thread")
    await reply_in_thread(alice, room, first, "1")
    await reply_in_thread(bob, room, second, "2")
    await reply_in_thread(alice, room, third, "3")
    await reply_in_thread(bob, room, first, "1 again")  # the first thread is the most recent now

    page = await threads(bob, room)
    assert ids(page["chunk"]) == [first, third, second]
    assert "next_batch" not in page
    assert page["chunk"][0]["unsigned"]["m.relations"]["m.thread"]["count"] == 2

    seen: list[str] = []
    params: dict[str, Any] = {"limit": "1"}
    for _ in range(5):
        page = await threads(bob, room, **params)
        assert len(page["chunk"]) <= 1
        seen += ids(page["chunk"])
        if "next_batch" not in page:
            break
        params["from"] = page["next_batch"]
    assert seen == [first, third, second]


async def test_threads_list_participated(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await public_room(alice, bob, carol)
    by_bob = await text(bob, room, "bob's root")
    replied = await text(alice, room, "bob replied here")
    untouched = await text(alice, room, "not bob's")
    await reply_in_thread(carol, room, by_bob, "x")
    await reply_in_thread(bob, room, replied, "x")
    await reply_in_thread(carol, room, untouched, "x")

    assert ids((await threads(bob, room, include="participated"))["chunk"]) == [replied, by_bob]
    assert ids((await threads(bob, room, include="all"))["chunk"]) == [untouched, replied, by_bob]
    page = await threads(bob, room, include="participated", limit=1)
    assert ids(page["chunk"]) == [replied]
    page = await threads(bob, room, include="participated", limit=1, **{"from": page["next_batch"]})
    assert ids(page["chunk"]) == [by_bob]


async def test_threads_list_bad_input(hs: HomeserverUnderTest) -> None:
    alice, eve = await hs.register("alice"), await hs.register("eve")
    room = await public_room(alice)
    private = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    for params in ({"include": "mine"}, {"limit": "0"}, {"limit": "-1"}, {"limit": "x"}, {"from": "bogus"}):
        err = await threads(alice, room, expect=400, **params)
        assert err["errcode"] == "M_INVALID_PARAM", params
    assert (await threads(eve, private, expect=403))["errcode"] == "M_FORBIDDEN"
    assert (await threads(eve, "!nowhere:localhost", expect=403))["errcode"] == "M_FORBIDDEN"
    err = await eve.get(f"{V1}/rooms/not-a-room/threads", expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"


async def test_threads_list_respects_history_visibility(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice)
    await alice.put(f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "joined"})
    before = await text(alice, room, "before bob")
    await reply_in_thread(alice, room, before, "x")
    await bob.post(f"/join/{room}")
    after = await text(alice, room, "after bob")
    await reply_in_thread(alice, room, after, "x")
    assert ids((await threads(bob, room))["chunk"]) == [after]
    assert ids((await threads(alice, room))["chunk"]) == [after, before]


async def test_ignored_users_are_left_out_of_summaries_and_their_roots_redacted(
    hs: HomeserverUnderTest,
) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await public_room(alice, bob, carol)
    root = await text(alice, room, "root")
    by_carol = await reply_in_thread(carol, room, root, "carol")
    await reply_in_thread(bob, room, root, "bob, the latest")
    bobs_root = await text(bob, room, "bob's thread")
    await reply_in_thread(carol, room, bobs_root, "x")
    await alice.put(
        f"/user/{alice.user_id}/account_data/m.ignored_user_list", {"ignored_users": {bob.user_id: {}}}
    )

    summary = (await bundle(alice, room, root))["m.thread"]
    assert (summary["count"], summary["latest_event"]["event_id"]) == (1, by_carol)
    assert (await bundle(carol, room, root))["m.thread"]["count"] == 2  # only alice ignores bob

    page = await threads(alice, room)
    assert ids(page["chunk"]) == [bobs_root, root]
    assert page["chunk"][0]["content"] == {}  # returned redacted
    assert page["chunk"][0]["unsigned"]["m.relations"]["m.thread"]["count"] == 1
