"""A sync filter's `event_fields` and `event_format` (Client-Server API, "Filtering"): both
apply to the room events of initial and incremental syncs, live or from the database, and
to /sync over the WebSocket the same way."""

from __future__ import annotations

import json
from typing import Any

from tests.clientapi.room_helpers import send_text
from tests.clientapi.ws_helpers import sync_socket, timeline
from tests.helpers import HomeserverUnderTest, MatrixClient

FIELDS = {"event_fields": ["type", "event_id", "content.body", "unsigned.transaction_id"]}
FEDERATION = {"event_format": "federation"}


def _params(filter_json: dict[str, Any], since: str | None = None) -> dict[str, str]:
    params = {"filter": json.dumps(filter_json)}
    if since is not None:
        params["since"] = since
    return params


async def _room(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await bob.post(f"/join/{room}")
    return alice, bob, room


async def test_event_fields_keep_only_the_listed_paths(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    first = await send_text(alice, room, "hello")
    initial = await bob.get("/sync", params=_params(FIELDS))
    section = initial["rooms"]["join"][room]
    message = next(e for e in section["timeline"]["events"] if e["event_id"] == first)
    assert message == {"type": "m.room.message", "event_id": first, "content": {"body": "hello"}}
    for event in section["timeline"]["events"] + section["state"]["events"]:
        assert set(event) <= {"type", "event_id", "content", "unsigned"}
        assert set(event.get("content", {})) <= {"body"}
    # incremental, from the live path, and the sender's own transaction ID kept
    second = await send_text(bob, room, "again")
    later = await bob.get("/sync", params=_params(FIELDS, initial["next_batch"]))
    (event,) = later["rooms"]["join"][room]["timeline"]["events"]
    assert event["event_id"] == second and event["content"] == {"body": "again"}
    assert set(event) == {"type", "event_id", "content", "unsigned"}
    assert set(event["unsigned"]) == {"transaction_id"}


async def test_event_fields_leave_other_users_filters_alone(hs: HomeserverUnderTest) -> None:
    """The shared encoding of live events is not touched by one client's custom shape."""
    alice, bob, room = await _room(hs)
    bob_token = (await bob.get("/sync", params=_params(FIELDS)))["next_batch"]
    alice_token = (await alice.get("/sync"))["next_batch"]
    sent = await send_text(alice, room, "shared")
    shaped = await bob.get("/sync", params=_params(FIELDS, bob_token))
    plain = await alice.get("/sync", params={"since": alice_token})
    assert shaped["rooms"]["join"][room]["timeline"]["events"][0] == {
        "type": "m.room.message",
        "event_id": sent,
        "content": {"body": "shared"},
    }
    full = plain["rooms"]["join"][room]["timeline"]["events"][0]
    assert full["content"] == {"msgtype": "m.text", "body": "shared"} and full["sender"] == alice.user_id


async def test_federation_format_sends_pdus(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    sent = await send_text(alice, room, "as a pdu")
    initial = await bob.get("/sync", params=_params(FEDERATION))
    section = initial["rooms"]["join"][room]
    event = next(e for e in section["timeline"]["events"] if e["event_id"] == sent)
    assert {"hashes", "signatures", "auth_events", "prev_events", "depth", "room_id"} <= set(event)
    assert event["content"]["body"] == "as a pdu" and "age" in event["unsigned"]
    create = next(
        e for e in section["state"]["events"] + section["timeline"]["events"] if e["type"] == "m.room.create"
    )
    assert "signatures" in create
    later_sent = await send_text(alice, room, "live")
    later = await bob.get("/sync", params=_params(FEDERATION, initial["next_batch"]))
    (live,) = later["rooms"]["join"][room]["timeline"]["events"]
    assert live["event_id"] == later_sent and "hashes" in live and "signatures" in live


async def test_federation_format_with_fields(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    sent = await send_text(alice, room, "x")
    body = await bob.get("/sync", params=_params({**FEDERATION, "event_fields": ["event_id", "depth"]}))
    event = next(e for e in body["rooms"]["join"][room]["timeline"]["events"] if e["event_id"] == sent)
    assert set(event) == {"event_id", "depth"} and isinstance(event["depth"], int)


async def test_websocket_frames_follow_event_fields(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    async with sync_socket(bob, _params(FIELDS)) as ws:
        await ws.sync()
        sent = await send_text(alice, room, "over the socket")
        frame = await ws.sync()
    assert timeline(frame, room) == [
        {"type": "m.room.message", "event_id": sent, "content": {"body": "over the socket"}}
    ]


async def test_bad_event_fields_are_refused(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    for bad in ({"event_fields": "content.body"}, {"event_fields": [1]}, {"event_format": "pdu"}):
        error = await bob.get("/sync", params=_params(bad), expect=400)
        assert error["errcode"] in ("M_BAD_JSON", "M_INVALID_PARAM")
