"""`unsigned.prev_content`, `prev_sender` and `replaces_state` on state events that replaced
another (Client-Server API, "Room Event Format"): in /sync (initial and live), /messages,
/context and GET /event; read when served, so a redacted previous event gives its redacted
content. Without them Element shows a display-name change as "X joined the room"."""

from __future__ import annotations

from typing import Any

from tests.helpers import HomeserverUnderTest, MatrixClient


async def _renamed(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str, str, str]:
    """alice and bob in a room; bob renames himself. Returns the join and the rename."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await bob.post(f"/join/{room}")
    join = (await bob.get(f"/rooms/{room}/state/m.room.member/{bob.user_id}", params={"format": "event"}))[
        "event_id"
    ]
    await bob.put(f"/profile/{bob.user_id}/displayname", {"displayname": "Robert"})
    rename = (await bob.get(f"/rooms/{room}/state/m.room.member/{bob.user_id}", params={"format": "event"}))[
        "event_id"
    ]
    return alice, bob, room, join, rename


def _by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["event_id"]: e for e in events}


def _assert_rename(event: dict[str, Any], bob: MatrixClient, join: str) -> None:
    assert event["content"]["displayname"] == "Robert"
    unsigned = event["unsigned"]
    assert unsigned["replaces_state"] == join
    assert unsigned["prev_sender"] == bob.user_id
    assert unsigned["prev_content"]["membership"] == "join"
    assert unsigned["prev_content"].get("displayname") != "Robert"


async def test_prev_content_in_sync_messages_context_and_event(hs: HomeserverUnderTest) -> None:
    alice, bob, room, join, rename = await _renamed(hs)
    initial = await alice.get("/sync")
    timeline = _by_id(initial["rooms"]["join"][room]["timeline"]["events"])
    _assert_rename(timeline[rename], bob, join)
    assert "prev_content" not in timeline[join]["unsigned"]  # bob's first member event
    messages = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "20"})
    _assert_rename(_by_id(messages["chunk"])[rename], bob, join)
    context = await alice.get(f"/rooms/{room}/context/{rename}")
    _assert_rename(context["event"], bob, join)
    _assert_rename(await alice.get(f"/rooms/{room}/event/{rename}"), bob, join)
    # live: the next rename reaches a following client with the previous name
    await bob.put(f"/profile/{bob.user_id}/displayname", {"displayname": "Bobby"})
    later = await alice.get("/sync", params={"since": initial["next_batch"]})
    (event,) = [e for e in later["rooms"]["join"][room]["timeline"]["events"] if e["type"] == "m.room.member"]
    assert event["content"]["displayname"] == "Bobby"
    assert event["unsigned"]["replaces_state"] == rename
    assert event["unsigned"]["prev_content"]["displayname"] == "Robert"


async def test_prev_content_of_a_redacted_previous_event_is_redacted(hs: HomeserverUnderTest) -> None:
    alice, bob, room, _, _ = await _renamed(hs)
    await alice.put(f"/rooms/{room}/state/m.room.topic", {"topic": "secret plans"})
    old_topic = (await alice.get(f"/rooms/{room}/state/m.room.topic/", params={"format": "event"}))[
        "event_id"
    ]
    await alice.put(f"/rooms/{room}/state/m.room.topic", {"topic": "public plans"})
    new_topic = (await alice.get(f"/rooms/{room}/state/m.room.topic/", params={"format": "event"}))[
        "event_id"
    ]
    shown = await alice.get(f"/rooms/{room}/event/{new_topic}")
    assert shown["unsigned"]["prev_content"] == {"topic": "secret plans"}
    await alice.put(f"/rooms/{room}/redact/{old_topic}/r1", {})
    shown = await bob.get(f"/rooms/{room}/event/{new_topic}")
    assert shown["unsigned"]["replaces_state"] == old_topic
    assert "secret plans" not in str(shown["unsigned"])
    body = await bob.get("/sync")
    event = _by_id(body["rooms"]["join"][room]["timeline"]["events"])[new_topic]
    assert "secret plans" not in str(event["unsigned"])


async def test_message_events_carry_no_prev_content(hs: HomeserverUnderTest) -> None:
    alice, _, room, _, _ = await _renamed(hs)
    sent = (await alice.put(f"/rooms/{room}/send/m.room.message/m1", {"msgtype": "m.text", "body": "hi"}))[
        "event_id"
    ]
    event = await alice.get(f"/rooms/{room}/event/{sent}")
    assert not {"prev_content", "replaces_state", "prev_sender"} & set(event["unsigned"])
