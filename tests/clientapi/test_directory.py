"""Room aliases (PUT/GET/DELETE /directory/room/{alias}, GET /rooms/{id}/aliases) and the
directory visibility of rooms (GET/PUT /directory/list/room/{id})."""

from __future__ import annotations

from urllib.parse import quote

from homeserver.appkeys import USERS
from homeserver.ids import UserID
from tests.clientapi.directory_helpers import alias_path, local_alias, lookup, make_world_readable, new_room
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest


async def test_alias_lifecycle(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    alias = local_alias(hs, "tea")

    assert await alice.put(alias_path(alias), {"room_id": room}) == {}

    resolved = await hs.client().get(alias_path(alias))  # no access token needed
    assert resolved == {"room_id": room, "servers": [hs.config.server_name]}
    assert (await alice.get(f"/rooms/{room}/aliases"))["aliases"] == [alias]

    other = await new_room(alice)
    err = await alice.put(alias_path(alias), {"room_id": other}, expect=409)
    assert_error(err, "M_UNKNOWN")
    assert await lookup(alice, alias) == room

    assert await alice.delete(alias_path(alias)) == {}
    assert await lookup(alice, alias) is None
    assert (await alice.get(f"/rooms/{room}/aliases"))["aliases"] == []
    assert_error(await alice.delete(alias_path(alias), expect=404), "M_NOT_FOUND")


async def test_create_alias_bad_input_changes_nothing(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice)
    server = hs.config.server_name
    good = local_alias(hs, "good")

    for bad in ("nohash", "#nocolon", f"#with space:{server}", f"#:{server}", "#x:bad server", "#x:"):
        err = await alice.put(f"/directory/room/{quote(bad, safe='')}", {"room_id": room}, expect=400)
        assert_error(err, "M_INVALID_PARAM")
    err = await alice.put(alias_path("#x:other.example"), {"room_id": room}, expect=400)
    assert_error(err, "M_INVALID_PARAM")  # only aliases of this server are created here

    assert_error(await alice.put(alias_path(good), {}, expect=400), "M_MISSING_PARAM")
    assert_error(await alice.put(alias_path(good), {"room_id": 5}, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.put(alias_path(good), {"room_id": "room"}, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.put(alias_path(good), data=b"{", expect=400), "M_NOT_JSON")
    unknown = f"!unknown:{server}"
    assert_error(await alice.put(alias_path(good), {"room_id": unknown}, expect=400), "M_INVALID_PARAM")
    # Only members of the room may point an alias at it.
    assert_error(await bob.put(alias_path(good), {"room_id": room}, expect=403), "M_FORBIDDEN")
    assert_error(await hs.client().put(alias_path(good), {"room_id": room}, expect=401), "M_MISSING_TOKEN")

    assert await lookup(alice, good) is None
    assert await lookup(alice, "#x:other.example") is None
    assert (await alice.get(f"/rooms/{room}/aliases"))["aliases"] == []


async def test_resolve_alias_errors(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    assert_error(await anon.get(f"/directory/room/{quote('nohash')}", expect=400), "M_INVALID_PARAM")
    assert_error(await anon.get(alias_path(local_alias(hs, "nothing")), expect=404), "M_NOT_FOUND")
    # Aliases of other servers are not looked up over federation (yet): unknown here.
    assert_error(await anon.get(alias_path("#room:elsewhere.example"), expect=404), "M_NOT_FOUND")


async def test_servers_list_this_server_first_then_the_members_servers(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice, room_alias_name="first")
    result = await alice.get(alias_path(local_alias(hs, "first")))
    assert result["servers"][0] == hs.config.server_name
    assert result["room_id"] == room


async def test_delete_alias_permissions(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await carol.post(f"/join/{room}")
    mine, bobs = local_alias(hs, "mine"), local_alias(hs, "bobs")
    await alice.put(alias_path(mine), {"room_id": room})
    await bob.put(alias_path(bobs), {"room_id": room})

    # bob (power 0) may not delete alice's alias; carol not bob's.
    assert_error(await bob.delete(alias_path(mine), expect=403), "M_FORBIDDEN")
    assert_error(await carol.delete(alias_path(bobs), expect=403), "M_FORBIDDEN")
    assert await lookup(alice, mine) == room
    assert await lookup(alice, bobs) == room

    # The creator of an alias may delete it; so may whoever may send m.room.canonical_alias.
    assert await bob.delete(alias_path(bobs)) == {}
    await carol.put(alias_path(bobs), {"room_id": room})
    assert await alice.delete(alias_path(bobs)) == {}
    assert await lookup(alice, bobs) is None

    # A server admin may delete any alias.
    await hs.app[USERS].set_admin(UserID(str(carol.user_id)), True)
    assert await carol.delete(alias_path(mine)) == {}
    assert await lookup(alice, mine) is None


async def test_delete_alias_errors(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert_error(await alice.delete(f"/directory/room/{quote('bad')}", expect=400), "M_INVALID_PARAM")
    assert_error(await alice.delete(alias_path(local_alias(hs, "none")), expect=404), "M_NOT_FOUND")
    assert_error(await alice.delete(alias_path("#x:elsewhere.example"), expect=404), "M_NOT_FOUND")
    assert_error(await hs.client().delete(alias_path(local_alias(hs, "x")), expect=401), "M_MISSING_TOKEN")


async def test_deleting_an_alias_takes_it_out_of_the_canonical_alias_event(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice, room_alias_name="main")
    main, alt = local_alias(hs, "main"), local_alias(hs, "alt")
    await alice.put(alias_path(alt), {"room_id": room})
    await alice.put(f"/rooms/{room}/state/m.room.canonical_alias", {"alias": main, "alt_aliases": [alt]})

    await alice.delete(alias_path(alt))
    assert await alice.get(f"/rooms/{room}/state/m.room.canonical_alias") == {"alias": main}
    await alice.delete(alias_path(main))
    assert await alice.get(f"/rooms/{room}/state/m.room.canonical_alias") == {}


async def test_alias_creator_without_power_still_deletes_the_alias(hs: HomeserverUnderTest) -> None:
    """The canonical alias event stays when its sender lacks the power; the alias goes."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    bobs = local_alias(hs, "bobs")
    await bob.put(alias_path(bobs), {"room_id": room})
    await alice.put(f"/rooms/{room}/state/m.room.canonical_alias", {"alt_aliases": [bobs]})

    assert await bob.delete(alias_path(bobs)) == {}
    assert await lookup(alice, bobs) is None
    assert await alice.get(f"/rooms/{room}/state/m.room.canonical_alias") == {"alt_aliases": [bobs]}


async def test_join_by_alias(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat", room_alias_name="lobby")
    joined = await bob.post(f"/join/{quote(local_alias(hs, 'lobby'), safe='')}")
    assert joined == {"room_id": room}
    assert bob.user_id in (await alice.get(f"/rooms/{room}/joined_members"))["joined"]


async def test_room_aliases_for_members_or_world_readable_rooms(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, room_alias_name="quiet")
    alias = local_alias(hs, "quiet")

    assert_error(await bob.get(f"/rooms/{room}/aliases", expect=403), "M_FORBIDDEN")
    assert_error(await bob.get(f"/rooms/!nowhere:{hs.config.server_name}/aliases", expect=403), "M_FORBIDDEN")
    assert_error(await bob.get("/rooms/not-a-room/aliases", expect=400), "M_INVALID_PARAM")
    assert_error(await hs.client().get(f"/rooms/{room}/aliases", expect=401), "M_MISSING_TOKEN")

    await make_world_readable(alice, room)
    assert (await bob.get(f"/rooms/{room}/aliases"))["aliases"] == [alias]


async def test_directory_visibility(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    anon = hs.client()
    path = f"/directory/list/room/{room}"

    assert await anon.get(path) == {"visibility": "private"}
    assert await alice.put(path, {"visibility": "public"}) == {}
    assert await anon.get(path) == {"visibility": "public"}
    assert await alice.put(path, {"visibility": "private"}) == {}
    assert await alice.put(path) == {}  # the spec's default is public
    assert await anon.get(path) == {"visibility": "public"}

    public = await new_room(alice, visibility="public")
    assert await anon.get(f"/directory/list/room/{public}") == {"visibility": "public"}


async def test_directory_visibility_errors_change_nothing(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    path = f"/directory/list/room/{room}"

    assert_error(await bob.put(path, {"visibility": "public"}, expect=403), "M_FORBIDDEN")  # power 0
    assert_error(await carol.put(path, {"visibility": "public"}, expect=403), "M_FORBIDDEN")  # not in it
    assert_error(await alice.put(path, {"visibility": "hidden"}, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.put(path, {"visibility": 1}, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.put(path, data=b"nope", expect=400), "M_NOT_JSON")
    assert_error(await hs.client().put(path, {"visibility": "public"}, expect=401), "M_MISSING_TOKEN")
    unknown = f"/directory/list/room/!unknown:{hs.config.server_name}"
    assert_error(await alice.put(unknown, {"visibility": "public"}, expect=404), "M_NOT_FOUND")
    assert_error(await alice.get(unknown, expect=404), "M_NOT_FOUND")
    assert_error(await alice.get("/directory/list/room/nope", expect=400), "M_INVALID_PARAM")

    assert await alice.get(path) == {"visibility": "private"}
    assert (await alice.get("/publicRooms"))["chunk"] == []
