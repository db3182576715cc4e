"""Room summaries: GET /_matrix/client/v1/room_summary/{roomIdOrAlias}, with and without an
access token, by room ID and by alias, and the rooms it must not describe."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.clientapi.test_sync_queries import statements
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

MEGOLM = "m.megolm.v1.aes-sha2"


def summary_path(room: str) -> str:
    return f"/_matrix/client/v1/room_summary/{quote(room, safe='')}"


async def summary(client: MatrixClient, room: str, *, expect: int = 200, **params: Any) -> Any:
    return await client.get(summary_path(room), params=params or None, expect=expect)


async def new_room(client: MatrixClient, **body: Any) -> str:
    room_id = (await client.post("/createRoom", body))["room_id"]
    assert isinstance(room_id, str)
    return room_id


async def set_state(client: MatrixClient, room: str, event_type: str, content: dict[str, Any]) -> None:
    await client.put(f"/rooms/{room}/state/{event_type}", content)


async def test_public_room_summary_for_a_non_member(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    alias = f"#cheese:{hs.config.server_name}"
    room = await new_room(alice, preset="public_chat", name="CHEESE", topic="Tasty", room_alias_name="cheese")

    body = await summary(bob, room)

    assert body == {
        "room_id": room,
        "name": "CHEESE",
        "topic": "Tasty",
        "canonical_alias": alias,
        "num_joined_members": 1,
        "world_readable": False,
        "guest_can_join": False,
        "join_rule": "public",
        "room_version": hs.config.default_room_version,
        "membership": "leave",
    }
    assert await summary(bob, alias) == body  # by alias: the same room
    assert await summary(bob, room, via=["example.org", "other.example:8448"]) == body


async def test_member_sees_membership_encryption_and_room_type(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    encrypted = await new_room(
        alice,
        preset="private_chat",
        initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}],
    )
    space = await new_room(alice, preset="private_chat", creation_content={"type": "m.space"})

    body = await summary(alice, encrypted)
    assert body["membership"] == "join"
    assert body["encryption"] == MEGOLM
    assert body["join_rule"] == "invite"
    assert "room_type" not in body
    space_body = await summary(alice, space)
    assert space_body["room_type"] == "m.space"
    assert "encryption" not in space_body


async def test_anonymous_caller_sees_only_open_or_world_readable_rooms(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    anon = hs.client()
    public = await new_room(alice, preset="public_chat", name="Open")
    private = await new_room(alice, preset="private_chat")
    readable = await new_room(alice, preset="private_chat")
    await set_state(alice, readable, "m.room.history_visibility", {"history_visibility": "world_readable"})
    knockable = await new_room(alice, preset="private_chat")
    await set_state(alice, knockable, "m.room.join_rules", {"join_rule": "knock"})

    open_body = await summary(anon, public)
    assert open_body["name"] == "Open"
    assert "membership" not in open_body  # absent when called unauthenticated
    assert (await summary(anon, readable))["world_readable"] is True
    assert (await summary(anon, knockable))["join_rule"] == "knock"
    assert_error(await summary(anon, private, expect=404), "M_NOT_FOUND")


async def test_private_room_hidden_from_outsiders_shown_to_invitees(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await new_room(alice, preset="private_chat", name="Secret")

    # Not visible is the answer for a room that does not exist: nothing tells them apart.
    hidden = await summary(bob, room, expect=404)
    assert_error(hidden, "M_NOT_FOUND")
    assert "Secret" not in str(hidden)

    await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id})
    invited = await summary(bob, room)
    assert invited["membership"] == "invite" and invited["name"] == "Secret"
    await bob.post(f"/rooms/{room}/join")
    assert (await summary(bob, room))["membership"] == "join"
    assert_error(await summary(carol, room, expect=404), "M_NOT_FOUND")


async def test_knocking_user_still_sees_the_room_after_the_rule_changes(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="private_chat")
    await set_state(alice, room, "m.room.join_rules", {"join_rule": "knock"})
    await bob.post(f"/knock/{room}", {})
    await set_state(alice, room, "m.room.join_rules", {"join_rule": "invite"})

    body = await summary(bob, room)
    assert body["membership"] == "knock" and body["join_rule"] == "invite"
    assert_error(await summary(hs.client(), room, expect=404), "M_NOT_FOUND")


async def test_restricted_room_lists_allowed_rooms_to_members_of_them(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    club = await new_room(alice, preset="public_chat")
    restricted = await new_room(alice, preset="private_chat")
    allow = [{"type": "m.room_membership", "room_id": club}]
    await set_state(alice, restricted, "m.room.join_rules", {"join_rule": "restricted", "allow": allow})
    await bob.post(f"/rooms/{club}/join")

    body = await summary(bob, restricted)
    assert body["join_rule"] == "restricted"
    assert body["allowed_room_ids"] == [club]
    assert body["membership"] == "leave"
    assert_error(await summary(carol, restricted, expect=404), "M_NOT_FOUND")
    assert_error(await summary(hs.client(), restricted, expect=404), "M_NOT_FOUND")


async def test_banned_user_sees_a_public_room_as_anyone_but_not_a_private_one(
    hs: HomeserverUnderTest,
) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    public = await new_room(alice, preset="public_chat")
    private = await new_room(alice, preset="private_chat")
    for room in (public, private):
        await alice.post(f"/rooms/{room}/ban", {"user_id": bob.user_id})
    assert (await summary(bob, public))["membership"] == "ban"
    assert_error(await summary(bob, private, expect=404), "M_NOT_FOUND")


async def test_unknown_rooms_and_aliases_are_not_found(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    for room in ("!nope:localhost", "!nohash", f"#nope:{hs.config.server_name}", "#nope:elsewhere.example"):
        assert_error(await summary(alice, room, expect=404), "M_NOT_FOUND")
        assert_error(await summary(hs.client(), room, expect=404), "M_NOT_FOUND")


async def test_bad_input(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice, preset="public_chat")
    for bad in ("nothing", "@alice:localhost", "#no-server", "#bad:server:port:x", "!a\x00b", "#a:b\x00"):
        assert_error(await summary(alice, bad, expect=400), "M_INVALID_PARAM")
    for via in (["not a server"], [""], ["ok.example"] * 101):
        assert_error(await summary(alice, room, via=via, expect=400), "M_INVALID_PARAM")


async def test_bad_tokens_are_refused_even_though_auth_is_optional(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice, preset="public_chat")
    assert_error(await summary(hs.client("bad"), room, expect=401), "M_UNKNOWN_TOKEN")
    in_query = await summary(hs.client(), room, access_token=alice.access_token, expect=401)
    assert_error(in_query, "M_MISSING_TOKEN")


async def test_summary_reads_a_fixed_number_of_queries(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    clubs = [await new_room(alice, preset="public_chat") for _ in range(5)]
    restricted = await new_room(alice, preset="private_chat")
    allow = [{"type": "m.room_membership", "room_id": club} for club in clubs]
    await set_state(alice, restricted, "m.room.join_rules", {"join_rule": "restricted", "allow": allow})
    bob = await hs.register("bob")
    await bob.post(f"/rooms/{clubs[-1]}/join")
    await summary(bob, restricted)  # warm the token cache

    with statements(hs) as seen:
        body = await summary(bob, restricted)
    assert set(body["allowed_room_ids"]) == set(clubs)
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 4, selects  # version, state, counts, memberships: never one per room
