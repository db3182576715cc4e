"""Unread counts over an event's life: a redaction takes its target's notification away, an
edit (m.replace) never notifies, a user's own messages never count, leaving a room drops its
counts (and rejoining does not bring old ones back), and an older m.read receipt moves
nothing back. Through /sync and GET /notifications, as a client sees them."""

from __future__ import annotations

from typing import Any

from tests.clientapi.relation_helpers import redact
from tests.clientapi.test_notifications import _counts, _room, _send
from tests.helpers import HomeserverUnderTest

ZERO = {"notification_count": 0, "highlight_count": 0}


async def _notified(client: Any) -> list[str]:
    return [n["event"]["event_id"] for n in (await client.get("/notifications"))["notifications"]]


async def test_a_redacted_event_no_longer_counts_or_lists(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    token = (await bob.get("/sync"))["next_batch"]
    await _send(alice, room, "one")
    mention = await _send(alice, room, "two", **{"m.mentions": {"user_ids": [bob.user_id]}})
    body = await bob.get("/sync", params={"since": token})  # counts now held in memory
    assert _counts(body, room) == {"notification_count": 2, "highlight_count": 1}
    await redact(alice, room, mention)
    body = await bob.get("/sync", params={"since": body["next_batch"]})
    assert _counts(body, room) == {"notification_count": 1, "highlight_count": 0}
    assert mention not in await _notified(bob)
    assert len(await _notified(bob)) == 1


async def test_an_edit_does_not_notify_unless_it_newly_mentions(hs: HomeserverUnderTest) -> None:
    """Spec ("Edits of events with mentions"): the top-level m.mentions of an edit holds only
    who this revision newly mentions; .m.rule.suppress_edits silences the rest. (An edit
    without m.mentions whose body names bob still highlights: the legacy display-name rule
    is an override rule ahead of suppress_edits.)"""
    alice, bob, room = await _room(hs)
    token = (await bob.get("/sync"))["next_batch"]
    original = await _send(alice, room, "hello")
    relates = {"m.relates_to": {"rel_type": "m.replace", "event_id": original}}
    new_content = {"msgtype": "m.text", "body": "hello bob", "m.mentions": {"user_ids": [bob.user_id]}}
    await _send(alice, room, "* hello bob", **relates, **{"m.new_content": new_content, "m.mentions": {}})
    await _send(alice, room, "* hello there", **relates, **{"m.new_content": {**new_content, "body": "x"}})
    body = await bob.get("/sync", params={"since": token})
    assert _counts(body, room) == {"notification_count": 1, "highlight_count": 0}
    assert await _notified(bob) == [original]
    newly = await _send(
        alice,
        room,
        "* hi bob",
        **relates,
        **{"m.new_content": new_content, "m.mentions": new_content["m.mentions"]},
    )
    body = await bob.get("/sync", params={"since": body["next_batch"]})
    assert _counts(body, room) == {"notification_count": 2, "highlight_count": 1}
    assert await _notified(bob) == [newly, original]


async def test_own_messages_never_count(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    await _send(alice, room, "from alice")
    await _send(bob, room, f"bob here, mentioning myself {bob.user_id}")
    await _send(bob, room, "@room", **{"m.mentions": {"room": True}})
    assert _counts(await bob.get("/sync"), room) == {"notification_count": 1, "highlight_count": 0}
    assert len(await _notified(bob)) == 1


async def test_leaving_drops_the_counts_and_rejoining_does_not_bring_them_back(
    hs: HomeserverUnderTest,
) -> None:
    alice, bob, room = await _room(hs)
    token = (await bob.get("/sync"))["next_batch"]
    await _send(alice, room, "one bob")
    body = await bob.get("/sync", params={"since": token})
    assert _counts(body, room)["notification_count"] == 1
    await bob.post(f"/rooms/{room}/leave", {})
    await _send(alice, room, "two, after bob left")
    left = await bob.get("/sync", params={"since": body["next_batch"]})
    assert room in left["rooms"]["leave"]
    assert "unread_notifications" not in left["rooms"]["leave"][room]
    listed = (await bob.get("/notifications"))["notifications"]
    assert [n["read"] for n in listed] == [True]  # marked read when bob left
    await bob.post(f"/join/{room}")
    assert _counts(await bob.get("/sync", params={"since": left["next_batch"]}), room) == ZERO
    await _send(alice, room, "three")
    assert _counts(await bob.get("/sync"), room)["notification_count"] == 1


async def test_an_older_m_read_receipt_does_not_move_the_read_position_back(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    first = await _send(alice, room, "one")
    second = await _send(alice, room, "two")
    await _send(alice, room, "three")
    await bob.post(f"/rooms/{room}/receipt/m.read/{second}", {})
    assert _counts(await bob.get("/sync"), room)["notification_count"] == 1
    await bob.post(f"/rooms/{room}/receipt/m.read/{first}", {})  # older: ignored
    assert _counts(await bob.get("/sync"), room)["notification_count"] == 1
    read = {n["event"]["event_id"]: n["read"] for n in (await bob.get("/notifications"))["notifications"]}
    assert read == {first: True, second: True, **{k: False for k in read if k not in (first, second)}}
    assert sorted(read.values()) == [False, True, True]
