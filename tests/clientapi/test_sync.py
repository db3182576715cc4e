"""/sync: initial and incremental, long-poll wake-ups, limited timelines, invites, leaves,
account data, filters, and bad input."""

from __future__ import annotations

import asyncio
import json

from tests.helpers import HomeserverUnderTest, MatrixClient


async def _room_with(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat", "name": "Sync"}))["room_id"]
    await bob.post(f"/join/{room}")
    return alice, bob, room


async def test_initial_sync_has_timeline_state_and_summary(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    sent = await alice.put(f"/rooms/{room}/send/m.room.message/t1", {"msgtype": "m.text", "body": "hello"})
    body = await bob.get("/sync")
    joined = body["rooms"]["join"][room]
    timeline = joined["timeline"]["events"]
    assert timeline[-1]["event_id"] == sent["event_id"]
    assert timeline[-1]["content"]["body"] == "hello"
    assert "room_id" not in timeline[-1]
    state_types = {e["type"] for e in joined["state"]["events"]} | {e["type"] for e in timeline}
    assert {"m.room.create", "m.room.power_levels", "m.room.name"} <= state_types
    assert joined["summary"]["m.joined_member_count"] == 2
    assert joined["summary"]["m.heroes"] == [alice.user_id]
    assert body["next_batch"].startswith("s")


async def test_transaction_id_echoed_only_to_sending_device(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    await alice.put(f"/rooms/{room}/send/m.room.message/my-txn", {"msgtype": "m.text", "body": "x"})
    mine = (await alice.get("/sync"))["rooms"]["join"][room]["timeline"]["events"][-1]
    theirs = (await bob.get("/sync"))["rooms"]["join"][room]["timeline"]["events"][-1]
    assert mine["unsigned"]["transaction_id"] == "my-txn"
    assert "transaction_id" not in theirs["unsigned"]


async def test_incremental_sync_returns_only_new_events(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    first = await bob.get("/sync")
    sent = await alice.put(f"/rooms/{room}/send/m.room.message/t2", {"msgtype": "m.text", "body": "new"})
    second = await bob.get("/sync", params={"since": first["next_batch"]})
    events = second["rooms"]["join"][room]["timeline"]["events"]
    assert [e["event_id"] for e in events] == [sent["event_id"]]
    assert second["rooms"]["join"][room]["timeline"]["limited"] is False
    assert second["rooms"]["join"][room]["state"]["events"] == []


async def test_long_poll_wakes_on_new_event(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    since = (await bob.get("/sync"))["next_batch"]
    poll = asyncio.create_task(bob.get("/sync", params={"since": since, "timeout": "30000"}))
    await asyncio.sleep(0)  # let the poll start waiting; it returns only with the event
    sent = await alice.put(f"/rooms/{room}/send/m.room.message/t3", {"msgtype": "m.text", "body": "wake"})
    body = await asyncio.wait_for(poll, 20)
    assert [e["event_id"] for e in body["rooms"]["join"][room]["timeline"]["events"]] == [sent["event_id"]]


async def test_empty_poll_times_out_with_same_position(hs: HomeserverUnderTest) -> None:
    _, bob, _ = await _room_with(hs)
    since = (await bob.get("/sync"))["next_batch"]
    body = await bob.get("/sync", params={"since": since, "timeout": "50"})
    assert body["next_batch"] == since
    assert body["rooms"]["join"] == {}


async def test_limited_timeline_carries_gap_state(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    since = (await bob.get("/sync"))["next_batch"]
    await alice.put(f"/rooms/{room}/state/m.room.topic", {"topic": "changed in the gap"})
    for i in range(5):
        await alice.put(f"/rooms/{room}/send/m.room.message/g{i}", {"msgtype": "m.text", "body": str(i)})
    filt = json.dumps({"room": {"timeline": {"limit": 2}}})
    body = await bob.get("/sync", params={"since": since, "filter": filt})
    section = body["rooms"]["join"][room]
    assert section["timeline"]["limited"] is True
    assert [e["content"]["body"] for e in section["timeline"]["events"]] == ["3", "4"]
    topics = [e for e in section["state"]["events"] if e["type"] == "m.room.topic"]
    assert topics and topics[0]["content"]["topic"] == "changed in the gap"
    page = await bob.get(
        f"/rooms/{room}/messages", params={"from": section["timeline"]["prev_batch"], "limit": "1"}
    )
    assert page["chunk"][0]["content"]["body"] == "2"


async def test_invite_and_leave_sections(hs: HomeserverUnderTest) -> None:
    alice, carol = await hs.register("alice"), await hs.register("carol")
    since = (await carol.get("/sync"))["next_batch"]
    room = (await alice.post("/createRoom", {"name": "Private", "invite": [carol.user_id]}))["room_id"]
    body = await carol.get("/sync", params={"since": since})
    invite_state = body["rooms"]["invite"][room]["invite_state"]["events"]
    assert {e["type"] for e in invite_state} >= {"m.room.create", "m.room.name", "m.room.member"}
    await carol.post(f"/rooms/{room}/join")
    await carol.post(f"/rooms/{room}/leave")
    body2 = await carol.get("/sync", params={"since": body["next_batch"]})
    assert room in body2["rooms"]["leave"]
    assert room not in body2["rooms"]["join"]


async def test_account_data_in_sync(hs: HomeserverUnderTest) -> None:
    alice, _, room = await _room_with(hs)
    since = (await alice.get("/sync"))["next_batch"]
    await alice.put(f"/user/{alice.user_id}/account_data/org.example.a", {"x": 1})
    await alice.put(f"/user/{alice.user_id}/rooms/{room}/account_data/org.example.r", {"y": 2})
    body = await alice.get("/sync", params={"since": since})
    assert {"type": "org.example.a", "content": {"x": 1}} in body["account_data"]["events"]
    room_data = body["rooms"]["join"][room]["account_data"]["events"]
    assert {"type": "org.example.r", "content": {"y": 2}} in room_data


async def test_stored_filter_round_trip_and_use(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    definition = {"room": {"timeline": {"limit": 1}}}
    filter_id = (await bob.post(f"/user/{bob.user_id}/filter", definition))["filter_id"]
    assert await bob.get(f"/user/{bob.user_id}/filter/{filter_id}") == definition
    await alice.put(f"/rooms/{room}/send/m.room.message/f1", {"msgtype": "m.text", "body": "only"})
    body = await bob.get("/sync", params={"filter": filter_id})
    assert [e["content"].get("body") for e in body["rooms"]["join"][room]["timeline"]["events"]] == ["only"]


async def test_bad_sync_input(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    for params, code in [
        ({"since": "garbage"}, "M_INVALID_PARAM"),
        ({"timeout": "soon"}, "M_INVALID_PARAM"),
        ({"full_state": "maybe"}, "M_INVALID_PARAM"),
        ({"filter": "{not json"}, "M_BAD_JSON"),
        ({"filter": '{"room": 5}'}, "M_BAD_JSON"),
        ({"set_presence": "dancing"}, "M_INVALID_PARAM"),
    ]:
        err = await alice.get("/sync", params=params, expect=400)
        assert err["errcode"] == code, params
    err = await alice.get("/sync", params={"filter": "12345"}, expect=404)
    assert err["errcode"] == "M_NOT_FOUND"
    bob = await hs.register("bob")
    err = await alice.post(f"/user/{bob.user_id}/filter", {}, expect=403)
    assert err["errcode"] == "M_FORBIDDEN"
    err = await alice.post(
        f"/user/{alice.user_id}/filter", {"room": {"timeline": {"limit": "x"}}}, expect=400
    )
    assert err["errcode"] == "M_BAD_JSON"


async def test_ignored_sender_messages_are_not_synced(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    await bob.put(
        f"/user/{bob.user_id}/account_data/m.ignored_user_list", {"ignored_users": {alice.user_id: {}}}
    )
    since = (await bob.get("/sync"))["next_batch"]
    await alice.put(f"/rooms/{room}/send/m.room.message/i1", {"msgtype": "m.text", "body": "hidden"})
    await alice.put(f"/rooms/{room}/state/m.room.topic", {"topic": "state still shows"})
    body = await bob.get("/sync", params={"since": since})
    events = body["rooms"]["join"][room]["timeline"]["events"]
    assert [e["type"] for e in events] == ["m.room.topic"]


async def test_thread_summary_bundled_in_sync(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    root = await alice.put(f"/rooms/{room}/send/m.room.message/r0", {"msgtype": "m.text", "body": "root"})
    await bob.put(
        f"/rooms/{room}/send/m.room.message/r1",
        {
            "msgtype": "m.text",
            "body": "reply",
            "m.relates_to": {"rel_type": "m.thread", "event_id": root["event_id"]},
        },
    )
    timeline = (await alice.get("/sync"))["rooms"]["join"][room]["timeline"]["events"]
    served_root = next(e for e in timeline if e["event_id"] == root["event_id"])
    assert served_root["unsigned"]["m.relations"]["m.thread"]["count"] == 1
