"""Room tags (spec: "Room Tagging"), kept in the room's m.tag account data."""

from __future__ import annotations

from typing import Any

from homeserver.appkeys import ACCOUNT_DATA
from homeserver.ids import RoomID, UserID
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


async def new_room(client: MatrixClient) -> str:
    room_id = (await client.post("/createRoom", {}))["room_id"]
    assert isinstance(room_id, str)
    return room_id


async def stored_tags(hs: HomeserverUnderTest, user: MatrixClient, room: str) -> Any:
    assert user.user_id is not None
    return await hs.app[ACCOUNT_DATA]._store.get(UserID(user.user_id), RoomID(room), "m.tag")


async def test_add_list_and_remove_tags(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    tags = f"/user/{alice.user_id}/rooms/{room}/tags"
    assert await alice.get(tags) == {"tags": {}}

    assert await alice.put(f"{tags}/m.favourite", {"order": 0.25}) == {}
    await alice.put(f"{tags}/u.Work", {})
    await alice.put(f"{tags}/u.Zero", {"order": 0})
    assert await alice.get(tags) == {
        "tags": {"m.favourite": {"order": 0.25}, "u.Work": {}, "u.Zero": {"order": 0}}
    }

    await alice.put(f"{tags}/m.favourite", {"order": 1})  # replaces the tag's content
    assert (await alice.get(tags))["tags"]["m.favourite"] == {"order": 1}

    assert await alice.delete(f"{tags}/u.Work") == {}
    assert await alice.delete(f"{tags}/u.Absent") == {}
    assert await alice.get(tags) == {"tags": {"m.favourite": {"order": 1}, "u.Zero": {"order": 0}}}

    # Sync delivers tags as the room's m.tag account data: the same object.
    m_tag = await alice.get(f"/user/{alice.user_id}/rooms/{room}/account_data/m.tag")
    assert m_tag == {"tags": {"m.favourite": {"order": 1}, "u.Zero": {"order": 0}}}


async def test_tags_are_per_room_and_per_user(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice)
    other = await new_room(alice)
    await bob.post(f"/join/{room}", expect=403)  # private room: bob needs an invite
    await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id})
    await bob.post(f"/rooms/{room}/join")

    await alice.put(f"/user/{alice.user_id}/rooms/{room}/tags/u.a", {"order": 0.5})
    await bob.put(f"/user/{bob.user_id}/rooms/{room}/tags/u.b", {})

    assert await alice.get(f"/user/{alice.user_id}/rooms/{room}/tags") == {"tags": {"u.a": {"order": 0.5}}}
    assert await bob.get(f"/user/{bob.user_id}/rooms/{room}/tags") == {"tags": {"u.b": {}}}
    assert await alice.get(f"/user/{alice.user_id}/rooms/{other}/tags") == {"tags": {}}


async def test_setting_m_tag_directly_keeps_other_keys(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    await alice.put(f"/user/{alice.user_id}/rooms/{room}/account_data/m.tag", {"tags": "broken", "x": 1})
    assert await alice.get(f"/user/{alice.user_id}/rooms/{room}/tags") == {"tags": {}}
    await alice.put(f"/user/{alice.user_id}/rooms/{room}/tags/u.t", {})
    assert await stored_tags(hs, alice, room) == {"tags": {"u.t": {}}, "x": 1}


async def test_bad_tag_requests_change_nothing(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice)
    bobs_room = await new_room(bob)
    tags = f"/user/{alice.user_id}/rooms/{room}/tags"
    await alice.put(f"{tags}/u.keep", {"order": 0.5})
    before = await stored_tags(hs, alice, room)

    for order in (1.5, -0.1, "0.5", True, [0.5], {"x": 1}):
        assert_error(await alice.put(f"{tags}/u.new", {"order": order}, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.put(f"{tags}/u.new", data=b"{", expect=400), "M_NOT_JSON")
    assert_error(await alice.put(f"{tags}/u.new", [0.5], expect=400), "M_BAD_JSON")
    assert_error(await alice.put(f"{tags}/{'t' * 256}", {}, expect=400), "M_INVALID_PARAM")
    err = await alice.put(f"{tags}/u.big", {"pad": "x" * 300_000}, expect=413)
    assert_error(err, "M_TOO_LARGE")

    # Someone else's tags
    assert_error(await bob.get(tags, expect=403), "M_FORBIDDEN")
    assert_error(await bob.put(f"{tags}/u.evil", {}, expect=403), "M_FORBIDDEN")
    assert_error(await bob.delete(f"{tags}/u.keep", expect=403), "M_FORBIDDEN")

    # Rooms that do not exist or that the user was never in; bad room IDs
    unknown = f"!nosuchroom:{hs.config.server_name}"
    err = await alice.put(f"/user/{alice.user_id}/rooms/{unknown}/tags/u.x", {}, expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await alice.put(f"/user/{alice.user_id}/rooms/{bobs_room}/tags/u.x", {}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await alice.put(f"/user/{alice.user_id}/rooms/not-a-room/tags/u.x", {}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    assert_error(
        await alice.get(f"/user/{alice.user_id}/rooms/not-a-room/tags", expect=400), "M_INVALID_PARAM"
    )

    assert await stored_tags(hs, alice, room) == before == {"tags": {"u.keep": {"order": 0.5}}}
    assert await stored_tags(hs, alice, bobs_room) is None
    assert await stored_tags(hs, alice, unknown) is None


async def test_concurrent_tag_changes_lose_nothing(hs: HomeserverUnderTest) -> None:
    import asyncio

    alice = await hs.register("alice")
    room = await new_room(alice)
    tags = f"/user/{alice.user_id}/rooms/{room}/tags"
    names = [f"u.t{i}" for i in range(12)]
    await asyncio.gather(*(alice.put(f"{tags}/{name}", {}) for name in names))
    assert set((await alice.get(tags))["tags"]) == set(names)
    await asyncio.gather(*(alice.delete(f"{tags}/{name}") for name in names[::2]))
    assert set((await alice.get(tags))["tags"]) == set(names[1::2])
