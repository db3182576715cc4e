"""Spaces: GET /_matrix/client/v1/rooms/{roomId}/hierarchy (depth-first walk of m.space.child
links, the spec's visibility rules, max_depth, limit, suggested_only and pagination)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.clientapi.conftest import MakeServer
from tests.clientapi.test_ratelimit import TIGHT, assert_limited, limits
from tests.clientapi.test_sync_queries import statements
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

MEGOLM = "m.megolm.v1.aes-sha2"


def hierarchy_path(room_id: str) -> str:
    return f"/_matrix/client/v1/rooms/{quote(room_id, safe='')}/hierarchy"


async def hierarchy(client: MatrixClient, room_id: str, *, expect: int = 200, **params: str) -> Any:
    return await query(client, room_id, params, expect)


async def query(client: MatrixClient, room_id: str, params: dict[str, str], expect: int = 200) -> Any:
    return await client.get(hierarchy_path(room_id), params=params, expect=expect)


async def walk(client: MatrixClient, room_id: str, **params: str) -> list[str]:
    return [room["room_id"] for room in (await query(client, room_id, params))["rooms"]]


async def new_space(client: MatrixClient, **body: Any) -> str:
    body.setdefault("preset", "public_chat")
    body["creation_content"] = {"type": "m.space"}
    room_id = (await client.post("/createRoom", body))["room_id"]
    assert isinstance(room_id, str)
    return room_id


async def new_room(client: MatrixClient, **body: Any) -> str:
    body.setdefault("preset", "public_chat")
    room_id = (await client.post("/createRoom", body))["room_id"]
    assert isinstance(room_id, str)
    return room_id


async def add_child(client: MatrixClient, space: str, child: str, **content: Any) -> None:
    content.setdefault("via", ["localhost"])
    await client.put(f"/rooms/{space}/state/m.space.child/{quote(child, safe='')}", content)


async def test_nested_spaces_walk_depth_first_with_summaries(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    space = await new_space(alice, name="Company", topic="All of it")
    sub = await new_space(alice, name="Team")
    general = await new_room(alice, name="General")
    team_room = await new_room(
        alice,
        name="Team chat",
        initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}],
    )
    await add_child(alice, space, general, order="b")
    await add_child(alice, space, sub, order="a")  # ordered before `general`
    await add_child(alice, sub, team_room)

    body = await hierarchy(alice, space)

    assert [r["room_id"] for r in body["rooms"]] == [space, sub, team_room, general]
    assert "next_batch" not in body
    top = body["rooms"][0]
    children = top.pop("children_state")
    assert top == {
        "room_id": space,
        "name": "Company",
        "topic": "All of it",
        "num_joined_members": 1,
        "world_readable": False,
        "guest_can_join": False,
        "join_rule": "public",
        "room_type": "m.space",
        "room_version": hs.config.default_room_version,
    }
    assert [c["state_key"] for c in children] == [sub, general]
    for child in children:
        assert child["type"] == "m.space.child"
        assert child["sender"] == alice.user_id
        assert isinstance(child["origin_server_ts"], int)
        assert child["content"]["via"] == ["localhost"]
    encrypted = body["rooms"][2]
    assert encrypted["encryption"] == MEGOLM
    assert encrypted["children_state"] == []  # not a space
    assert "room_type" not in encrypted


async def test_max_depth_stops_the_walk(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    space, sub = await new_space(alice), await new_space(alice)
    room, deep = await new_room(alice), await new_room(alice)
    await add_child(alice, space, sub, order="a")
    await add_child(alice, space, room, order="b")
    await add_child(alice, sub, deep)

    assert await walk(alice, space, max_depth="0") == [space]
    assert await walk(alice, space, max_depth="1") == [space, sub, room]
    assert await walk(alice, space, max_depth="2") == [space, sub, deep, room]
    top = (await hierarchy(alice, space, max_depth="0"))["rooms"][0]
    assert len(top["children_state"]) == 2  # the links are still listed


async def test_limit_and_pagination_across_pages(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    space = await new_space(alice)
    children = [await new_room(alice) for _ in range(5)]
    for index, child in enumerate(children):
        await add_child(alice, space, child, order=f"{index}")
    everything = await walk(alice, space)
    assert everything == [space, *children]

    seen: list[str] = []
    pages = 0
    params: dict[str, str] = {"limit": "2"}
    while True:
        body = await query(alice, space, params)
        pages += 1
        assert len(body["rooms"]) <= 2
        seen += [r["room_id"] for r in body["rooms"]]
        if "next_batch" not in body:
            break
        params = {"limit": "2", "from": body["next_batch"]}
    assert seen == everything
    assert pages == 3

    # limit may change between pages; max_depth and suggested_only may not.
    token = (await hierarchy(alice, space, limit="2"))["next_batch"]
    assert await walk(alice, space, limit="10", **{"from": token}) == everything[2:]
    err = await hierarchy(alice, space, expect=400, limit="2", max_depth="3", **{"from": token})
    assert_error(err, "M_INVALID_PARAM")
    err = await hierarchy(alice, space, expect=400, suggested_only="true", **{"from": token})
    assert_error(err, "M_INVALID_PARAM")
    other = await new_space(alice)
    assert_error(await hierarchy(alice, other, expect=400, **{"from": token}), "M_INVALID_PARAM")
    bob = await hs.register("bob")
    assert_error(await hierarchy(bob, space, expect=400, **{"from": token}), "M_INVALID_PARAM")
    for forged in ("nonsense", "WzEsImFiYyIsMl0", "a" * 2000):
        assert_error(await hierarchy(alice, space, expect=400, **{"from": forged}), "M_INVALID_PARAM")


async def test_a_large_limit_is_capped(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    space = await new_space(alice)
    body = await hierarchy(alice, space, limit=str(2**62))
    assert [r["room_id"] for r in body["rooms"]] == [space]
    assert "next_batch" not in body


async def test_suggested_only(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    space = await new_space(alice)
    suggested, plain = await new_room(alice), await new_room(alice)
    await add_child(alice, space, suggested, suggested=True, order="b")
    await add_child(alice, space, plain, order="a")

    assert await walk(alice, space) == [space, plain, suggested]
    body = await hierarchy(alice, space, suggested_only="true")
    assert [r["room_id"] for r in body["rooms"]] == [space, suggested]
    assert [c["state_key"] for c in body["rooms"][0]["children_state"]] == [suggested]
    assert await walk(alice, space, suggested_only="false") == [space, plain, suggested]


async def test_private_child_hidden_but_listed_as_a_child(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    space = await new_space(alice)
    private = await new_room(alice, preset="private_chat", name="Secret")
    public = await new_room(alice)
    readable = await new_room(alice, preset="private_chat")
    history = {"history_visibility": "world_readable"}
    await alice.put(f"/rooms/{readable}/state/m.room.history_visibility", history)
    for order, child in enumerate((private, public, readable)):
        await add_child(alice, space, child, order=str(order))

    body = await hierarchy(bob, space)
    assert [r["room_id"] for r in body["rooms"]] == [space, public, readable]
    assert [c["state_key"] for c in body["rooms"][0]["children_state"]] == [private, public, readable]
    assert body["rooms"][2]["world_readable"] is True
    assert await walk(alice, space) == [space, private, public, readable]  # a member sees it

    first = await hierarchy(bob, space, limit="1")
    assert [r["room_id"] for r in first["rooms"]] == [space]
    rest = await hierarchy(bob, space, limit="5", **{"from": first["next_batch"]})
    assert [r["room_id"] for r in rest["rooms"]] == [public, readable]  # the hidden room skipped

    await alice.post(f"/rooms/{private}/invite", {"user_id": bob.user_id})
    assert await walk(bob, space) == [space, private, public, readable]  # invited: may join


async def test_restricted_child_visible_to_a_member_of_the_allowed_room(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = [await hs.register(n) for n in ("alice", "bob", "carol")]
    space = await new_space(alice)
    club = await new_room(alice)  # membership here lets one see the restricted room
    restricted = await new_room(alice, preset="private_chat")
    allow = [{"type": "m.room_membership", "room_id": club}]
    rules = {"join_rule": "restricted", "allow": allow}
    await alice.put(f"/rooms/{restricted}/state/m.room.join_rules", rules)
    await add_child(alice, space, restricted)
    await bob.post(f"/join/{club}")

    body = await hierarchy(bob, space)
    assert [r["room_id"] for r in body["rooms"]] == [space, restricted]
    assert body["rooms"][1]["join_rule"] == "restricted"
    assert body["rooms"][1]["allowed_room_ids"] == [club]
    assert await walk(carol, space) == [space]
    assert_error(await hierarchy(carol, restricted, expect=403), "M_FORBIDDEN")


async def test_knockable_child_is_visible(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    space = await new_space(alice)
    knock = await new_room(alice, preset="private_chat")
    await alice.put(f"/rooms/{knock}/state/m.room.join_rules", {"join_rule": "knock"})
    await add_child(alice, space, knock)
    assert await walk(bob, space) == [space, knock]


async def test_cycles_terminate(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    space, sub = await new_space(alice), await new_space(alice)
    await add_child(alice, space, sub)
    await add_child(alice, sub, space)  # contains its parent
    await add_child(alice, sub, sub)  # contains itself
    assert await walk(alice, space) == [space, sub]
    assert await walk(alice, sub) == [sub, space]


async def test_links_without_via_and_unknown_children_are_skipped(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    space, room, removed = await new_space(alice), await new_room(alice), await new_room(alice)
    await add_child(alice, space, room)
    await add_child(alice, space, removed)
    await alice.put(f"/rooms/{space}/state/m.space.child/{quote(removed, safe='')}", {})  # removed
    await add_child(alice, space, "!unknown:elsewhere.example", via=["elsewhere.example"])
    await add_child(alice, space, "!badvia:localhost", via="localhost")

    body = await hierarchy(alice, space)
    assert [r["room_id"] for r in body["rooms"]] == [space, room]
    listed = [c["state_key"] for c in body["rooms"][0]["children_state"]]
    assert sorted(listed) == sorted([room, "!unknown:elsewhere.example"])


async def test_reads_are_batched_not_per_child(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")

    async def statements_for_space_of(size: int) -> int:
        space = await new_space(alice)
        for _ in range(size):
            await add_child(alice, space, await new_room(alice))
        with statements(hs) as seen:
            assert len(await walk(alice, space)) == size + 1
        return len(seen)

    assert await statements_for_space_of(6) == await statements_for_space_of(1)


async def test_forbidden_and_unknown_rooms(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    private = await new_space(alice, preset="private_chat")
    # Spec: 403 when the user cannot view or peek the room, including when it does not exist.
    assert_error(await hierarchy(bob, private, expect=403), "M_FORBIDDEN")
    assert_error(await hierarchy(bob, "!nosuchroom:localhost", expect=403), "M_FORBIDDEN")

    public = await new_space(alice)
    await bob.post(f"/join/{public}")
    await alice.post(f"/rooms/{public}/ban", {"user_id": bob.user_id})
    assert_error(await hierarchy(bob, public, expect=403), "M_FORBIDDEN")

    await hs.client().get(hierarchy_path(public), expect=401)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"limit": "9" * 40},
        {"max_depth": "-1"},
        {"max_depth": "deep"},
        {"max_depth": "9" * 40},
        {"suggested_only": "yes"},
        {"from": ""},
        {"from": "x\x00y"},
    ],
)
async def test_bad_parameters(hs: HomeserverUnderTest, params: dict[str, str]) -> None:
    alice = await hs.register("alice")
    space = await new_space(alice)
    assert_error(await hierarchy(alice, space, expect=400, **params), "M_INVALID_PARAM")


async def test_bad_room_id(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert_error(await hierarchy(alice, "not-a-room", expect=400), "M_INVALID_PARAM")


async def test_space_links_are_ordinary_state_events(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    space, room = await new_space(alice), await new_room(alice)
    parent = {"via": ["localhost"], "canonical": True}
    await alice.put(f"/rooms/{room}/state/m.space.parent/{quote(space, safe='')}", parent)
    assert await alice.get(f"/rooms/{room}/state/m.space.parent/{quote(space, safe='')}") == parent
    await add_child(alice, space, room)

    # The power levels' state_default applies, as to any state event: a plain member may not link.
    await bob.post(f"/join/{space}")
    other = await new_room(bob)
    err = await bob.put(
        f"/rooms/{space}/state/m.space.child/{quote(other, safe='')}", {"via": ["localhost"]}, expect=403
    )
    assert_error(err, "M_FORBIDDEN")
    assert await walk(bob, space) == [space, room]


async def test_rate_limited_per_user(make_hs: MakeServer) -> None:
    hs = await make_hs(rate_limits=limits(room_hierarchy=TIGHT))
    alice, bob = await hs.register("alice"), await hs.register("bob")
    space = await new_space(alice)
    assert await walk(alice, space) == [space]
    assert_limited(alice, await hierarchy(alice, space, expect=429))
    assert await walk(bob, space) == [space]  # another user has a bucket of their own


async def test_no_next_batch_when_only_hidden_rooms_are_left(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    space, public = await new_space(alice), await new_room(alice)
    private = await new_room(alice, preset="private_chat")
    await add_child(alice, space, public, order="a")
    await add_child(alice, space, private, order="b")

    body = await hierarchy(bob, space, limit="2")
    assert [r["room_id"] for r in body["rooms"]] == [space, public]
    assert "next_batch" not in body
    assert "next_batch" in await hierarchy(alice, space, limit="2")  # alice sees the third
