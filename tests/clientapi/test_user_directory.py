"""The user directory: POST /user_directory/search."""

from __future__ import annotations

from typing import Any

from tests.clientapi.directory_helpers import make_world_readable, new_room
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


async def found(client: MatrixClient, term: str, **extra: Any) -> list[str]:
    result = await client.post("/user_directory/search", {"search_term": term, **extra})
    return [r["user_id"] for r in result["results"]]


async def test_finds_users_who_share_a_room(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await new_room(alice, invite=[bob.user_id])  # private
    assert await found(alice, "bob") == []  # only invited so far
    await bob.post(f"/rooms/{room}/join")

    assert await found(alice, "bob") == [bob.user_id]
    assert await found(bob, "ALI") == [alice.user_id]  # case-insensitive
    assert await found(carol, "bob") == []  # shares no room, and the room is private
    assert await found(carol, "alice") == []

    await bob.post(f"/rooms/{room}/leave")
    assert await found(alice, "bob") == []


async def test_finds_users_in_public_or_world_readable_rooms(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    await new_room(alice, preset="public_chat")
    readable = await new_room(bob, preset="private_chat")
    await make_world_readable(bob, readable)

    assert await found(carol, "alice") == [alice.user_id]
    assert await found(carol, "bob") == [bob.user_id]


async def test_matches_display_names_word_by_word(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await bob.put(f"/profile/{bob.user_id}/displayname", {"displayname": "Robert Ünderwood"})
    await bob.put(f"/profile/{bob.user_id}/avatar_url", {"avatar_url": "mxc://example.org/bob"})

    result = await alice.post("/user_directory/search", {"search_term": "rob ÜNDER"})
    assert result == {
        "results": [
            {
                "user_id": bob.user_id,
                "display_name": "Robert Ünderwood",
                "avatar_url": "mxc://example.org/bob",
            }
        ],
        "limited": False,
    }
    assert await found(alice, "wood") == [bob.user_id]
    assert await found(alice, f"@bob:{hs.config.server_name}") == [bob.user_id]
    assert await found(alice, "robert nobody") == []
    assert await found(alice, "%") == []  # LIKE wildcards are literal
    assert await found(alice, "_") == []
    assert await found(alice, "   ") == []


async def test_limit_and_order(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice, preset="public_chat")
    names = ["team3", "team1", "team2", "ateam"]
    for name in names:
        member = await hs.register(name)
        await member.post(f"/join/{room}")
    server = hs.config.server_name

    everyone = await found(alice, "team", limit=10)
    # Prefix matches first, then by name.
    assert everyone == [f"@team1:{server}", f"@team2:{server}", f"@team3:{server}", f"@ateam:{server}"]
    page = await alice.post("/user_directory/search", {"search_term": "team", "limit": 2})
    assert [r["user_id"] for r in page["results"]] == everyone[:2]
    assert page["limited"] is True
    assert (await alice.post("/user_directory/search", {"search_term": "team"}))["limited"] is False
    zero = await alice.post("/user_directory/search", {"search_term": "team", "limit": 0})
    assert zero == {"results": [], "limited": True}


async def test_default_limit_is_ten(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice, preset="public_chat")
    for i in range(11):
        await (await hs.register(f"member{i:02}")).post(f"/join/{room}")
    result = await alice.post("/user_directory/search", {"search_term": "member"})
    assert len(result["results"]) == 10 and result["limited"] is True


async def test_deactivated_users_are_not_found(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    auth = {"auth": bob.password_auth()}
    await bob.post("/account/deactivate", auth)
    assert await found(alice, "bob") == []


async def test_bad_input(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await new_room(alice, preset="public_chat")
    cases: list[tuple[Any, str]] = [
        ({}, "M_MISSING_PARAM"),
        ({"search_term": 5}, "M_INVALID_PARAM"),
        ({"search_term": "a", "limit": "5"}, "M_INVALID_PARAM"),
        ({"search_term": "a", "limit": -1}, "M_INVALID_PARAM"),
        ({"search_term": "a", "limit": True}, "M_INVALID_PARAM"),
        ({"search_term": "a\u0000"}, "M_INVALID_PARAM"),
        ({"search_term": "a" * 300}, "M_INVALID_PARAM"),
    ]
    for body, errcode in cases:
        assert_error(await alice.post("/user_directory/search", body, expect=400), errcode)
    assert_error(await alice.post("/user_directory/search", data=b"{", expect=400), "M_NOT_JSON")
    err = await hs.client().post("/user_directory/search", {"search_term": "a"}, expect=401)
    assert_error(err, "M_MISSING_TOKEN")
