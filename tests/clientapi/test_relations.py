"""GET /v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]: order, direction,
pagination tokens, filters, recursion, visibility of the parent and of the children, and the
answers to bad input."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from homeserver.appkeys import DATABASE
from tests.clientapi.relation_helpers import (
    V1,
    edit,
    ids,
    public_room,
    react,
    relates,
    relations,
    reply_in_thread,
    send,
    text,
)
from tests.helpers import HomeserverUnderTest


async def test_children_newest_first_with_filters(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    root = await text(alice, room, "root")
    r1 = await reply_in_thread(bob, room, root, "1")
    like = await react(bob, room, root, "👍")
    r2 = await reply_in_thread(alice, room, root, "2")
    vote = await send(alice, room, relates("m.annotation", root, key="yes"), "org.example.vote")
    await text(alice, room, "unrelated")

    page = await relations(bob, room, root)
    assert ids(page["chunk"]) == [vote, r2, like, r1]
    assert "next_batch" not in page and "prev_batch" not in page and "recursion_depth" not in page
    assert page["chunk"][1]["content"]["body"] == "2"
    assert ids((await relations(bob, room, root, "m.thread"))["chunk"]) == [r2, r1]
    assert ids((await relations(bob, room, root, "m.annotation"))["chunk"]) == [vote, like]
    assert ids((await relations(bob, room, root, "m.annotation", "m.reaction"))["chunk"]) == [like]
    assert (await relations(bob, room, root, "m.reference"))["chunk"] == []
    assert ids((await relations(bob, room, root, dir="f"))["chunk"]) == [r1, like, r2, vote]


async def test_pagination_both_ways(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    root = await text(alice, room, "root")
    replies = [await reply_in_thread(alice, room, root, str(i)) for i in range(7)]

    for direction, expected in (("b", replies[::-1]), ("f", replies)):
        seen: list[str] = []
        params: dict[str, Any] = {"limit": "3", "dir": direction}
        for _ in range(5):
            page = await relations(alice, room, root, **params)
            assert len(page["chunk"]) <= 3
            if "from" in params:
                assert page["prev_batch"] == params["from"]
            seen += ids(page["chunk"])
            if "next_batch" not in page:
                break
            params["from"] = page["next_batch"]
        assert seen == expected, direction

    first = await relations(alice, room, root, limit=2)
    rest = await relations(alice, room, root, **{"from": first["next_batch"], "limit": 10})
    assert ids(rest["chunk"]) == replies[4::-1]
    # `to` stops before the page it names: from the start, up to the first page's end.
    bounded = await relations(alice, room, root, dir="f", to=first["next_batch"], limit=10)
    assert ids(bounded["chunk"]) == replies[:5]


async def test_a_messages_token_starts_a_page(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    root = await text(alice, room, "root")
    early = await reply_in_thread(alice, room, root, "early")
    token = (await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "1"}))["start"]
    await reply_in_thread(alice, room, root, "late")
    page = await relations(alice, room, root, **{"from": token})
    assert ids(page["chunk"]) == [early]


async def test_recursion_follows_up_to_three_levels_and_the_filters(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    root = await text(alice, room, "root")
    reply = await reply_in_thread(alice, room, root, "reply")
    reaction = await react(alice, room, reply, "👍")  # two levels down
    fixed = await edit(alice, room, reply, "edited reply")  # two levels down
    ref = await send(alice, room, relates("m.reference", reply), "org.example.ref")
    deep = await send(alice, room, relates("m.reference", ref), "org.example.ref")  # three
    deeper = await send(alice, room, relates("m.reference", deep), "org.example.ref")  # four

    flat = await relations(alice, room, root, recurse="false")
    assert ids(flat["chunk"]) == [reply]
    assert flat["recursion_depth"] == 1
    deep_page = await relations(alice, room, root, recurse="true", limit=50)
    assert deep_page["recursion_depth"] == 3
    assert set(ids(deep_page["chunk"])) == {reply, reaction, fixed, ref, deep}
    assert deeper not in ids(deep_page["chunk"])
    # A filter applies at every level: the reference below a thread reply is not reached
    # through a matching relation.
    refs = await relations(alice, room, root, "m.reference", recurse="true")
    assert refs["chunk"] == []
    refs = await relations(alice, room, reply, "m.reference", recurse="true")
    assert ids(refs["chunk"]) == [deeper, deep, ref]  # three levels below the reply


async def test_children_the_user_cannot_see_are_left_out(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    await alice.put(f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "joined"})
    root = await text(alice, room, "root")
    seen = await reply_in_thread(alice, room, root, "bob is here")
    await bob.post(f"/rooms/{room}/leave")
    unseen = await reply_in_thread(alice, room, root, "bob is gone")

    assert ids((await relations(bob, room, root))["chunk"]) == [seen]
    assert ids((await relations(alice, room, root))["chunk"]) == [unseen, seen]
    # The summary bundled for bob does not leak the reply he cannot see.
    event = await bob.get(f"/rooms/{room}/event/{root}")
    assert "m.thread" not in event["unsigned"].get("m.relations", {})


async def test_a_parent_the_user_cannot_see_is_not_found(hs: HomeserverUnderTest) -> None:
    alice, bob, eve = await hs.register("alice"), await hs.register("bob"), await hs.register("eve")
    room = await public_room(alice)
    await alice.put(f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "joined"})
    hidden = await text(alice, room, "before bob")
    await reply_in_thread(alice, room, hidden, "x")
    await bob.post(f"/join/{room}")
    private = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    secret = await text(alice, private, "secret")
    other = await text(alice, room, "in the public room")

    assert (await relations(bob, room, hidden, expect=404))["errcode"] == "M_NOT_FOUND"
    assert (await relations(eve, private, secret, expect=404))["errcode"] == "M_NOT_FOUND"
    assert (await relations(alice, room, "$nope", expect=404))["errcode"] == "M_NOT_FOUND"
    assert (await relations(alice, private, other, expect=404))["errcode"] == "M_NOT_FOUND"  # wrong room
    assert (await relations(alice, "!nowhere:localhost", other, expect=404))["errcode"] == "M_NOT_FOUND"


async def test_bad_input(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    root = await text(alice, room, "root")
    for params in (
        {"dir": "x"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"recurse": "yes"},
        {"from": "nonsense"},
        {"to": "t1"},
    ):
        err = await relations(alice, room, root, expect=400, **params)
        assert err["errcode"] == "M_INVALID_PARAM", params
    err = await alice.get(f"{V1}/rooms/{room}/relations/not-an-event", expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"
    err = await alice.get(f"{V1}/rooms/{room}/relations/{root}/{'x' * 300}", expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"
    anonymous = hs.client()
    err = await anonymous.get(f"{V1}/rooms/{room}/relations/{root}", expect=401)
    assert err["errcode"] == "M_MISSING_TOKEN"
    assert (await relations(alice, room, root, limit=0))["chunk"] == []


async def test_bundling_a_page_costs_the_same_queries_whatever_its_size(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    async def page_cost(size: int) -> int:
        room = await public_room(alice)
        for i in range(size):
            root = await text(alice, room, f"root {i}")
            reply = await reply_in_thread(alice, room, root, "reply")
            await edit(alice, room, root, "edited")
            await edit(alice, room, reply, "edited reply")
            await send(alice, room, relates("m.reference", root), "org.example.ref")
        params = {"dir": "b", "limit": str(5 * size)}
        await alice.get(f"/rooms/{room}/messages", params=params)  # warm the caches alike
        statements.clear()
        page = await alice.get(f"/rooms/{room}/messages", params=params)
        assert sum("m.relations" in e["unsigned"] for e in page["chunk"]) == 2 * size
        return len(statements)

    engine = hs.app[DATABASE].engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        small, large = await page_cost(1), await page_cost(8)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert large == small, (small, large)


async def test_children_from_ignored_users_are_left_out(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    root = await text(alice, room, "root")
    own = await react(alice, room, root, "👍")
    await react(bob, room, root, "👍")
    ref = await send(bob, room, relates("m.reference", root), "org.example.ref")
    await alice.put(
        f"/user/{alice.user_id}/account_data/m.ignored_user_list", {"ignored_users": {bob.user_id: {}}}
    )
    assert ids((await relations(alice, room, root))["chunk"]) == [own]
    assert "m.relations" not in (await alice.get(f"/rooms/{room}/event/{root}"))["unsigned"]
    bundled = (await bob.get(f"/rooms/{room}/event/{root}"))["unsigned"]["m.relations"]
    assert bundled["m.reference"] == {"chunk": [{"event_id": ref}]}
