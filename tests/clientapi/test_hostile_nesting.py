"""Deeply nested JSON (found by schemathesis): refused with M_BAD_JSON wherever a client can
send it, never a 500, and nothing stored that later responses could not encode."""

from __future__ import annotations

import json
from typing import Any

import orjson

from clientapi.request import MAX_JSON_DEPTH
from clientapi.responses import dumps
from tests.clientapi.room_helpers import create_room
from tests.clientapi.util import assert_error
from tests.clientapi.ws_helpers import sync_socket
from tests.helpers import HomeserverUnderTest, MatrixClient


def nested(levels: int) -> Any:
    """`levels` arrays, one inside the other."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


# 300 levels: past orjson's encoding limit (255) but within its parsing limit (1024), which is
# what used to store account data that made every later /sync a 500. Encoded with the standard
# library, since orjson refuses it.
DEEP = nested(300)
JSON = {"Content-Type": "application/json"}


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


def bodies(user_id: str, room_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    backup = {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"x": DEEP}}
    pusher = {
        "kind": "http", "app_id": "a", "pushkey": "k", "app_display_name": "a",
        "device_display_name": "d", "lang": "en",
        "data": {"url": "https://push.example.org/_matrix/push/v1/notify", "x": DEEP},
    }  # fmt: skip
    session: dict[str, Any] = {"first_message_index": 1, "forwarded_count": 0, "is_verified": False}
    session["session_data"] = {"x": DEEP}
    return [
        ("PUT", f"/user/{user_id}/account_data/org.example.deep", {"x": DEEP}),
        ("PUT", f"/user/{user_id}/rooms/{room_id}/account_data/org.example.deep", {"x": DEEP}),
        ("POST", f"/user/{user_id}/filter", {"room": {"timeline": {"x": DEEP}}}),
        ("PUT", "/sendToDevice/org.example.deep/t1", {"messages": {user_id: {"*": {"x": DEEP}}}}),
        ("POST", "/room_keys/version", backup),
        ("PUT", "/room_keys/keys", {"rooms": {room_id: {"sessions": {"s": session}}}}),
        ("POST", "/pushers/set", pusher),
        ("PUT", f"/rooms/{room_id}/send/m.room.message/t1", {"msgtype": "m.text", "body": "x", "x": DEEP}),
        ("PUT", f"/rooms/{room_id}/state/org.example.deep/", {"x": DEEP}),
        ("POST", "/createRoom", {"creation_content": {"x": DEEP}}),
        ("POST", "/search", {"search_categories": {"room_events": {"search_term": "x", "filter": [DEEP]}}}),
    ]


async def test_deeply_nested_bodies_are_refused_and_change_nothing(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room_id = await create_room(alice)
    before = await alice.get("/sync", params={"timeout": "0"})
    for method, path, body in bodies(str(alice.user_id), room_id):
        err = await alice.request(method, path, data=encode(body), headers=JSON, expect=400)
        assert_error(err, "M_BAD_JSON")
    missing = f"/user/{alice.user_id}/account_data/org.example.deep"
    assert_error(await alice.get(missing, expect=404), "M_NOT_FOUND")
    assert (await alice.get("/pushers"))["pushers"] == []
    assert_error(await alice.get("/room_keys/version", expect=404), "M_NOT_FOUND")
    assert (await alice.get("/joined_rooms"))["joined_rooms"] == [room_id]
    after = await alice.get("/sync", params={"since": before["next_batch"], "timeout": "0"})
    assert room_id not in after.get("rooms", {}).get("join", {})
    assert after["account_data"]["events"] == [] and after.get("to_device", {"events": []})["events"] == []


async def test_deeply_nested_inline_filters_are_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room_id = await create_room(alice)
    deep_filter = json.dumps({"room": {"timeline": {"x": DEEP}}})
    err = await alice.get("/sync", params={"filter": deep_filter, "timeout": "0"}, expect=400)
    assert_error(err, "M_BAD_JSON")
    params = {"dir": "b", "filter": json.dumps({"x": DEEP})}
    assert_error(await alice.get(f"/rooms/{room_id}/messages", params=params, expect=400), "M_BAD_JSON")


async def test_nesting_at_the_limit_is_kept_and_synced(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room_id = await create_room(alice)
    content = {"x": nested(MAX_JSON_DEPTH - 1)}  # the object itself is the first level
    await alice.put(f"/user/{alice.user_id}/account_data/org.example.deep", content)
    event = {"msgtype": "m.text", "body": "deep", "x": nested(MAX_JSON_DEPTH - 1)}
    event_id = (await alice.put(f"/rooms/{room_id}/send/m.room.message/t1", event))["event_id"]
    sync = await alice.get("/sync", params={"timeout": "0"})
    assert {"type": "org.example.deep", "content": content} in sync["account_data"]["events"]
    timeline = sync["rooms"]["join"][room_id]["timeline"]["events"]
    assert [e["content"] for e in timeline if e["event_id"] == event_id] == [event]


async def test_deeply_nested_socket_frame_is_an_error_frame(hs: HomeserverUnderTest) -> None:
    alice: MatrixClient = await hs.register("alice")
    room_id = await create_room(alice)
    async with sync_socket(alice) as ws:
        await ws.sync()
        frame = {"type": "send", "id": "r1", "room_id": room_id, "event_type": "m.room.message",
                 "txn_id": "t1", "content": {"msgtype": "m.text", "body": "x", "x": DEEP}}  # fmt: skip
        await ws.send_raw(encode(frame))
        error = await ws.reply()
        assert (error["type"], error["id"], error["errcode"]) == ("error", "r1", "M_BAD_JSON")
    messages = await alice.get(f"/rooms/{room_id}/messages", params={"dir": "b"})
    assert all(e["type"] != "m.room.message" for e in messages["chunk"])


def test_responses_too_deep_for_orjson_still_encode() -> None:
    # An event from another server may be nested deeper than clients may send; wrapped in a
    # /sync response it passes orjson's 255 levels and must still be served.
    assert orjson.loads(dumps({"a": DEEP, "b": "\u2603"})) == {"a": DEEP, "b": "\u2603"}
    assert dumps({"a": [1, "x"]}) == orjson.dumps({"a": [1, "x"]})
