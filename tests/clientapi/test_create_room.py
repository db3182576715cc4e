"""POST /createRoom: presets, options, room versions and bad input (spec: "Creation")."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from homeserver.appkeys import DATABASE, ROOMS
from homeserver.storage.tables import rooms
from tests.clientapi.room_helpers import create_room, event_count, state_content, state_map
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest


async def room_count(hs: HomeserverUnderTest) -> int:
    return int(await hs.app[DATABASE].fetch_value(select(func.count()).select_from(rooms)))


async def test_default_is_private_chat_in_room_version_12(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    state = await state_map(alice, room)
    create = state[("m.room.create", "")]
    assert create["content"]["room_version"] == "12"
    assert create["sender"] == alice.user_id
    assert "creator" not in create["content"]  # v11+: the sender is the creator
    assert room == "!" + create["event_id"][1:]  # v12: the room ID is the create event's hash
    assert state[("m.room.join_rules", "")]["content"] == {"join_rule": "invite"}
    assert state[("m.room.history_visibility", "")]["content"] == {"history_visibility": "shared"}
    assert state[("m.room.guest_access", "")]["content"] == {"guest_access": "can_join"}
    assert state[("m.room.member", str(alice.user_id))]["content"]["membership"] == "join"
    power = state[("m.room.power_levels", "")]["content"]
    assert power["users"] == {}  # v12: creators have infinite power and are never listed
    assert power["invite"] == 0
    assert power["state_default"] == 50
    assert power["events"]["m.room.tombstone"] > power["state_default"]
    assert not await hs.app[ROOMS].is_public(room)


async def test_events_come_in_the_spec_order(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(
        alice,
        room_alias_name="ordered",
        name="N",
        topic="T",
        invite=[bob.user_id],
        initial_state=[{"type": "org.example.custom", "content": {"x": 1}}],
    )
    page = await alice.get(f"/rooms/{room}/messages", params={"dir": "f", "limit": "50"})
    kinds = [(e["type"], e["content"].get("membership")) for e in page["chunk"]]
    assert kinds == [
        ("m.room.create", None),
        ("m.room.member", "join"),
        ("m.room.power_levels", None),
        ("m.room.canonical_alias", None),
        ("m.room.join_rules", None),
        ("m.room.history_visibility", None),
        ("m.room.guest_access", None),
        ("org.example.custom", None),
        ("m.room.name", None),
        ("m.room.topic", None),
        ("m.room.member", "invite"),
    ]


async def test_public_chat_preset(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice, preset="public_chat")
    state = await state_map(alice, room)
    assert state[("m.room.join_rules", "")]["content"] == {"join_rule": "public"}
    assert state[("m.room.history_visibility", "")]["content"] == {"history_visibility": "shared"}
    guest = state.get(("m.room.guest_access", ""))
    assert guest is None or guest["content"] == {"guest_access": "forbidden"}
    assert state[("m.room.power_levels", "")]["content"]["invite"] == 50
    assert not await hs.app[ROOMS].is_public(room)  # the preset does not publish the room


async def test_public_visibility_implies_public_chat_and_publishes(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice, visibility="public")
    assert (await state_content(alice, room, "m.room.join_rules"))["join_rule"] == "public"
    assert await hs.app[ROOMS].is_public(room)
    # An explicit preset wins over the visibility's implied one.
    private = await create_room(alice, visibility="public", preset="private_chat")
    assert (await state_content(alice, private, "m.room.join_rules"))["join_rule"] == "invite"
    assert await hs.app[ROOMS].is_public(private)


async def test_trusted_private_chat_v12_invitees_become_additional_creators(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(
        alice,
        preset="trusted_private_chat",
        invite=[bob.user_id],
        creation_content={"additional_creators": [carol.user_id]},
    )
    state = await state_map(alice, room)
    create = state[("m.room.create", "")]["content"]
    assert sorted(create["additional_creators"]) == sorted([str(bob.user_id), str(carol.user_id)])
    assert state[("m.room.power_levels", "")]["content"]["users"] == {}
    assert state[("m.room.join_rules", "")]["content"] == {"join_rule": "invite"}
    assert state[("m.room.guest_access", "")]["content"] == {"guest_access": "can_join"}
    # bob, a creator, has the creator's power: he may change the power levels once joined.
    await bob.post(f"/rooms/{room}/join")
    await bob.put(f"/rooms/{room}/state/m.room.power_levels", {"users": {}, "events_default": 5})
    await carol.post(f"/rooms/{room}/join", expect=403)  # invite-only: creators do not bypass that


async def test_trusted_private_chat_v10_gives_invitees_the_creators_level(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="trusted_private_chat", invite=[bob.user_id], room_version="10")
    state = await state_map(alice, room)
    assert state[("m.room.create", "")]["content"]["creator"] == alice.user_id
    assert "additional_creators" not in state[("m.room.create", "")]["content"]
    power = state[("m.room.power_levels", "")]["content"]
    assert power["users"] == {alice.user_id: 100, bob.user_id: 100}
    assert power["events"]["m.room.tombstone"] == 100


async def test_private_chat_power_levels_and_invites(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(alice, preset="private_chat", invite=[bob.user_id])
    await bob.post(f"/rooms/{room}/join")
    # invite is 0 in private rooms: any member may invite.
    await bob.post(f"/rooms/{room}/invite", {"user_id": carol.user_id})
    public = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{public}")
    err = await bob.post(f"/rooms/{public}/invite", {"user_id": carol.user_id}, expect=403)
    assert_error(err, "M_FORBIDDEN")


async def test_room_alias_name_creates_the_alias(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat", room_alias_name="pub")
    alias = f"#pub:{hs.config.server_name}"
    assert await hs.app[ROOMS].resolve_alias(alias) == room
    assert (await state_content(alice, room, "m.room.canonical_alias")) == {"alias": alias}
    assert (await bob.post(f"/join/{alias.replace('#', '%23')}"))["room_id"] == room


async def test_taken_alias_is_room_in_use_and_creates_nothing(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await create_room(alice, room_alias_name="taken")
    rooms_before, events_before = await room_count(hs), await event_count(hs)
    err = await alice.post("/createRoom", {"room_alias_name": "taken"}, expect=400)
    assert_error(err, "M_ROOM_IN_USE")
    assert (await room_count(hs), await event_count(hs)) == (rooms_before, events_before)


@pytest.mark.parametrize("name", ["has:colon", "has space", "tab\t", ""])
async def test_invalid_alias_name(hs: HomeserverUnderTest, name: str) -> None:
    alice = await hs.register("alice")
    err = await alice.post("/createRoom", {"room_alias_name": name}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    assert await room_count(hs) == 0


async def test_name_and_topic(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice, name="The Pub", topic="Happy hour")
    assert await state_content(alice, room, "m.room.name") == {"name": "The Pub"}
    topic = await state_content(alice, room, "m.room.topic")
    assert topic["topic"] == "Happy hour"
    assert topic["m.topic"] == {"m.text": [{"body": "Happy hour", "mimetype": "text/plain"}]}


async def test_invite_with_is_direct(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, invite=[bob.user_id], is_direct=True, preset="trusted_private_chat")
    member = await state_content(alice, room, "m.room.member", bob.user_id)
    assert member["membership"] == "invite"
    assert member["is_direct"] is True
    plain = await create_room(alice, invite=[bob.user_id])
    assert "is_direct" not in await state_content(alice, plain, "m.room.member", bob.user_id)


async def test_initial_state_overrides_the_preset(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(
        alice,
        preset="private_chat",
        name="wins",
        initial_state=[
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}},
            {"type": "m.room.history_visibility", "content": {"history_visibility": "world_readable"}},
            {"type": "m.room.name", "content": {"name": "loses"}},
            {"type": "org.example.keyed", "state_key": "k", "content": {"v": 1}},
        ],
    )
    assert (await state_content(alice, room, "m.room.join_rules"))["join_rule"] == "public"
    visibility = await state_content(alice, room, "m.room.history_visibility")
    assert visibility["history_visibility"] == "world_readable"
    assert await state_content(alice, room, "m.room.name") == {"name": "wins"}
    assert await state_content(alice, room, "org.example.keyed", "k") == {"v": 1}
    # The preset's own join rules and history visibility are not sent at all.
    page = await alice.get(f"/rooms/{room}/messages", params={"dir": "f", "limit": "50"})
    types = [e["type"] for e in page["chunk"]]
    assert types.count("m.room.join_rules") == 1
    assert types.count("m.room.history_visibility") == 1


async def test_initial_state_power_levels_replace_the_default(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    power = {"users": {}, "events_default": 10, "state_default": 20}
    room = await create_room(
        alice, initial_state=[{"type": "m.room.power_levels", "state_key": "", "content": power}]
    )
    assert await state_content(alice, room, "m.room.power_levels") == power


async def test_power_level_content_override(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(
        alice,
        invite=[bob.user_id],
        power_level_content_override={"events_default": 50, "users": {bob.user_id: 50}, "redact": 0},
    )
    power = await state_content(alice, room, "m.room.power_levels")
    assert power["events_default"] == 50
    assert power["users"] == {bob.user_id: 50}  # top-level keys replace, not merge
    assert power["redact"] == 0
    assert power["ban"] == 50  # untouched defaults stay


async def test_creation_content(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(
        alice,
        creation_content={"m.federate": False, "type": "m.space", "room_version": "1", "creator": "@x:y"},
    )
    content = (await state_map(alice, room))[("m.room.create", "")]["content"]
    assert content["m.federate"] is False
    assert content["type"] == "m.space"
    assert content["room_version"] == "12"  # the server's keys win
    assert content.get("creator", alice.user_id) == alice.user_id


@pytest.mark.parametrize("version", ["10", "11", "12"])
async def test_supported_room_versions(hs: HomeserverUnderTest, version: str) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, room_version=version, preset="public_chat")
    create = (await state_map(alice, room))[("m.room.create", "")]["content"]
    assert create["room_version"] == version
    await bob.post(f"/join/{room}")
    await alice.put(f"/rooms/{room}/send/m.room.message/1", {"msgtype": "m.text", "body": "v" + version})


@pytest.mark.parametrize("version", ["1", "999", "", "12 "])
async def test_unsupported_room_version(hs: HomeserverUnderTest, version: str) -> None:
    alice = await hs.register("alice")
    err = await alice.post("/createRoom", {"room_version": version}, expect=400)
    assert_error(err, "M_UNSUPPORTED_ROOM_VERSION")
    assert await room_count(hs) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"room_version": 12},
        {"name": 5},
        {"topic": ["x"]},
        {"preset": "party_chat"},
        {"preset": 1},
        {"visibility": "secret"},
        {"invite": "@bob:localhost"},
        {"invite": [5]},
        {"is_direct": "yes"},
        {"initial_state": {"type": "m.room.name"}},
        {"initial_state": ["m.room.name"]},
        {"initial_state": [{"type": "m.room.name"}]},
        {"initial_state": [{"type": "m.room.name", "content": "x"}]},
        {"initial_state": [{"type": 5, "content": {}}]},
        {"initial_state": [{"type": "m.room.name", "state_key": 1, "content": {}}]},
        {"initial_state": [{"type": "m.room.create", "content": {}}]},
        {"initial_state": [{"type": "m.room.member", "state_key": "@a:b", "content": {}}]},
        {"power_level_content_override": []},
        {"power_level_content_override": {"users": {"@a:localhost": "high"}}},
        {"power_level_content_override": {"ban": "50"}},
        {"creation_content": "x"},
        {"creation_content": {"additional_creators": "@bob:localhost"}},
        {"room_alias_name": 5},
    ],
)
async def test_bad_input_is_bad_json_and_creates_nothing(
    hs: HomeserverUnderTest, body: dict[str, Any]
) -> None:
    alice = await hs.register("alice")
    err = await alice.post("/createRoom", body, expect=400)
    assert_error(err, "M_BAD_JSON")
    assert await room_count(hs) == 0


@pytest.mark.parametrize("invite", [["not-a-user"], ["@"], ["@bob"]])
async def test_invalid_invitee_is_invalid_param(hs: HomeserverUnderTest, invite: list[str]) -> None:
    alice = await hs.register("alice")
    err = await alice.post("/createRoom", {"invite": invite}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    assert await room_count(hs) == 0


async def test_not_json_and_not_an_object(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    err = await alice.post(
        "/createRoom", data=b"{not json", headers={"Content-Type": "application/json"}, expect=400
    )
    assert_error(err, "M_NOT_JSON")
    err = await alice.post("/createRoom", [], expect=400)
    assert_error(err, "M_BAD_JSON")
    assert await room_count(hs) == 0


async def test_invalid_room_state_creates_nothing(hs: HomeserverUnderTest) -> None:
    """State the creator may not send (here: v12 power levels naming the creator) is refused
    as a whole, without leaving half a room behind."""
    alice = await hs.register("alice")
    creator_listed: dict[str, Any] = {"power_level_content_override": {"users": {alice.user_id: 100}}}
    err = await alice.post("/createRoom", creator_listed, expect=400)
    assert_error(err, "M_INVALID_ROOM_STATE")
    # v10: the creator gives herself too little power to name the room.
    weak: dict[str, Any] = {"users": {alice.user_id: 10}}
    too_weak: dict[str, Any] = {"room_version": "10", "power_level_content_override": weak, "name": "x"}
    err = await alice.post("/createRoom", too_weak, expect=400)
    assert_error(err, "M_INVALID_ROOM_STATE")
    assert (await room_count(hs), await event_count(hs)) == (0, 0)
    assert (await alice.get("/joined_rooms"))["joined_rooms"] == []


async def test_inviting_yourself_is_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    err = await alice.post("/createRoom", {"invite": [alice.user_id]}, expect=400)
    assert err["errcode"] in ("M_INVALID_PARAM", "M_BAD_JSON")
    assert await room_count(hs) == 0


async def test_needs_authentication(hs: HomeserverUnderTest) -> None:
    err = await hs.client().post("/createRoom", {}, expect=401)
    assert_error(err, "M_MISSING_TOKEN")


async def test_rooms_are_created_in_the_configured_default_version(hs: HomeserverUnderTest) -> None:
    other = HomeserverUnderTest(hs.with_config(default_room_version="10"))
    await other.start()
    try:
        alice = await other.register("alice")
        room = (await alice.post("/createRoom", {}))["room_id"]
        create = await alice.get(f"/rooms/{room}/state/m.room.create/")
        assert create["room_version"] == "10"
        assert room.endswith(":localhost")  # a v10 room ID names its server
        capabilities = (await alice.get("/capabilities"))["capabilities"]
        assert capabilities["m.room_versions"]["default"] == "10"
    finally:
        await other.stop()
