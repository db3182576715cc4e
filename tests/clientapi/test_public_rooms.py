"""The published room directory: GET and POST /publicRooms."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.clientapi.directory_helpers import local_alias, make_world_readable, new_room
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


async def public_room_ids(client: MatrixClient, **params: str) -> list[str]:
    return [entry["room_id"] for entry in (await client.get("/publicRooms", params=params))["chunk"]]


async def test_public_room_found_in_the_directory_and_joined_by_alias(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(
        alice, visibility="public", room_alias_name="lobby", name="The Lobby", topic="Say hello"
    )
    alias = local_alias(hs, "lobby")

    listing = await hs.client().get("/publicRooms")  # readable without an account
    assert listing["total_room_count_estimate"] == 1
    assert "next_batch" not in listing and "prev_batch" not in listing
    (entry,) = listing["chunk"]
    assert entry == {
        "room_id": room,
        "name": "The Lobby",
        "topic": "Say hello",
        "canonical_alias": alias,
        "num_joined_members": 1,
        "world_readable": False,
        "guest_can_join": False,
        "join_rule": "public",
    }

    found = await bob.post("/publicRooms", {"filter": {"generic_search_term": "lobby"}})
    assert [e["room_id"] for e in found["chunk"]] == [room]
    assert await bob.post(f"/join/{quote(entry['canonical_alias'], safe='')}") == {"room_id": room}
    (entry,) = (await bob.get("/publicRooms"))["chunk"]
    assert entry["num_joined_members"] == 2


async def test_entry_fields_from_room_state(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(
        alice,
        visibility="public",
        creation_content={"type": "m.space"},
        initial_state=[
            {"type": "m.room.avatar", "content": {"url": "mxc://example.org/abc"}},
            {"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}},
            {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}},
            {
                "type": "m.room.topic",
                "content": {
                    "topic": "plain",
                    "m.topic": {"m.text": [{"mimetype": "text/html", "body": "<b>x</b>"}, {"body": "rich"}]},
                },
            },
        ],
    )
    (entry,) = (await alice.get("/publicRooms"))["chunk"]
    assert entry == {
        "room_id": room,
        "num_joined_members": 1,
        "world_readable": True,
        "guest_can_join": True,
        "avatar_url": "mxc://example.org/abc",
        "join_rule": "public",
        "room_type": "m.space",
        "topic": "rich",
    }


async def test_only_published_joinable_or_readable_rooms_are_listed(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    listed = await new_room(alice, visibility="public")
    await new_room(alice, preset="public_chat")  # public join rule, not published
    invite_only = await new_room(alice, visibility="public", preset="private_chat")
    readable = await new_room(alice, visibility="public", preset="private_chat")
    await make_world_readable(alice, readable)
    knock = await new_room(alice, visibility="public", preset="private_chat")
    await alice.put(f"/rooms/{knock}/state/m.room.join_rules", {"join_rule": "knock"})
    empty = await new_room(bob, visibility="public")
    await bob.post(f"/rooms/{empty}/leave")  # nobody left in it

    assert sorted(await public_room_ids(alice)) == sorted([listed, readable, knock])
    assert invite_only not in await public_room_ids(alice)
    assert (await alice.get("/publicRooms"))["total_room_count_estimate"] == 3


async def _rooms_of_sizes(hs: HomeserverUnderTest, sizes: list[int]) -> list[str]:
    """Published rooms with these numbers of joined members, in the directory's order."""
    members = [await hs.register(f"user{i}") for i in range(max(sizes))]
    rooms: list[tuple[int, str]] = []
    for size in sizes:
        room = await new_room(members[0], visibility="public")
        for member in members[1:size]:
            await member.post(f"/join/{room}")
        rooms.append((size, room))
    return [room for _, room in sorted(rooms, key=lambda r: (-r[0], r[1]))]


async def _walk(client: MatrixClient, first: dict[str, Any], key: str, fetch: Any) -> list[list[str]]:
    pages = [[e["room_id"] for e in first["chunk"]]]
    page = first
    while key in page:
        page = await fetch(page[key])
        pages.append([e["room_id"] for e in page["chunk"]])
    return pages


async def test_pagination_forwards_and_backwards(hs: HomeserverUnderTest) -> None:
    order = await _rooms_of_sizes(hs, [1, 3, 2, 2, 1])
    client = hs.client()

    async def get(since: str) -> Any:
        return await client.get("/publicRooms", params={"limit": "2", "since": since})

    first = await client.get("/publicRooms", params={"limit": "2"})
    assert first["total_room_count_estimate"] == 5
    assert "prev_batch" not in first
    forwards = await _walk(client, first, "next_batch", get)
    assert forwards == [order[0:2], order[2:4], order[4:5]]

    last = await get((await get(first["next_batch"]))["next_batch"])
    assert "next_batch" not in last
    backwards = await _walk(client, last, "prev_batch", get)
    assert backwards == [order[4:5], order[2:4], order[0:2]]
    sizes = [e["num_joined_members"] for e in first["chunk"]]
    assert sizes == [3, 2]


