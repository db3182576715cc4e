"""GET /members, /joined_members, /joined_rooms, and a direct-message flow."""

from __future__ import annotations

from homeserver.appkeys import EVENTS, ROOMS
from homeserver.ids import UserID
from tests.clientapi.room_helpers import create_room, messages, send_text
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


async def member_map(client: MatrixClient, room: str, **params: str) -> dict[str, str]:
    chunk = (await client.get(f"/rooms/{room}/members", params=params))["chunk"]
    assert all(e["type"] == "m.room.member" for e in chunk)
    return {e["state_key"]: e["content"]["membership"] for e in chunk}


async def busy_room(hs: HomeserverUnderTest) -> tuple[list[MatrixClient], str]:
    """alice (joined), bob (joined), carol (invited), dave (left), erin (banned)."""
    users = [await hs.register(n) for n in ("alice", "bob", "carol", "dave", "erin")]
    alice, bob, carol, dave, erin = users
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await alice.post(f"/rooms/{room}/invite", {"user_id": carol.user_id})
    await dave.post(f"/join/{room}")
    await dave.post(f"/rooms/{room}/leave")
    await alice.post(f"/rooms/{room}/ban", {"user_id": erin.user_id})
    return users, room


async def test_members_and_filters(hs: HomeserverUnderTest) -> None:
    (alice, bob, carol, dave, erin), room = await busy_room(hs)
    everyone = {
        alice.user_id: "join",
        bob.user_id: "join",
        carol.user_id: "invite",
        dave.user_id: "leave",
        erin.user_id: "ban",
    }
    assert await member_map(bob, room) == everyone
    assert await member_map(bob, room, membership="join") == {alice.user_id: "join", bob.user_id: "join"}
    assert await member_map(bob, room, membership="ban") == {erin.user_id: "ban"}
    without_leave = {k: v for k, v in everyone.items() if v != "leave"}
    assert await member_map(bob, room, not_membership="leave") == without_leave
    # Both together are an 'or' (spec): is `membership`, or is not `not_membership`.
    both = await member_map(bob, room, membership="leave", not_membership="join")
    assert both == {k: v for k, v in everyone.items() if v != "join"}
    both = await member_map(bob, room, membership="join", not_membership="join")
    assert both == everyone


async def test_members_errors(hs: HomeserverUnderTest) -> None:
    (_, bob, carol, _, _), room = await busy_room(hs)
    for params in ({"membership": "joined"}, {"not_membership": "x"}, {"at": "garbage"}):
        err = await bob.get(f"/rooms/{room}/members", params=params, expect=400)
        assert_error(err, "M_INVALID_PARAM")
    outsider = await hs.register("frank")
    err = await outsider.get(f"/rooms/{room}/members", expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await carol.get(f"/rooms/{room}/members", expect=403)  # only invited
    assert_error(err, "M_FORBIDDEN")


async def test_members_of_a_former_member_are_those_at_the_leave(hs: HomeserverUnderTest) -> None:
    (_, _, carol, dave, erin), room = await busy_room(hs)
    frank = await hs.register("frank")
    await frank.post(f"/join/{room}")
    members = await member_map(dave, room)
    assert members[str(dave.user_id)] == "leave"
    assert carol.user_id in members and erin.user_id not in members  # erin was banned after
    assert frank.user_id not in members


async def test_members_at_a_token(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await send_text(alice, room, "before bob")
    before = await messages(alice, room, dir="b", limit=1)
    await bob.post(f"/join/{room}")
    then = await member_map(alice, room, at=before["start"])
    assert then == {alice.user_id: "join"}
    now = await member_map(alice, room)
    assert now == {alice.user_id: "join", bob.user_id: "join"}


async def test_joined_members(hs: HomeserverUnderTest) -> None:
    (alice, bob, carol, dave, erin), room = await busy_room(hs)
    joined = (await bob.get(f"/rooms/{room}/joined_members"))["joined"]
    assert set(joined) == {alice.user_id, bob.user_id}
    assert joined[alice.user_id]["display_name"] == "alice"
    for user in (carol, dave, erin):
        err = await user.get(f"/rooms/{room}/joined_members", expect=403)
        assert_error(err, "M_FORBIDDEN")
    err = await bob.get(f"/rooms/!nowhere:{hs.config.server_name}/joined_members", expect=403)
    assert_error(err, "M_FORBIDDEN")


async def test_joined_rooms(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert (await bob.get("/joined_rooms"))["joined_rooms"] == []
    one = await create_room(alice, preset="public_chat")
    two = await create_room(alice, preset="public_chat")
    invited = await create_room(alice, invite=[bob.user_id])
    await bob.post(f"/join/{one}")
    await bob.post(f"/join/{two}")
    assert sorted((await bob.get("/joined_rooms"))["joined_rooms"]) == sorted([one, two])
    await bob.post(f"/rooms/{one}/leave")
    assert (await bob.get("/joined_rooms"))["joined_rooms"] == [two]
    assert sorted((await alice.get("/joined_rooms"))["joined_rooms"]) == sorted([one, two, invited])
    err = await hs.client().get("/joined_rooms", expect=401)
    assert_error(err, "M_MISSING_TOKEN")


async def test_direct_message_flow(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="trusted_private_chat", is_direct=True, invite=[bob.user_id])
    # bob's pending invites, as the server keeps them (what /sync will serve as invite state).
    invites = await hs.app[ROOMS].rooms_for_user(UserID(str(bob.user_id)), ["invite"])
    assert [m.room_id for m in invites] == [room]
    stored = await hs.app[EVENTS].get_event(invites[0].event_id)
    assert stored is not None and stored.content["is_direct"] is True and stored.sender == alice.user_id
    # bob may read his own invite event, and only that, before joining.
    invite = await bob.get(f"/rooms/{room}/event/{invites[0].event_id}")
    assert invite["content"]["is_direct"] is True
    assert invite["content"]["membership"] == "invite"
    await bob.get(f"/rooms/{room}/messages", params={"dir": "b"}, expect=403)
    await bob.post(f"/rooms/{room}/join")
    await send_text(alice, room, "hi bob")
    hello = await send_text(bob, room, "hi alice")
    page = await messages(alice, room, limit=2)
    assert [e["content"]["body"] for e in page["chunk"]] == ["hi alice", "hi bob"]
    assert page["chunk"][0]["event_id"] == hello
    joined = (await alice.get(f"/rooms/{room}/joined_members"))["joined"]
    assert set(joined) == {alice.user_id, bob.user_id}
