"""Sending events and state: PUT /send, PUT/GET /state, GET /event."""

from __future__ import annotations

from homeserver.appkeys import ROOMS
from tests.clientapi.room_helpers import (
    create_room,
    current_state_rows,
    event_count,
    send_text,
    state_content,
)
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest

MSG = {"msgtype": "m.text", "body": "hello"}


async def test_send_and_read_back(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    sent = await alice.put(f"/rooms/{room}/send/m.room.message/txn1", MSG)
    event = await alice.get(f"/rooms/{room}/event/{sent['event_id']}")
    assert event["event_id"] == sent["event_id"]
    assert event["room_id"] == room
    assert event["sender"] == alice.user_id
    assert event["type"] == "m.room.message"
    assert event["content"] == MSG
    assert isinstance(event["origin_server_ts"], int)
    assert event["unsigned"]["age"] >= 0
    assert "state_key" not in event
    for federation_key in ("hashes", "signatures", "prev_events", "auth_events", "depth"):
        assert federation_key not in event


async def test_txn_is_idempotent_per_device(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    other = await create_room(alice)
    first = await alice.put(f"/rooms/{room}/send/m.room.message/same", MSG)
    count = await event_count(hs, room)
    # Same device, same txn: the same event, even with another body.
    again = await alice.put(f"/rooms/{room}/send/m.room.message/same", {"msgtype": "m.text", "body": "2"})
    assert again == first
    assert await event_count(hs, room) == count
    # Another device of the same user: a new event.
    laptop = await hs.login("alice")
    assert laptop.device_id != alice.device_id
    second = await laptop.put(f"/rooms/{room}/send/m.room.message/same", MSG)
    assert second["event_id"] != first["event_id"]
    # Another room: a new event.
    third = await alice.put(f"/rooms/{other}/send/m.room.message/same", MSG)
    assert third["event_id"] not in (first["event_id"], second["event_id"])
    assert await event_count(hs, room) == count + 1


async def test_concurrent_retries_of_one_txn_make_one_event(hs: HomeserverUnderTest) -> None:
    import asyncio

    alice = await hs.register("alice")
    room = await create_room(alice)
    count = await event_count(hs, room)
    results = await asyncio.gather(
        *(alice.put(f"/rooms/{room}/send/m.room.message/race", MSG) for _ in range(5))
    )
    assert len({r["event_id"] for r in results}) == 1
    assert await event_count(hs, room) == count + 1


async def test_send_into_a_room_you_are_not_in(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    count = await event_count(hs, room)
    err = await bob.put(f"/rooms/{room}/send/m.room.message/1", MSG, expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await bob.put(f"/rooms/{room}/state/org.example.x", {}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    assert await event_count(hs, room) == count
    err = await bob.put(f"/rooms/!nowhere:{hs.config.server_name}/send/m.room.message/1", MSG, expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await bob.put("/rooms/nowhere/send/m.room.message/1", MSG, expect=400)
    assert_error(err, "M_INVALID_PARAM")


async def test_above_your_power_is_forbidden_and_stores_nothing(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(
        alice, preset="public_chat", power_level_content_override={"events": {"org.example.vip": 10}}
    )
    await bob.post(f"/join/{room}")
    count, state = await event_count(hs, room), await current_state_rows(hs, room)
    err = await bob.put(f"/rooms/{room}/state/org.example.setting", {"on": True}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await bob.put(f"/rooms/{room}/state/m.room.name", {"name": "mine"}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await bob.put(f"/rooms/{room}/send/org.example.vip/1", {}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    assert await event_count(hs, room) == count
    assert await current_state_rows(hs, room) == state
    await alice.get(f"/rooms/{room}/state/org.example.setting", expect=404)
    # The room still works after the refusals, for both of them.
    await send_text(bob, room, "fine")
    await alice.put(f"/rooms/{room}/state/org.example.setting", {"on": True})


async def test_bad_send_bodies(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    count = await event_count(hs, room)
    path = f"/rooms/{room}/send/m.room.message"
    assert_error(await alice.put(f"{path}/a", data=b"{", expect=400), "M_NOT_JSON")
    assert_error(await alice.put(f"{path}/b", ["x"], expect=400), "M_BAD_JSON")
    assert_error(await alice.put(f"{path}/c", {"body": 1.5}, expect=400), "M_BAD_JSON")
    assert_error(await alice.put(f"{path}/d", {"n": 2**60}, expect=400), "M_BAD_JSON")
    big = {"body": "x" * 70_000}
    assert_error(await alice.put(f"{path}/e", big, expect=413), "M_TOO_LARGE")
    assert_error(await alice.put(f"/rooms/{room}/send/{'t' * 300}/f", {}, expect=400), "M_INVALID_PARAM")
    assert await event_count(hs, room) == count
    # A refused txn ID is not burnt: it can be used once the body is right.
    ok = await alice.put(f"{path}/a", MSG)
    assert ok["event_id"].startswith("$")


async def test_put_and_get_state(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    sent = await alice.put(f"/rooms/{room}/state/m.room.name", {"name": "One"})
    assert await state_content(bob, room, "m.room.name") == {"name": "One"}
    assert await bob.get(f"/rooms/{room}/state/m.room.name") == {"name": "One"}
    # The trailing slash (empty state key) is optional on PUT too.
    await alice.put(f"/rooms/{room}/state/m.room.name/", {"name": "Two"})
    assert await bob.get(f"/rooms/{room}/state/m.room.name") == {"name": "Two"}
    full = await bob.get(f"/rooms/{room}/state/m.room.name/", params={"format": "event"})
    assert full["type"] == "m.room.name" and full["state_key"] == ""
    assert full["content"] == {"name": "Two"} and full["sender"] == alice.user_id
    assert full["event_id"] != sent["event_id"]
    assert await bob.get(f"/rooms/{room}/state/m.room.name", params={"format": "content"}) == {"name": "Two"}
    # State keys with slashes and odd characters.
    await alice.put(f"/rooms/{room}/state/org.example.k/a%2Fb c", {"v": 1})
    assert await bob.get(f"/rooms/{room}/state/org.example.k/a%2Fb c") == {"v": 1}
    state = await bob.get(f"/rooms/{room}/state")
    keyed = [e for e in state if e["type"] == "org.example.k"]
    assert [e["state_key"] for e in keyed] == ["a/b c"]


async def test_get_state_errors(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice)
    err = await alice.get(f"/rooms/{room}/state/m.room.topic", expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await alice.get(f"/rooms/{room}/state/m.room.member/@nobody:x", expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await bob.get(f"/rooms/{room}/state/m.room.create", expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await bob.get(f"/rooms/{room}/state", expect=403)
    assert_error(err, "M_FORBIDDEN")
    await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id})
    err = await bob.get(f"/rooms/{room}/state", expect=403)  # invited is not joined
    assert_error(err, "M_FORBIDDEN")


async def test_put_state_errors(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    count = await event_count(hs, room)
    err = await alice.put(f"/rooms/{room}/state/org.example.x/{'k' * 300}", {}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    err = await alice.put(f"/rooms/{room}/state/org.example.x", data=b"nope", expect=400)
    assert_error(err, "M_NOT_JSON")
    err = await alice.put(f"/rooms/{room}/state/org.example.x", [1], expect=400)
    assert_error(err, "M_BAD_JSON")
    # A user's own state key is theirs alone.
    err = await alice.put(f"/rooms/{room}/state/org.example.x/{bob.user_id}", {}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    await bob.put(f"/rooms/{room}/state/org.example.mine/{bob.user_id}", {"ok": 1}, expect=403)
    # Malformed power levels are bad JSON, not a permission problem.
    err = await alice.put(
        f"/rooms/{room}/state/m.room.power_levels", {"users": {bob.user_id: "x"}}, expect=400
    )
    assert_error(err, "M_BAD_JSON")
    err = await alice.put(f"/rooms/{room}/state/m.room.power_levels", {"ban": 1.5}, expect=400)
    assert_error(err, "M_BAD_JSON")
    assert await event_count(hs, room) == count


async def test_power_level_changes_take_effect(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await bob.put(f"/rooms/{room}/state/m.room.topic", {"topic": "x"}, expect=403)
    power = await state_content(alice, room, "m.room.power_levels")
    power["users"][bob.user_id] = 50
    await alice.put(f"/rooms/{room}/state/m.room.power_levels", power)
    await bob.put(f"/rooms/{room}/state/m.room.topic", {"topic": "x"})
    # bob cannot raise himself above his own level.
    power["users"][bob.user_id] = 100
    err = await bob.put(f"/rooms/{room}/state/m.room.power_levels", power, expect=403)
    assert_error(err, "M_FORBIDDEN")


async def test_canonical_alias_validation(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    server = hs.config.server_name
    room = await create_room(alice, room_alias_name="main")
    other = await create_room(bob, room_alias_name="elsewhere")
    await hs.app[ROOMS].create_alias(f"#alt:{server}", room, str(alice.user_id))
    path = f"/rooms/{room}/state/m.room.canonical_alias"
    await alice.put(path, {"alias": f"#main:{server}", "alt_aliases": [f"#alt:{server}"]})
    err = await alice.put(path, {"alias": f"#elsewhere:{server}"}, expect=400)
    assert_error(err, "M_BAD_ALIAS")
    err = await alice.put(path, {"alias": f"#missing:{server}"}, expect=400)
    assert_error(err, "M_BAD_ALIAS")
    err = await alice.put(path, {"alt_aliases": [f"#main:{server}", f"#elsewhere:{server}"]}, expect=400)
    assert_error(err, "M_BAD_ALIAS")
    err = await alice.put(path, {"alias": "not an alias"}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    err = await alice.put(path, {"alt_aliases": ["#ok:x", 5]}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    err = await alice.put(path, {"alt_aliases": "#alt:x"}, expect=400)
    assert err["errcode"] in ("M_INVALID_PARAM", "M_BAD_JSON")
    # Aliases already in the event are not checked again, even once they stop resolving.
    await hs.app[ROOMS].delete_alias(f"#alt:{server}")
    await alice.put(path, {"alias": f"#main:{server}", "alt_aliases": [f"#alt:{server}"]})
    # Removing the alias altogether is fine.
    await alice.put(path, {})
    assert await state_content(alice, room, "m.room.canonical_alias") == {}
    assert other != room


async def test_get_event_visibility(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(alice, preset="public_chat")
    event_id = await send_text(alice, room, "secret-ish")
    # Never joined: as if it did not exist.
    err = await bob.get(f"/rooms/{room}/event/{event_id}", expect=404)
    assert_error(err, "M_NOT_FOUND")
    # Unknown event, or an event of another room.
    err = await alice.get(f"/rooms/{room}/event/$nope", expect=404)
    assert_error(err, "M_NOT_FOUND")
    other = await create_room(alice)
    err = await alice.get(f"/rooms/{other}/event/{event_id}", expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await alice.get(f"/rooms/{room}/event/not-an-id", expect=400)
    assert_error(err, "M_INVALID_PARAM")
    # Joined later, with shared history: visible.
    await bob.post(f"/join/{room}")
    assert (await bob.get(f"/rooms/{room}/event/{event_id}"))["content"]["body"] == "secret-ish"
    # A world-readable room lets anyone with an account read it.
    await alice.put(
        f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    readable = await send_text(alice, room, "for all")
    assert (await carol.get(f"/rooms/{room}/event/{readable}"))["content"]["body"] == "for all"
