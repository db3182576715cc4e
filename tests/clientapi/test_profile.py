"""Profiles: GET /profile/{userId}, GET/PUT/DELETE /profile/{userId}/{keyName}, and the
propagation of a change into the user's rooms as member events."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.appkeys import PIPELINE, PROFILES
from homeserver.config import Registration
from homeserver.errors import Forbidden
from homeserver.rooms.send import Draft
from tests.clientapi.conftest import MakeServer
from tests.clientapi.directory_helpers import member_content, new_room
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest


async def stored_profile(hs: HomeserverUnderTest, user_id: str | None) -> tuple[str | None, str | None]:
    assert user_id is not None
    profile = await hs.app[PROFILES].get(user_id)
    assert profile is not None
    return profile.displayname, profile.avatar_url


async def test_displayname_change_reaches_room_members(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, invite=[bob.user_id])
    await bob.post(f"/rooms/{room}/join")
    other = await new_room(bob)

    assert await bob.put(f"/profile/{bob.user_id}/displayname", {"displayname": "Bobby"}) == {}

    member = await member_content(alice, room, bob.user_id)
    assert member == {"membership": "join", "displayname": "Bobby"}
    assert (await member_content(bob, other, bob.user_id))["displayname"] == "Bobby"
    assert await hs.client().get(f"/profile/{bob.user_id}/displayname") == {"displayname": "Bobby"}
    assert await alice.get(f"/profile/{bob.user_id}") == {"displayname": "Bobby"}
    joined = (await alice.get(f"/rooms/{room}/joined_members"))["joined"]
    assert joined[bob.user_id]["display_name"] == "Bobby"


async def test_avatar_change_reaches_rooms_and_unchanged_rooms_get_no_event(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice, preset="public_chat")
    url = "mxc://example.org/AbC_12-x"

    await alice.put(f"/profile/{alice.user_id}/avatar_url", {"avatar_url": url})
    member = await alice.get(f"/rooms/{room}/state/m.room.member/{alice.user_id}", params={"format": "event"})
    assert member["content"] == {"membership": "join", "displayname": "alice", "avatar_url": url}
    assert await alice.get(f"/profile/{alice.user_id}") == {"displayname": "alice", "avatar_url": url}

    # Setting the same value again sends nothing new.
    await alice.put(f"/profile/{alice.user_id}/avatar_url", {"avatar_url": url})
    again = await alice.get(f"/rooms/{room}/state/m.room.member/{alice.user_id}", params={"format": "event"})
    assert again["event_id"] == member["event_id"]


async def test_left_rooms_are_not_touched(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await bob.post(f"/rooms/{room}/leave")

    await bob.put(f"/profile/{bob.user_id}/displayname", {"displayname": "Gone"})
    assert await member_content(alice, room, bob.user_id) == {"membership": "leave"}


async def test_a_failing_room_does_not_stop_the_others(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await hs.register("alice")
    broken, fine = await new_room(alice), await new_room(alice)
    pipeline = hs.app[PIPELINE]
    real_send = pipeline.send

    async def send(draft: Draft, **kw: Any) -> Any:
        if draft.room_id == broken:
            raise Forbidden("no")
        return await real_send(draft, **kw)

    monkeypatch.setattr(pipeline, "send", send)
    assert await alice.put(f"/profile/{alice.user_id}/displayname", {"displayname": "Al"}) == {}

    assert (await member_content(alice, fine, alice.user_id))["displayname"] == "Al"
    assert (await member_content(alice, broken, alice.user_id))["displayname"] == "alice"
    assert await stored_profile(hs, alice.user_id) == ("Al", None)


async def test_unset_by_empty_string_or_delete(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    await alice.put(f"/profile/{alice.user_id}/displayname", {"displayname": "   "})
    assert await stored_profile(hs, alice.user_id) == (None, None)
    assert await member_content(alice, room, alice.user_id) == {"membership": "join"}
    assert_error(await alice.get(f"/profile/{alice.user_id}/displayname", expect=404), "M_NOT_FOUND")
    assert_error(await alice.get(f"/profile/{alice.user_id}", expect=404), "M_NOT_FOUND")  # nothing set

    await alice.put(f"/profile/{alice.user_id}/avatar_url", {"avatar_url": "mxc://example.org/a"})
    await alice.put(f"/profile/{alice.user_id}/displayname", {"displayname": " Alice "})
    assert await stored_profile(hs, alice.user_id) == ("Alice", "mxc://example.org/a")
    assert await alice.delete(f"/profile/{alice.user_id}/avatar_url") == {}
    assert await stored_profile(hs, alice.user_id) == ("Alice", None)
    assert await member_content(alice, room, alice.user_id) == {"membership": "join", "displayname": "Alice"}
    assert await alice.delete(f"/profile/{alice.user_id}/m.tz") == {}  # never stored: nothing to do


async def test_cannot_change_someone_elses_profile(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    for key, value in (("displayname", "x"), ("avatar_url", "mxc://example.org/x")):
        err = await alice.put(f"/profile/{bob.user_id}/{key}", {key: value}, expect=403)
        assert_error(err, "M_FORBIDDEN")
        assert_error(await alice.delete(f"/profile/{bob.user_id}/{key}", expect=403), "M_FORBIDDEN")
    err = await hs.client().put(f"/profile/{bob.user_id}/displayname", {"displayname": "x"}, expect=401)
    assert_error(err, "M_MISSING_TOKEN")
    assert await stored_profile(hs, bob.user_id) == ("bob", None)


async def test_bad_values_change_nothing(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    name_path, avatar_path = f"/profile/{alice.user_id}/displayname", f"/profile/{alice.user_id}/avatar_url"
    cases: list[tuple[str, Any, str]] = [
        (name_path, {}, "M_MISSING_PARAM"),
        (name_path, {"avatar_url": "mxc://example.org/a"}, "M_MISSING_PARAM"),
        (name_path, {"displayname": None}, "M_INVALID_PARAM"),
        (name_path, {"displayname": 5}, "M_INVALID_PARAM"),
        (name_path, {"displayname": ["x"]}, "M_INVALID_PARAM"),
        (name_path, {"displayname": "x" * 257}, "M_INVALID_PARAM"),
        (name_path, {"displayname": "a\u0000b"}, "M_INVALID_PARAM"),
        (avatar_path, {"avatar_url": None}, "M_INVALID_PARAM"),
        (avatar_path, {"avatar_url": 1}, "M_INVALID_PARAM"),
        (avatar_path, {"avatar_url": "https://example.org/a.png"}, "M_INVALID_PARAM"),
        (avatar_path, {"avatar_url": "mxc://example.org/"}, "M_INVALID_PARAM"),
        (avatar_path, {"avatar_url": "mxc://bad server/abc"}, "M_INVALID_PARAM"),
        (avatar_path, {"avatar_url": "mxc://example.org/" + "a" * 1000}, "M_INVALID_PARAM"),
    ]
    for path, body, errcode in cases:
        assert_error(await alice.put(path, body, expect=400), errcode)
    assert_error(await alice.put(name_path, data=b"{", expect=400), "M_NOT_JSON")
    assert_error(await alice.put(name_path, data=b'"x"', expect=400), "M_BAD_JSON")

    assert await stored_profile(hs, alice.user_id) == ("alice", None)
    assert await member_content(alice, room, alice.user_id) == {"membership": "join", "displayname": "alice"}
    assert await alice.put(name_path, {"displayname": "y" * 256}) == {}  # the limit itself is fine


async def test_profile_lookup_errors(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    anon = hs.client()
    server = hs.config.server_name
    assert_error(await anon.get(f"/profile/@nobody:{server}", expect=404), "M_NOT_FOUND")
    assert_error(await anon.get(f"/profile/@nobody:{server}/displayname", expect=404), "M_NOT_FOUND")
    assert_error(await anon.get("/profile/@someone:elsewhere.example", expect=404), "M_NOT_FOUND")
    assert_error(await anon.get("/profile/not-a-user", expect=400), "M_INVALID_PARAM")
    assert_error(await anon.get(f"/profile/{alice.user_id}/avatar_url", expect=404), "M_NOT_FOUND")
    assert_error(await anon.get(f"/profile/{alice.user_id}/m.tz", expect=404), "M_NOT_FOUND")
    assert_error(await anon.get(f"/profile/{alice.user_id}/Bad Key", expect=400), "M_INVALID_PARAM")
    long_key = "com.example." + "a" * 250
    assert_error(await anon.get(f"/profile/{alice.user_id}/{long_key}", expect=400), "M_KEY_TOO_LARGE")


async def test_other_profile_keys_are_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    err = await alice.put(f"/profile/{alice.user_id}/m.tz", {"m.tz": "Europe/London"}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await alice.put(f"/profile/{alice.user_id}/nonsense", {"nonsense": 1}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    assert await alice.get(f"/profile/{alice.user_id}") == {"displayname": "alice"}


async def test_guests_may_change_only_their_display_name(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(allow_guests=True))
    result = await hs.client().post("/register", {}, params={"kind": "guest"})
    guest = hs.client(result["access_token"])
    user_id = result["user_id"]
    assert await guest.put(f"/profile/{user_id}/displayname", {"displayname": "Visitor"}) == {}
    err = await guest.put(f"/profile/{user_id}/avatar_url", {"avatar_url": "mxc://example.org/a"}, expect=403)
    assert_error(err, "M_GUEST_ACCESS_FORBIDDEN")
    assert await hs.client().get(f"/profile/{user_id}") == {"displayname": "Visitor"}
