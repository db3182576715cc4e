"""Unread notification counts in /sync (mentions highlight, plain messages only notify),
cleared by read receipts, per thread; GET /notifications paging and only=highlight."""

from __future__ import annotations

from typing import Any

from tests.clientapi.test_sync_queries import statements
from tests.helpers import HomeserverUnderTest, MatrixClient

THREADED = '{"room": {"timeline": {"unread_thread_notifications": true}}}'


async def _room(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await bob.post(f"/join/{room}")
    return alice, bob, room


async def _send(client: MatrixClient, room: str, body: str, **extra: Any) -> str:
    content = {"msgtype": "m.text", "body": body, **extra}
    txn = f"t{abs(hash((body, str(extra))))}"
    return str((await client.put(f"/rooms/{room}/send/m.room.message/{txn}", content))["event_id"])


def _counts(body: dict[str, Any], room: str) -> dict[str, int]:
    return dict(body["rooms"]["join"][room]["unread_notifications"])


async def test_mentions_highlight_plain_messages_only_notify(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    await _send(alice, room, "hello")
    await _send(alice, room, "hi bob", **{"m.mentions": {"user_ids": [bob.user_id]}})
    await _send(alice, room, "ping bob")  # the legacy user-name rule: bob's localpart
    body = await bob.get("/sync")
    assert _counts(body, room) == {"notification_count": 3, "highlight_count": 2}
    # The sender is never notified of their own messages.
    assert _counts(await alice.get("/sync"), room) == {"notification_count": 0, "highlight_count": 0}


async def test_m_mentions_switches_off_body_rules(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    await _send(alice, room, "bob bob bob", **{"m.mentions": {}})
    assert _counts(await bob.get("/sync"), room) == {"notification_count": 1, "highlight_count": 0}


async def test_counts_move_in_incremental_sync_and_a_receipt_clears_them(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    token = (await bob.get("/sync"))["next_batch"]
    await _send(alice, room, "one")
    last = await _send(alice, room, "two", **{"m.mentions": {"user_ids": [bob.user_id]}})
    body = await bob.get("/sync", params={"since": token})
    assert _counts(body, room) == {"notification_count": 2, "highlight_count": 1}
    await bob.post(f"/rooms/{room}/receipt/m.read/{last}", {})
    body = await bob.get("/sync", params={"since": body["next_batch"]})
    assert _counts(body, room) == {"notification_count": 0, "highlight_count": 0}
    await _send(alice, room, "three")
    assert _counts(await bob.get("/sync"), room) == {"notification_count": 1, "highlight_count": 0}


async def test_private_receipt_clears_and_an_older_receipt_changes_nothing(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    first = await _send(alice, room, "one")
    second = await _send(alice, room, "two")
    await bob.post(f"/rooms/{room}/receipt/m.read.private/{second}", {})
    assert _counts(await bob.get("/sync"), room)["notification_count"] == 0
    await bob.post(f"/rooms/{room}/receipt/m.read/{first}", {})  # behind the private one
    await _send(alice, room, "three")
    assert _counts(await bob.get("/sync"), room)["notification_count"] == 1


async def test_a_receipt_in_the_middle_leaves_the_later_ones(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    first = await _send(alice, room, "one")
    await _send(alice, room, "two")
    await _send(alice, room, "three bob")
    await bob.post(f"/rooms/{room}/receipt/m.read/{first}", {})
    assert _counts(await bob.get("/sync"), room) == {"notification_count": 2, "highlight_count": 1}


async def test_thread_counts_and_threaded_receipts(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    root = await _send(alice, room, "root")
    thread = {"m.relates_to": {"rel_type": "m.thread", "event_id": root}}
    await _send(alice, room, "in thread", **thread)
    last_in_thread = await _send(alice, room, "in thread bob", **thread)
    body = await bob.get("/sync", params={"filter": THREADED})
    section = body["rooms"]["join"][room]
    assert section["unread_notifications"] == {"notification_count": 1, "highlight_count": 0}
    assert section["unread_thread_notifications"] == {root: {"notification_count": 2, "highlight_count": 1}}
    # Without the filter flag, the room's counts hold every thread.
    assert _counts(await bob.get("/sync"), room) == {"notification_count": 3, "highlight_count": 1}
    # A threaded receipt clears only its thread.
    await bob.post(f"/rooms/{room}/receipt/m.read/{last_in_thread}", {"thread_id": root})
    section = (await bob.get("/sync", params={"filter": THREADED}))["rooms"]["join"][room]
    assert section["unread_notifications"] == {"notification_count": 1, "highlight_count": 0}
    assert "unread_thread_notifications" not in section
    # An unthreaded receipt clears everything up to its event.
    await bob.post(f"/rooms/{room}/receipt/m.read/{last_in_thread}", {})
    assert _counts(await bob.get("/sync"), room) == {"notification_count": 0, "highlight_count": 0}


async def test_main_thread_receipt_leaves_threads(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    root = await _send(alice, room, "root")
    await _send(alice, room, "in thread", **{"m.relates_to": {"rel_type": "m.thread", "event_id": root}})
    latest_main = await _send(alice, room, "main again")
    await bob.post(f"/rooms/{room}/receipt/m.read/{latest_main}", {"thread_id": "main"})
    section = (await bob.get("/sync", params={"filter": THREADED}))["rooms"]["join"][room]
    assert section["unread_notifications"]["notification_count"] == 0
    assert section["unread_thread_notifications"][root]["notification_count"] == 1


async def test_live_incremental_sync_with_new_counts_runs_no_query(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    token = (await bob.get("/sync"))["next_batch"]
    await _send(alice, room, "warm up")
    token = (await bob.get("/sync", params={"since": token}))["next_batch"]
    await _send(alice, room, "hey bob")
    with statements(hs) as seen:
        body = await bob.get("/sync", params={"since": token})
    assert _counts(body, room) == {"notification_count": 2, "highlight_count": 1}
    assert seen == []


async def test_mentions_only_room_rule_and_muting_override(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    # Mentions only: a room rule without actions; content and override rules still apply.
    await bob.put(f"/pushrules/global/room/{room}", {"actions": []})
    await _send(alice, room, "quiet")
    await _send(alice, room, "hey bob")
    assert _counts(await bob.get("/sync"), room) == {"notification_count": 1, "highlight_count": 1}
    await bob.put(f"/pushrules/global/room/{room}/enabled", {"enabled": False})
    await _send(alice, room, "loud")
    assert _counts(await bob.get("/sync"), room)["notification_count"] == 2
    # Mute: an override rule matching the room, above the mention rules.
    mute = {"actions": [], "conditions": [{"kind": "event_match", "key": "room_id", "pattern": room}]}
    await bob.put("/pushrules/global/override/mute", mute)
    await _send(alice, room, "hey bob, again")
    assert _counts(await bob.get("/sync"), room)["notification_count"] == 2


async def test_invite_is_a_notification(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"invite": [bob.user_id]}))["room_id"]
    page = await bob.get("/notifications")
    assert [(n["room_id"], n["event"]["type"]) for n in page["notifications"]] == [(room, "m.room.member")]


async def test_notifications_paging_and_only_highlight(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    sent = [await _send(alice, room, f"message {n}") for n in range(5)]
    mention = await _send(alice, room, "hey", **{"m.mentions": {"user_ids": [bob.user_id]}})
    await bob.post(f"/rooms/{room}/receipt/m.read/{sent[1]}", {})
    seen: list[dict[str, Any]] = []
    page = await bob.get("/notifications", params={"limit": "4"})
    seen += page["notifications"]
    assert len(page["notifications"]) == 4 and "next_token" in page
    page = await bob.get("/notifications", params={"limit": "4", "from": page["next_token"]})
    seen += page["notifications"]
    assert [n["event"]["event_id"] for n in seen] == [mention, *reversed(sent)]
    assert [n["read"] for n in seen] == [False, False, False, False, True, True]
    first = seen[0]
    assert first["room_id"] == room and isinstance(first["ts"], int)
    assert {"set_tweak": "highlight"} in first["actions"] and "notify" in first["actions"]
    only = await bob.get("/notifications", params={"only": "highlight"})
    assert [n["event"]["event_id"] for n in only["notifications"]] == [mention]
    assert "next_token" not in only
    assert (await alice.get("/notifications"))["notifications"] == []


async def test_notifications_bad_input(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    for params in (
        {"limit": "x"},
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "99999999999999999999999"},
        {"from": "abc"},
        {"from": "1" * 40},
        {"only": "everything"},
    ):
        err = await bob.get("/notifications", params=params, expect=400)
        assert err["errcode"] == "M_INVALID_PARAM", params
    assert (await hs.client().get("/notifications", expect=401))["errcode"] == "M_MISSING_TOKEN"
    huge = await bob.get("/notifications", params={"limit": "1000000"})
    assert huge == {"notifications": []}


async def test_ignored_users_do_not_notify(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    await bob.put(
        f"/user/{bob.user_id}/account_data/m.ignored_user_list", {"ignored_users": {alice.user_id: {}}}
    )
    await _send(alice, room, "hey bob")
    assert _counts(await bob.get("/sync"), room) == {"notification_count": 0, "highlight_count": 0}
    await bob.put(f"/user/{bob.user_id}/account_data/m.ignored_user_list", {"ignored_users": {}})
    await _send(alice, room, "hey bob again")
    assert _counts(await bob.get("/sync"), room) == {"notification_count": 1, "highlight_count": 1}


async def test_someone_elses_receipt_does_not_read_the_counts_again(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    token = (await bob.get("/sync"))["next_batch"]
    sent = await _send(alice, room, "hello")
    await _send(bob, room, "hi")
    token = (await bob.get("/sync", params={"since": token}))["next_batch"]
    await alice.post(f"/rooms/{room}/receipt/m.read/{sent}", {})
    with statements(hs) as seen:
        body = await bob.get("/sync", params={"since": token})
    assert body["rooms"]["join"][room]["ephemeral"]["events"][0]["type"] == "m.receipt"
    assert _counts(body, room) == {"notification_count": 1, "highlight_count": 0}
    assert not [s for s in seen if "push_events" in s or "push_user_actions" in s]
