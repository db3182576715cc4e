"""Membership: join, invite, leave, forget, kick, ban, unban, knock, restricted joins."""

from __future__ import annotations

import pytest

from tests.clientapi.room_helpers import create_room, send_text, state_content
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


async def membership(client: MatrixClient, room: str, user_id: str | None) -> str:
    return str((await state_content(client, room, "m.room.member", str(user_id)))["membership"])


async def joined_rooms(client: MatrixClient) -> list[str]:
    return list((await client.get("/joined_rooms"))["joined_rooms"])


async def test_join_public_room_by_id_alias_and_both_endpoints(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(alice, preset="public_chat", room_alias_name="lobby")
    assert (await bob.post(f"/rooms/{room}/join"))["room_id"] == room
    assert (await carol.post(f"/join/%23lobby:{hs.config.server_name}"))["room_id"] == room
    assert await joined_rooms(bob) == [room]
    assert await membership(alice, room, carol.user_id) == "join"
    # Joining again changes nothing.
    before = await alice.get(f"/rooms/{room}/state/m.room.member/{bob.user_id}", params={"format": "event"})
    await bob.post(f"/join/{room}")
    after = await alice.get(f"/rooms/{room}/state/m.room.member/{bob.user_id}", params={"format": "event"})
    assert before["event_id"] == after["event_id"]


async def test_join_carries_profile_and_reason(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/rooms/{room}/join", {"reason": "hello"})
    member = await state_content(alice, room, "m.room.member", str(bob.user_id))
    assert member["membership"] == "join"
    assert member["reason"] == "hello"
    assert member["displayname"] == "bob"


async def test_join_invite_only_is_forbidden(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice)
    err = await bob.post(f"/rooms/{room}/join", expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await bob.post(f"/join/{room}", expect=403)
    assert_error(err, "M_FORBIDDEN")
    assert await joined_rooms(bob) == []


async def test_join_unknown_room_or_alias(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    err = await bob.post(f"/join/!nowhere:{hs.config.server_name}", expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await bob.post(f"/join/%23nowhere:{hs.config.server_name}", expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await bob.post("/join/not-a-room", expect=400)
    assert_error(err, "M_INVALID_PARAM")
    err = await bob.post(f"/rooms/{'x'}/join", expect=400)
    assert_error(err, "M_INVALID_PARAM")


async def test_invite_then_join(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice)
    await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id, "reason": "come"})
    invite = await state_content(alice, room, "m.room.member", str(bob.user_id))
    assert invite["membership"] == "invite" and invite["reason"] == "come"
    await bob.post(f"/rooms/{room}/join")
    assert await membership(alice, room, bob.user_id) == "join"
    assert await joined_rooms(bob) == [room]


async def test_invite_errors(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(alice, preset="public_chat")
    # Not in the room.
    err = await bob.post(f"/rooms/{room}/invite", {"user_id": carol.user_id}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    await bob.post(f"/join/{room}")
    # Already joined.
    err = await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    # Bad bodies.
    err = await alice.post(f"/rooms/{room}/invite", {"user_id": "carol"}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    err = await alice.post(f"/rooms/{room}/invite", {"user_id": 5}, expect=400)
    assert err["errcode"] in ("M_INVALID_PARAM", "M_BAD_JSON")
    err = await alice.post(f"/rooms/{room}/invite", {}, expect=400)
    assert_error(err, "M_MISSING_PARAM")
    err = await alice.post(f"/rooms/{room}/invite", data=b"[", expect=400)
    assert_error(err, "M_NOT_JSON")
    err = await alice.post(
        f"/rooms/!unknown:{hs.config.server_name}/invite", {"user_id": carol.user_id}, expect=404
    )
    assert_error(err, "M_NOT_FOUND")


async def test_reject_invite_by_leaving(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, invite=[bob.user_id])
    await bob.post(f"/rooms/{room}/leave")
    assert await membership(alice, room, bob.user_id) == "leave"
    err = await bob.post(f"/rooms/{room}/join", expect=403)
    assert_error(err, "M_FORBIDDEN")


async def test_leave(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await bob.post(f"/rooms/{room}/leave", {"reason": "bye"})
    member = await state_content(alice, room, "m.room.member", str(bob.user_id))
    assert member == {"membership": "leave", "reason": "bye"}
    assert await joined_rooms(bob) == []
    err = await send_text(bob, room, "still here?", expect=403)
    assert_error(err, "M_FORBIDDEN")
    carol = await hs.register("carol")
    err = await carol.post(f"/rooms/{room}/leave", expect=403)  # never was in it
    assert_error(err, "M_FORBIDDEN")


async def test_forget(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await send_text(alice, room, "history")
    err = await bob.post(f"/rooms/{room}/forget", expect=400)  # still joined
    assert_error(err, "M_UNKNOWN")
    await bob.post(f"/rooms/{room}/leave")
    await bob.get(f"/rooms/{room}/messages", params={"dir": "b"})  # history is readable until forgotten
    await bob.post(f"/rooms/{room}/forget")
    err = await bob.get(f"/rooms/{room}/messages", params={"dir": "b"}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    await bob.get(f"/rooms/{room}/state", expect=403)
    # Joining again makes the room remembered again.
    await bob.post(f"/join/{room}")
    await bob.get(f"/rooms/{room}/messages", params={"dir": "b"})
    carol = await hs.register("carol")
    err = await carol.post(f"/rooms/{room}/forget", expect=404)
    assert_error(err, "M_NOT_FOUND")


async def test_invited_user_cannot_forget(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, invite=[bob.user_id])
    err = await bob.post(f"/rooms/{room}/forget", expect=400)
    assert_error(err, "M_UNKNOWN")


async def test_kick_needs_power(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await carol.post(f"/join/{room}")
    err = await bob.post(f"/rooms/{room}/kick", {"user_id": carol.user_id}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    assert await membership(alice, room, carol.user_id) == "join"
    err = await bob.post(f"/rooms/{room}/kick", {"user_id": alice.user_id}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    await alice.post(f"/rooms/{room}/kick", {"user_id": carol.user_id, "reason": "spam"})
    kicked = await state_content(alice, room, "m.room.member", str(carol.user_id))
    assert kicked == {"membership": "leave", "reason": "spam"}
    assert await joined_rooms(carol) == []
    await carol.post(f"/join/{room}")  # a kick is not a ban


async def test_kick_errors(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    err = await alice.post(f"/rooms/{room}/kick", {"user_id": bob.user_id}, expect=403)  # not in the room
    assert_error(err, "M_FORBIDDEN")
    err = await alice.post(f"/rooms/{room}/kick", {}, expect=400)
    assert_error(err, "M_MISSING_PARAM")
    err = await alice.post(f"/rooms/{room}/kick", {"user_id": "bob"}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    err = await alice.post(f"/rooms/{room}/kick", {"user_id": bob.user_id, "reason": 5}, expect=400)
    assert err["errcode"] in ("M_INVALID_PARAM", "M_BAD_JSON")


async def test_ban_and_unban(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await carol.post(f"/join/{room}")
    err = await carol.post(f"/rooms/{room}/ban", {"user_id": bob.user_id}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    await alice.post(f"/rooms/{room}/ban", {"user_id": bob.user_id, "reason": "rude"})
    assert await state_content(alice, room, "m.room.member", str(bob.user_id)) == {
        "membership": "ban",
        "reason": "rude",
    }
    err = await bob.post(f"/join/{room}", expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await carol.post(f"/rooms/{room}/unban", {"user_id": bob.user_id}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    await alice.post(f"/rooms/{room}/unban", {"user_id": bob.user_id})
    assert await membership(alice, room, bob.user_id) == "leave"
    await bob.post(f"/join/{room}")
    err = await alice.post(f"/rooms/{room}/unban", {"user_id": carol.user_id}, expect=403)  # not banned
    assert_error(err, "M_FORBIDDEN")


async def test_ban_someone_who_never_joined(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await alice.post(f"/rooms/{room}/ban", {"user_id": bob.user_id})
    err = await bob.post(f"/join/{room}", expect=403)
    assert_error(err, "M_FORBIDDEN")


def knock_room_state(rule: str, allow: list[str] | None = None) -> list[dict[str, object]]:
    content: dict[str, object] = {"join_rule": rule}
    if allow is not None:
        content["allow"] = [{"type": "m.room_membership", "room_id": r} for r in allow]
    return [{"type": "m.room.join_rules", "state_key": "", "content": content}]


async def test_knock_then_invite_then_join(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, initial_state=knock_room_state("knock"), room_alias_name="door")
    result = await bob.post(f"/knock/%23door:{hs.config.server_name}", {"reason": "let me in"})
    assert result == {"room_id": room}
    knock = await state_content(alice, room, "m.room.member", str(bob.user_id))
    assert knock["membership"] == "knock" and knock["reason"] == "let me in"
    assert await joined_rooms(bob) == []
    await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id})
    await bob.post(f"/rooms/{room}/join")
    assert await joined_rooms(bob) == [room]


async def test_knock_can_be_rescinded_or_refused(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(alice, initial_state=knock_room_state("knock"))
    await bob.post(f"/knock/{room}")
    await bob.post(f"/rooms/{room}/leave")  # rescinded
    assert await membership(alice, room, bob.user_id) == "leave"
    await carol.post(f"/knock/{room}")
    await alice.post(f"/rooms/{room}/kick", {"user_id": carol.user_id})  # refused
    assert await membership(alice, room, carol.user_id) == "leave"


async def test_knock_refused_where_join_rules_do_not_allow_it(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    invite_only = await create_room(alice)
    err = await bob.post(f"/knock/{invite_only}", expect=403)
    assert_error(err, "M_FORBIDDEN")
    public = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{public}")
    err = await bob.post(f"/knock/{public}", expect=403)  # already joined
    assert_error(err, "M_FORBIDDEN")
    err = await bob.post(f"/knock/!unknown:{hs.config.server_name}", expect=404)
    assert_error(err, "M_NOT_FOUND")


@pytest.mark.parametrize("version", ["10", "12"])
async def test_restricted_join(hs: HomeserverUnderTest, version: str) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    space = await create_room(alice, invite=[bob.user_id])
    await bob.post(f"/rooms/{space}/join")
    room = await create_room(
        alice, room_version=version, initial_state=knock_room_state("restricted", [space])
    )
    await bob.post(f"/rooms/{room}/join")
    joined = await state_content(alice, room, "m.room.member", str(bob.user_id))
    assert joined["membership"] == "join"
    assert joined["join_authorised_via_users_server"] == alice.user_id
    err = await carol.post(f"/rooms/{room}/join", expect=403)
    assert_error(err, "M_FORBIDDEN")
    # An invite lets carol in without meeting the condition.
    await alice.post(f"/rooms/{room}/invite", {"user_id": carol.user_id})
    await carol.post(f"/rooms/{room}/join")
    assert "join_authorised_via_users_server" not in await state_content(
        alice, room, "m.room.member", str(carol.user_id)
    )


async def test_restricted_join_needs_a_member_who_can_invite(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    space = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{space}")
    room = await create_room(
        alice,
        room_version="10",
        initial_state=knock_room_state("restricted", [space]),
        power_level_content_override={"invite": 100},
    )
    await alice.post(f"/rooms/{room}/leave")  # the only member able to invite is gone
    err = await bob.post(f"/rooms/{room}/join", expect=403)
    assert_error(err, "M_FORBIDDEN")


async def test_knock_restricted(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    space = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{space}")
    room = await create_room(alice, initial_state=knock_room_state("knock_restricted", [space]))
    await bob.post(f"/rooms/{room}/join")  # meets the condition
    err = await carol.post(f"/rooms/{room}/join", expect=403)
    assert_error(err, "M_FORBIDDEN")
    await carol.post(f"/knock/{room}")  # but may knock
    assert await membership(alice, room, carol.user_id) == "knock"


async def test_membership_needs_auth(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice, preset="public_chat")
    anon = hs.client()
    for path in (f"/rooms/{room}/join", f"/join/{room}", f"/rooms/{room}/leave", f"/knock/{room}"):
        err = await anon.post(path, expect=401)
        assert_error(err, "M_MISSING_TOKEN")
