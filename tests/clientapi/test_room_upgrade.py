"""POST /rooms/{roomId}/upgrade (spec: "Room Upgrades"): the replacement room and what it
carries over, the tombstone and the quietened old room, aliases and the directory, room
version 12's creators, repeats, and bad requests that change nothing."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import pytest
from nio import AsyncClient, RoomUpgradeEvent, SyncResponse
from sqlalchemy import func, select

from homeserver.appkeys import DATABASE
from homeserver.storage.tables import rooms
from tests.clientapi.room_helpers import create_room, event_count, send_text, state_map
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient
from tests.interop.nio_helpers import registered

TOMBSTONE_BODY = "This room has been replaced"


async def upgrade(client: MatrixClient, room: str, version: str = "12", **extra: Any) -> str:
    result = await client.post(f"/rooms/{room}/upgrade", {"new_version": version, **extra})
    assert set(result) == {"replacement_room"}, result
    new_room = result["replacement_room"]
    assert isinstance(new_room, str) and new_room.startswith("!") and new_room != room
    return new_room


async def room_count(hs: HomeserverUnderTest) -> int:
    return int(await hs.app[DATABASE].fetch_value(select(func.count()).select_from(rooms)))


def contents(state: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {key: event["content"] for key, event in state.items()}


def alias_of(hs: HomeserverUnderTest, name: str) -> str:
    return f"#{name}:{hs.config.server_name}"


async def resolve(client: MatrixClient, alias: str) -> str:
    room_id = (await client.get(f"/directory/room/{quote(alias, safe='')}"))["room_id"]
    assert isinstance(room_id, str)
    return room_id


async def visibility(client: MatrixClient, room: str) -> str:
    value = (await client.get(f"/directory/list/room/{room}"))["visibility"]
    assert isinstance(value, str)
    return value


async def set_power(client: MatrixClient, room: str, **changes: Any) -> None:
    """Change the room's power levels; `users` and `events` entries are added to the current."""
    levels = await client.get(f"/rooms/{room}/state/m.room.power_levels")
    for section in ("users", "events"):
        changes[section] = {**levels.get(section, {}), **changes.get(section, {})}
    await client.put(f"/rooms/{room}/state/m.room.power_levels", {**levels, **changes})


# The replacement room and what it carries over


