"""The ephemeral streams as /sync assembles them: typing and receipts per room (also for a
room joined since the token), the ephemeral filter, to-device delivery and its acknowledgement,
and the sections every response carries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from homeserver.appkeys import NOTIFIER
from homeserver.sync.tokens import SyncToken
from tests.clientapi.e2e_helpers import Device
from tests.helpers import HomeserverUnderTest, MatrixClient


async def _room(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    return alice, bob, room


def _ephemeral(body: dict[str, Any], room: str) -> dict[str, dict[str, Any]]:
    events = body["rooms"]["join"][room]["ephemeral"]["events"]
    return {e["type"]: e["content"] for e in events}


async def test_room_joined_since_the_token_brings_its_current_receipts_and_typing(
    hs: HomeserverUnderTest,
) -> None:
    alice, bob, room = await _room(hs)
    sent = await alice.put(f"/rooms/{room}/send/m.room.message/1", {"msgtype": "m.text", "body": "hi"})
    await alice.post(f"/rooms/{room}/receipt/m.read/{sent['event_id']}", {})
    await alice.put(f"/rooms/{room}/typing/{alice.user_id}", {"typing": True, "timeout": 60000})
    since = (await bob.get("/sync"))["next_batch"]  # bob is in no room yet
    await bob.post(f"/join/{room}")
    body = await bob.get("/sync", params={"since": since})
    ephemeral = _ephemeral(body, room)
    assert ephemeral["m.typing"] == {"user_ids": [alice.user_id]}
    assert alice.user_id in ephemeral["m.receipt"][sent["event_id"]]["m.read"]


async def test_incremental_sync_carries_only_new_receipts(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    await bob.post(f"/join/{room}")
    first = await alice.put(f"/rooms/{room}/send/m.room.message/1", {"msgtype": "m.text", "body": "a"})
    await alice.post(f"/rooms/{room}/receipt/m.read/{first['event_id']}", {})
    since = (await bob.get("/sync"))["next_batch"]
    second = await alice.put(f"/rooms/{room}/send/m.room.message/2", {"msgtype": "m.text", "body": "b"})
    await bob.post(f"/rooms/{room}/receipt/m.read/{second['event_id']}", {})
    receipts = _ephemeral(await bob.get("/sync", params={"since": since}), room)["m.receipt"]
    assert list(receipts) == [second["event_id"]]
    assert list(receipts[second["event_id"]]["m.read"]) == [bob.user_id]


async def test_ephemeral_filter_keeps_only_the_types_asked_for(hs: HomeserverUnderTest) -> None:
    alice, _, room = await _room(hs)
    sent = await alice.put(f"/rooms/{room}/send/m.room.message/1", {"msgtype": "m.text", "body": "x"})
    await alice.post(f"/rooms/{room}/receipt/m.read/{sent['event_id']}", {})
    await alice.put(f"/rooms/{room}/typing/{alice.user_id}", {"typing": True})
    only_receipts = json.dumps({"room": {"ephemeral": {"types": ["m.receipt"]}}})
    assert set(_ephemeral(await alice.get("/sync", params={"filter": only_receipts}), room)) == {"m.receipt"}
    assert set(_ephemeral(await alice.get("/sync"), room)) == {"m.receipt", "m.typing"}


async def test_typing_alone_wakes_a_long_poll_and_reports_the_stop(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    await bob.post(f"/join/{room}")
    since = (await bob.get("/sync"))["next_batch"]
    poll = asyncio.create_task(bob.get("/sync", params={"since": since, "timeout": "30000"}))
    await asyncio.sleep(0)
    await alice.put(f"/rooms/{room}/typing/{alice.user_id}", {"typing": True})
    woke = await asyncio.wait_for(poll, 20)
    assert _ephemeral(woke, room)["m.typing"] == {"user_ids": [alice.user_id]}
    assert woke["rooms"]["join"][room]["timeline"]["events"] == []
    await alice.put(f"/rooms/{room}/typing/{alice.user_id}", {"typing": False})
    stopped = await bob.get("/sync", params={"since": woke["next_batch"]})
    assert _ephemeral(stopped, room)["m.typing"] == {"user_ids": []}


async def test_to_device_is_delivered_once_and_the_token_moves_past_it(hs: HomeserverUnderTest) -> None:
    alice, bob, _ = await _room(hs)
    since = (await bob.get("/sync"))["next_batch"]
    poll = asyncio.create_task(bob.get("/sync", params={"since": since, "timeout": "30000"}))
    await asyncio.sleep(0)
    content = {"algorithm": "m.olm.v1", "secret": "ü"}
    await alice.put("/sendToDevice/m.room.encrypted/t1", {"messages": {bob.user_id: {"*": content}}})
    woke = await asyncio.wait_for(poll, 20)
    assert woke["to_device"]["events"] == [
        {"sender": alice.user_id, "type": "m.room.encrypted", "content": content}
    ]
    token = SyncToken.parse(woke["next_batch"])
    assert token.to_device > SyncToken.parse(since).to_device
    again = await bob.get("/sync", params={"since": woke["next_batch"]})
    assert again["to_device"]["events"] == []


async def test_every_response_has_the_stream_sections(hs: HomeserverUnderTest) -> None:
    alice, _, _ = await _room(hs)
    first = await alice.get("/sync")
    empty = await alice.get("/sync", params={"since": first["next_batch"], "timeout": "0"})
    for body in (first, empty):
        assert set(body) >= {
            "next_batch",
            "rooms",
            "account_data",
            "presence",
            "to_device",
            "device_lists",
            "device_one_time_keys_count",
            "device_unused_fallback_key_types",
        }
        assert body["device_lists"] == {"changed": [], "left": []}
        assert len(body["next_batch"].split("_")) == 7


async def test_initial_sync_carries_the_push_rules_even_if_never_changed(hs: HomeserverUnderTest) -> None:
    alice, _, _ = await _room(hs)
    body = await alice.get("/sync")
    rules = [e for e in body["account_data"]["events"] if e["type"] == "m.push_rules"]
    assert len(rules) == 1
    assert rules[0]["content"] == await alice.get("/pushrules/")
    override_ids = [r["rule_id"] for r in rules[0]["content"]["global"]["override"]]
    assert ".m.rule.master" in override_ids
    later = await alice.get("/sync", params={"since": body["next_batch"]})
    assert later["account_data"]["events"] == []  # only again once changed


async def test_invite_state_names_the_inviter_for_dm_clients(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await alice.put(f"/profile/{alice.user_id}/displayname", {"displayname": "Alice A."})
    room = (await alice.post("/createRoom", {"is_direct": True, "invite": [bob.user_id]}))["room_id"]
    state = (await bob.get("/sync"))["rooms"]["invite"][room]["invite_state"]["events"]
    members = {e["state_key"]: e for e in state if e["type"] == "m.room.member"}
    assert members[bob.user_id]["content"]["membership"] == "invite"
    assert members[alice.user_id]["content"] == {"membership": "join", "displayname": "Alice A."}
    assert all(set(e) == {"type", "state_key", "content", "sender"} for e in state)


async def test_one_time_key_counts_follow_uploads_and_claims(hs: HomeserverUnderTest) -> None:
    alice, bob, _ = await _room(hs)
    first = await alice.get("/sync")
    assert first["device_one_time_keys_count"] == {"signed_curve25519": 0}
    assert first["device_unused_fallback_key_types"] == []
    device = Device(alice)  # signed keys must be signed by the device
    fallback = {"signed_curve25519:FB": device.otk("FB", fallback=True)}
    await device.upload(one_time_keys=device.otks("K0", "K1", "K2"), fallback_keys=fallback)
    body = await alice.get("/sync", params={"since": first["next_batch"]})
    assert body["device_one_time_keys_count"] == {"signed_curve25519": 3}
    assert body["device_unused_fallback_key_types"] == ["signed_curve25519"]
    claim = {"one_time_keys": {alice.user_id: {alice.device_id: "signed_curve25519"}}}
    await bob.post("/keys/claim", claim)
    after_claim = await alice.get("/sync", params={"since": body["next_batch"]})
    assert after_claim["device_one_time_keys_count"] == {"signed_curve25519": 2}


async def test_shutdown_answers_a_long_poll_instead_of_holding_it(hs: HomeserverUnderTest) -> None:
    alice, _, _ = await _room(hs)
    since = (await alice.get("/sync"))["next_batch"]
    notifier = hs.app[NOTIFIER]
    waiting, wait_for = asyncio.Event(), notifier.wait_for

    async def noted_wait(user_id: str, rooms: Any, timeout_s: float) -> bool:
        waiting.set()
        return await wait_for(user_id, rooms, timeout_s)

    notifier.wait_for = noted_wait  # type: ignore[method-assign]
    poll = asyncio.create_task(alice.get("/sync", params={"since": since, "timeout": "60000"}))
    await asyncio.wait_for(waiting.wait(), 20)  # the poll waits (it would hold 60 s)
    notifier.close()  # what the app's on_shutdown does
    body = await asyncio.wait_for(poll, 20)
    assert body["next_batch"] and body["rooms"]["join"] == {}
