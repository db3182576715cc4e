from __future__ import annotations

from tests.helpers import HomeserverUnderTest


async def test_create_send_read(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    bob = await hs.register("bob")
    room = (await alice.post("/createRoom", {"name": "Chat", "preset": "public_chat"}))["room_id"]
    await bob.post(f"/join/{room}")
    sent = await alice.put(f"/rooms/{room}/send/m.room.message/t1", {"msgtype": "m.text", "body": "hi"})
    again = await alice.put(f"/rooms/{room}/send/m.room.message/t1", {"msgtype": "m.text", "body": "hi"})
    assert sent["event_id"] == again["event_id"]
    page = await bob.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "5"})
    assert page["chunk"][0]["event_id"] == sent["event_id"]
    assert page["chunk"][0]["content"]["body"] == "hi"
    name = await bob.get(f"/rooms/{room}/state/m.room.name")
    assert name == {"name": "Chat"}
    state = await bob.get(f"/rooms/{room}/state")
    assert {e["type"] for e in state} >= {"m.room.create", "m.room.member", "m.room.power_levels"}
    members = await alice.get(f"/rooms/{room}/joined_members")
    assert set(members["joined"]) == {alice.user_id, bob.user_id}
    red = await alice.put(f"/rooms/{room}/redact/{sent['event_id']}/r1", {"reason": "oops"})
    ev = await bob.get(f"/rooms/{room}/event/{sent['event_id']}")
    assert ev["content"] == {}
    assert red["event_id"].startswith("$")