async def test_upgrade_carries_state_bans_aliases_and_directory(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    transferred = [
        {"type": "m.room.avatar", "content": {"url": "mxc://localhost/avatar"}},
        {"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
        {"type": "m.room.server_acl", "content": {"allow": ["*"], "deny": ["bad.example"]}},
        {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}},
        {"type": "m.room.history_visibility", "content": {"history_visibility": "joined"}},
        {"type": "org.example.custom", "content": {"not": "copied"}},
    ]
    old = await create_room(
        alice,
        room_version="10",
        visibility="public",
        name="Chat",
        topic="About chat",
        room_alias_name="chat",
        initial_state=transferred,
    )
    await bob.post(f"/join/{old}")
    await carol.post(f"/join/{old}")
    await set_power(alice, old, users={"@dave:elsewhere.example": 50})
    await alice.post(f"/rooms/{old}/ban", {"user_id": carol.user_id, "reason": "spam"})
    last = await send_text(alice, old, "see you in the new room")
    before = contents(await state_map(alice, old))

    new = await upgrade(alice, old, "11")

    after = contents(await state_map(alice, new))
    create = (await state_map(alice, new))[("m.room.create", "")]
    assert create["sender"] == alice.user_id
    assert create["content"] == {"room_version": "11", "predecessor": {"room_id": old, "event_id": last}}
    for event_type in (
        "m.room.name",
        "m.room.topic",
        "m.room.avatar",
        "m.room.encryption",
        "m.room.server_acl",
        "m.room.guest_access",
        "m.room.history_visibility",
        "m.room.join_rules",
        "m.room.power_levels",
    ):
        assert after[(event_type, "")] == before[(event_type, "")], event_type
    assert ("org.example.custom", "") not in after
    assert after[("m.room.canonical_alias", "")] == {"alias": alias_of(hs, "chat")}
    members = {key[1]: content["membership"] for key, content in after.items() if key[0] == "m.room.member"}
    assert members == {alice.user_id: "join", carol.user_id: "ban"}
    assert after[("m.room.member", carol.user_id)]["reason"] == "spam"

    # The old room: tombstoned, quietened, its alias gone to the new room.
    old_state = contents(await state_map(alice, old))
    assert old_state[("m.room.tombstone", "")] == {"body": TOMBSTONE_BODY, "replacement_room": new}
    levels = old_state[("m.room.power_levels", "")]
    assert (levels["events_default"], levels["invite"]) == (50, 50)
    assert levels["users"] == before[("m.room.power_levels", "")]["users"]
    assert "alias" not in old_state[("m.room.canonical_alias", "")]
    err = await send_text(bob, old, "anyone here?", expect=403)
    assert_error(err, "M_FORBIDDEN")
    assert await resolve(bob, alias_of(hs, "chat")) == new
    assert (await visibility(bob, old), await visibility(bob, new)) == ("private", "public")
    listed = [room["room_id"] for room in (await bob.get("/publicRooms"))["chunk"]]
    assert listed == [new]

    # The old room's members follow; the banned one cannot.
    await bob.post(f"/join/{new}")
    assert (await alice.get(f"/rooms/{new}/joined_members"))["joined"].keys() == {alice.user_id, bob.user_id}
    err = await carol.post(f"/join/{new}", expect=403)
    assert_error(err, "M_FORBIDDEN")


async def test_levels_above_the_upgrader_are_carried_too(hs: HomeserverUnderTest) -> None:
    """The old room's levels may be above the upgrader's (here dave, at 200, set a topic only
    level 150 may change): the new room still gets its topic and exactly those levels, and
    the upgrader no more power than before."""
    alice, dave = await hs.register("alice"), await hs.register("dave")
    levels = {"users": {alice.user_id: 100, dave.user_id: 200}}
    old = await create_room(
        alice, room_version="10", preset="public_chat", power_level_content_override=levels
    )
    await dave.post(f"/join/{old}")
    await dave.put(f"/rooms/{old}/state/m.room.topic", {"topic": "High"})
    await set_power(dave, old, events={"m.room.topic": 150})
    before = contents(await state_map(alice, old))

    new = await upgrade(alice, old, "10")

    after = contents(await state_map(alice, new))
    assert after[("m.room.topic", "")] == before[("m.room.topic", "")]
    assert after[("m.room.power_levels", "")] == before[("m.room.power_levels", "")]
    err = await alice.put(f"/rooms/{new}/state/m.room.topic", {"topic": "mine"}, expect=403)
    assert_error(err, "M_FORBIDDEN")


async def test_string_levels_of_old_versions_become_integers(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    old = await create_room(
        alice, room_version="9", power_level_content_override={"ban": "60", "users": {alice.user_id: "100"}}
    )
    new = await upgrade(alice, old, "11")
    levels = await alice.get(f"/rooms/{new}/state/m.room.power_levels")
    assert (levels["ban"], levels["users"]) == (60, {alice.user_id: 100})


async def test_old_room_is_quietened_above_users_default(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    old = await create_room(alice, room_version="10", power_level_content_override={"users_default": 50})
    await upgrade(alice, old, "11")
    levels = await alice.get(f"/rooms/{old}/state/m.room.power_levels")
    assert (levels["events_default"], levels["invite"]) == (51, 51)


async def test_space_keeps_its_type_and_children(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    child, gone = await create_room(alice), await create_room(alice)
    links = [
        {"type": "m.space.child", "state_key": child, "content": {"via": ["localhost"]}},
        {"type": "m.space.child", "state_key": gone, "content": {}},  # a removed child
    ]
    space = await create_room(alice, creation_content={"type": "m.space"}, initial_state=links)

    new = await upgrade(alice, space)

    state = contents(await state_map(alice, new))
    assert state[("m.room.create", "")]["type"] == "m.space"
    assert state[("m.space.child", child)] == {"via": ["localhost"]}
    assert ("m.space.child", gone) not in state
    plain = await upgrade(alice, child)
    assert "type" not in contents(await state_map(alice, plain))[("m.room.create", "")]


async def test_non_federating_room_stays_so(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    old = await create_room(alice, creation_content={"m.federate": False})
    new = await upgrade(alice, old)
    create = await alice.get(f"/rooms/{new}/state/m.room.create")
    assert create["m.federate"] is False


async def test_members_tags_direct_chats_and_push_rules_follow(hs: HomeserverUnderTest) -> None:
    """The old room's local members find their own settings for it on the new room: tags,
    its place in m.direct, and the push rules naming it (here: muted)."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    old = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{old}")
    await bob.put(f"/user/{bob.user_id}/rooms/{old}/tags/u.work", {"order": 0.5})
    await bob.put(f"/user/{bob.user_id}/account_data/m.direct", {alice.user_id: [old]})
    await bob.put(f"/pushrules/global/room/{old}", {"actions": []})
    mute = {"conditions": [{"kind": "event_match", "key": "room_id", "pattern": old}], "actions": []}
    await bob.put(f"/pushrules/global/override/{old}", mute)
    await bob.put("/pushrules/global/override/other", mute)  # names the room, but not in its ID

    new = await upgrade(alice, old)

    await bob.post(f"/join/{new}")
    assert await bob.get(f"/user/{bob.user_id}/rooms/{new}/tags") == {"tags": {"u.work": {"order": 0.5}}}
    assert await bob.get(f"/user/{bob.user_id}/account_data/m.direct") == {alice.user_id: [old, new]}
    assert (await bob.get(f"/pushrules/global/room/{new}"))["actions"] == []
    override = await bob.get(f"/pushrules/global/override/{new}")
    assert override["conditions"] == [{"kind": "event_match", "key": "room_id", "pattern": new}]
    assert (await bob.get("/pushrules/global/override/other"))["conditions"] == mute["conditions"]
    assert (await bob.get(f"/pushrules/global/override/{old}"))["conditions"] == mute["conditions"]
    assert await alice.get(f"/user/{alice.user_id}/rooms/{new}/tags") == {"tags": {}}


# Room version 12


async def test_upgrade_to_v12_makes_the_upgrader_and_additional_creators_creators(
    hs: HomeserverUnderTest,
) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    dave = "@dave:elsewhere.example"
    old = await create_room(alice, room_version="11", preset="public_chat")
    await set_power(alice, old, users={bob.user_id: 50, dave: 100})

    new = await upgrade(alice, old, "12", additional_creators=[bob.user_id, alice.user_id, bob.user_id])

    state = await state_map(alice, new)
    create = state[("m.room.create", "")]
    assert new == "!" + create["event_id"][1:]  # v12: the room ID is the create event's hash
    assert create["content"]["additional_creators"] == [bob.user_id]
    assert create["content"]["predecessor"]["room_id"] == old
    assert "creator" not in create["content"]
    users = state[("m.room.power_levels", "")]["content"]["users"]
    assert users == {dave: 100}  # creators are never listed
    await bob.post(f"/join/{new}")
    # Power only a creator has here: bob is not listed, and power levels need 100.
    await bob.put(f"/rooms/{new}/state/m.room.power_levels", {"users": {dave: 100}, "state_default": 100})


async def test_additional_creators_are_not_carried_from_a_v12_room(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    old = await create_room(alice, preset="trusted_private_chat", invite=[bob.user_id])
    old_create = await alice.get(f"/rooms/{old}/state/m.room.create")
    assert old_create["additional_creators"] == [bob.user_id]

    new = await upgrade(alice, old)

    assert "additional_creators" not in await alice.get(f"/rooms/{new}/state/m.room.create")


async def test_additional_creators_are_ignored_below_v12(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    old = await create_room(alice, room_version="10")
    new = await upgrade(alice, old, "11", additional_creators="not a list")
    assert "additional_creators" not in await alice.get(f"/rooms/{new}/state/m.room.create")


async def test_downgrade_from_v12_keeps_the_creators_power(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    old = await create_room(alice)  # v12: alice's power is infinite, and unlisted
    new = await upgrade(alice, old, "11")
    levels = await alice.get(f"/rooms/{new}/state/m.room.power_levels")
    assert levels["users"] == {alice.user_id: 150}  # the highest level: v12's tombstone level
    await upgrade(alice, new, "12")  # and so she can upgrade it again


# Who may upgrade, and repeats


async def test_needs_the_tombstone_level(hs: HomeserverUnderTest) -> None:
    alice, bob, mod = await hs.register("alice"), await hs.register("bob"), await hs.register("mod")
    old = await create_room(alice, preset="public_chat")  # v12: tombstone level 150, above admins
    await bob.post(f"/join/{old}")
    await mod.post(f"/join/{old}")
    await set_power(alice, old, users={mod.user_id: 100})
    rooms_before, events_before = await room_count(hs), await event_count(hs)
    for user in (bob, mod):
        err = await user.post(f"/rooms/{old}/upgrade", {"new_version": "12"}, expect=403)
        assert_error(err, "M_FORBIDDEN")
    assert (await room_count(hs), await event_count(hs)) == (rooms_before, events_before)
    await set_power(alice, old, events={"m.room.tombstone": 100})
    assert await upgrade(mod, old)  # an admin, once the level allows


async def test_non_members_and_unknown_rooms(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    old = await create_room(alice, preset="public_chat")
    err = await bob.post(f"/rooms/{old}/upgrade", {"new_version": "12"}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    await bob.post(f"/join/{old}")
    await alice.put(f"/rooms/{old}/state/m.room.power_levels", {"users": {bob.user_id: 100}, "events": {}})
    await bob.post(f"/rooms/{old}/leave")
    err = await bob.post(f"/rooms/{old}/upgrade", {"new_version": "12"}, expect=403)  # left: no longer
    assert_error(err, "M_FORBIDDEN")
    err = await alice.post("/rooms/!nowhere:localhost/upgrade", {"new_version": "12"}, expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await alice.post("/rooms/nowhere/upgrade", {"new_version": "12"}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    assert await room_count(hs) == 1
    assert ("m.room.tombstone", "") not in await state_map(alice, old)


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        (b"{not json", "M_NOT_JSON"),
        ([], "M_BAD_JSON"),
        ({}, "M_MISSING_PARAM"),
        ({"new_version": None}, "M_MISSING_PARAM"),
        ({"new_version": 12}, "M_INVALID_PARAM"),
        ({"new_version": ["12"]}, "M_INVALID_PARAM"),
        ({"new_version": "999"}, "M_UNSUPPORTED_ROOM_VERSION"),
        ({"new_version": "5"}, "M_UNSUPPORTED_ROOM_VERSION"),  # known, but not for new rooms
        ({"new_version": ""}, "M_UNSUPPORTED_ROOM_VERSION"),
        ({"new_version": "12", "additional_creators": "@bob:localhost"}, "M_BAD_JSON"),
        ({"new_version": "12", "additional_creators": ["not a user"]}, "M_BAD_JSON"),
        ({"new_version": "12", "additional_creators": [5]}, "M_BAD_JSON"),
    ],
)
async def test_bad_requests_change_nothing(hs: HomeserverUnderTest, body: Any, errcode: str) -> None:
    alice = await hs.register("alice")
    old = await create_room(alice)
    events_before = await event_count(hs)
    if isinstance(body, bytes):
        headers = {"Content-Type": "application/json"}
        err = await alice.post(f"/rooms/{old}/upgrade", data=body, headers=headers, expect=400)
    else:
        err = await alice.post(f"/rooms/{old}/upgrade", body, expect=400)
    assert_error(err, errcode)
    assert (await room_count(hs), await event_count(hs)) == (1, events_before)


async def test_repeats_get_the_same_replacement(hs: HomeserverUnderTest) -> None:
    """As Synapse: requests of the same user while an upgrade runs or lately ran share it;
    anyone else is told an upgrade is in progress."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    old = await create_room(alice, room_version="10", preset="public_chat")
    await bob.post(f"/join/{old}")
    await set_power(alice, old, users={bob.user_id: 100})

    answers = await asyncio.gather(*(upgrade(alice, old) for _ in range(3)))

    assert len(set(answers)) == 1
    assert await room_count(hs) == 2
    assert await upgrade(alice, old, "11") == answers[0]  # remembered, whatever the version
    err = await bob.post(f"/rooms/{old}/upgrade", {"new_version": "12"}, expect=400)
    assert_error(err, "M_UNKNOWN")
    assert await room_count(hs) == 2
    tombstones = [
        e
        for e in (await alice.get(f"/rooms/{old}/messages", params={"dir": "b", "limit": "50"}))["chunk"]
        if e["type"] == "m.room.tombstone"
    ]
    assert len(tombstones) == 1


# What clients see


async def test_syncing_client_sees_the_tombstone(hs: HomeserverUnderTest) -> None:
    """A real client (matrix-nio) following the old room learns of its replacement."""
    alice = await hs.register("alice")
    old = await create_room(alice, preset="public_chat")
    made: list[AsyncClient] = []
    try:
        bob = await registered(hs, made, "bob")
        await bob.join(old)
        assert isinstance(await bob.sync(timeout=0), SyncResponse)
        assert bob.rooms[old].replacement_room is None

        new = await upgrade(alice, old)

        response = await bob.sync(timeout=10_000)
        assert isinstance(response, SyncResponse), response
        timeline = response.rooms.join[old].timeline.events
        assert [e.replacement_room for e in timeline if isinstance(e, RoomUpgradeEvent)] == [new]
        assert bob.rooms[old].replacement_room == new
    finally:
        for client in made:
            await client.close()


async def test_capabilities_list_the_versions_upgrades_accept(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    versions = (await alice.get("/capabilities"))["capabilities"]["m.room_versions"]
    assert versions["default"] == "12"
    for version in ("6", "10", "11", "12"):
        assert versions["available"][version] == "stable"