async def test_search_with_pagination(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    tea = [await new_room(alice, visibility="public", name=f"Tea room {i}") for i in range(3)]
    by_topic = await new_room(alice, visibility="public", topic="All about TEA")
    by_alias = await new_room(alice, visibility="public", room_alias_name="teatime")
    coffee = await new_room(alice, visibility="public", name="Coffee")
    matching = sorted([*tea, by_topic, by_alias])

    body: dict[str, Any] = {"limit": 2, "filter": {"generic_search_term": "tEa"}}
    page = await alice.post("/publicRooms", body)
    assert page["total_room_count_estimate"] == 5
    seen = [e["room_id"] for e in page["chunk"]]
    while "next_batch" in page:
        page = await alice.post("/publicRooms", {**body, "since": page["next_batch"]})
        seen += [e["room_id"] for e in page["chunk"]]
    assert seen == matching  # all of one size: by room ID
    assert coffee not in seen

    none = await alice.post("/publicRooms", {"filter": {"generic_search_term": "100%_"}})
    assert none["chunk"] == [] and none["total_room_count_estimate"] == 0


async def test_room_type_filter(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    plain = await new_room(alice, visibility="public")
    space = await new_room(alice, visibility="public", creation_content={"type": "m.space"})

    async def ids(room_types: list[str | None]) -> list[str]:
        page = await alice.post("/publicRooms", {"filter": {"room_types": room_types}})
        return sorted(e["room_id"] for e in page["chunk"])

    assert await ids([None]) == [plain]
    assert await ids(["m.space"]) == [space]
    assert await ids([None, "m.space"]) == sorted([plain, space])
    assert await ids([]) == sorted([plain, space])
    assert await ids(["org.example.other"]) == []


async def test_limit_is_capped_and_zero_lists_nothing(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await new_room(alice, visibility="public")
    zero = await alice.get("/publicRooms", params={"limit": "0"})
    assert zero == {"chunk": [], "total_room_count_estimate": 1}
    assert len((await alice.get("/publicRooms", params={"limit": "100000"}))["chunk"]) == 1


async def test_bad_input(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await new_room(alice, visibility="public")
    anon = hs.client()
    for params in (
        {"limit": "ten"},
        {"limit": "--1"},
        {"limit": "-1"},
        {"since": "garbage"},
        {"server": "bad server"},
    ):
        assert_error(await anon.get("/publicRooms", params=params, expect=400), "M_INVALID_PARAM")
    assert_error(
        await anon.get("/publicRooms", params={"server": "other.example"}, expect=404), "M_NOT_FOUND"
    )
    own = await anon.get("/publicRooms", params={"server": hs.config.server_name})
    assert len(own["chunk"]) == 1

    bad_bodies: list[Any] = [
        {"limit": "2"},
        {"limit": -1},
        {"since": 5},
        {"since": "garbage"},
        {"filter": "tea"},
        {"filter": {"generic_search_term": 5}},
        {"filter": {"room_types": "m.space"}},
        {"filter": {"room_types": [5]}},
        {"include_all_networks": "yes"},
        {"include_all_networks": True, "third_party_instance_id": "irc"},
        {"filter": {"generic_search_term": "x" * 300}},
    ]
    for body in bad_bodies:
        assert_error(await alice.post("/publicRooms", body, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.post("/publicRooms", data=b"[1]", expect=400), "M_BAD_JSON")
    assert_error(await anon.post("/publicRooms", {}, expect=401), "M_MISSING_TOKEN")

    # No application services here: a third-party network's list is empty.
    assert (await alice.post("/publicRooms", {"third_party_instance_id": "irc"}))["chunk"] == []
    assert len((await alice.post("/publicRooms", {"include_all_networks": True}))["chunk"]) == 1


async def test_hostile_state_does_not_break_the_listing(hs: HomeserverUnderTest) -> None:
    """A NUL escape in a room's state is valid JSON; the listing (and PostgreSQL) copes."""
    alice = await hs.register("alice")
    odd = await new_room(alice, visibility="public", name="x\u0000y", topic=None)
    await alice.put(f"/rooms/{odd}/state/m.room.join_rules", {"join_rule": "public", "junk": "\u0000"})
    fine = await new_room(alice, visibility="public", name="Fine")
    ids = await public_room_ids(alice)
    assert fine in ids
    searched = await alice.post("/publicRooms", {"filter": {"generic_search_term": "fine"}})
    assert [e["room_id"] for e in searched["chunk"]] == [fine]
