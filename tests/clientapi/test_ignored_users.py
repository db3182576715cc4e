"""Ignoring users (spec: "Ignoring Users"): m.ignored_user_list hides their non-state events
from /messages and /context."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from homeserver.appkeys import ACCOUNT_DATA
from homeserver.ids import UserID
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

_txn = itertools.count()


async def say(client: MatrixClient, room: str, body: str) -> str:
    sent = await client.put(
        f"/rooms/{room}/send/m.room.message/i{next(_txn)}", {"msgtype": "m.text", "body": body}
    )
    return str(sent["event_id"])


async def ignore(client: MatrixClient, *users: str | None) -> None:
    content = {"ignored_users": {u: {} for u in users}}
    await client.put(f"/user/{client.user_id}/account_data/m.ignored_user_list", content)


async def bodies(client: MatrixClient, room: str, **params: Any) -> list[str]:
    page = await client.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "50", **params})
    return [e["content"]["body"] for e in page["chunk"] if e["type"] == "m.room.message"]


async def three_in_a_room(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, MatrixClient, str]:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    levels = {"events": {"m.room.topic": 0}}  # anyone may set the topic
    body = {"preset": "public_chat", "power_level_content_override": levels}
    room = (await alice.post("/createRoom", body))["room_id"]
    await bob.post(f"/join/{room}")
    await carol.post(f"/join/{room}")
    return alice, bob, carol, room


async def test_ignored_users_messages_are_hidden_but_not_their_state(hs: HomeserverUnderTest) -> None:
    alice, bob, carol, room = await three_in_a_room(hs)
    await say(bob, room, "bob 1")
    await say(carol, room, "carol 1")
    await bob.put(f"/rooms/{room}/state/m.room.topic", {"topic": "set by bob"})
    await say(bob, room, "bob 2")
    assert await bodies(alice, room) == ["bob 2", "carol 1", "bob 1"]

    await ignore(alice, bob.user_id)

    assert await bodies(alice, room) == ["carol 1"]
    page = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "50"})
    from_bob = [e for e in page["chunk"] if e["sender"] == bob.user_id]
    assert from_bob and all("state_key" in e for e in from_bob)  # his topic and his join stay
    assert any(e["type"] == "m.room.topic" for e in from_bob)
    assert await bodies(bob, room) == ["bob 2", "carol 1", "bob 1"]  # only alice ignores bob
    assert await bodies(carol, room) == ["bob 2", "carol 1", "bob 1"]

    await ignore(alice)  # un-ignore
    assert await bodies(alice, room) == ["bob 2", "carol 1", "bob 1"]


async def test_pages_fill_up_past_ignored_messages(hs: HomeserverUnderTest) -> None:
    alice, bob, carol, room = await three_in_a_room(hs)
    for i in range(3):
        await say(carol, room, f"carol {i}")
        for j in range(6):
            await say(bob, room, f"bob {i}.{j}")
    await ignore(alice, bob.user_id)
    filt = orjson.dumps({"types": ["m.room.message"]}).decode()
    first = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "2", "filter": filt})
    assert [e["content"]["body"] for e in first["chunk"]] == ["carol 2", "carol 1"]
    second = await alice.get(
        f"/rooms/{room}/messages", params={"dir": "b", "limit": "2", "filter": filt, "from": first["end"]}
    )
    assert [e["content"]["body"] for e in second["chunk"]] == ["carol 0"]


async def test_context_hides_ignored_users(hs: HomeserverUnderTest) -> None:
    alice, bob, carol, room = await three_in_a_room(hs)
    await say(carol, room, "carol before")
    await say(bob, room, "bob before")
    middle = await say(carol, room, "carol middle")
    await say(bob, room, "bob after")
    await say(carol, room, "carol after")
    await ignore(alice, bob.user_id)

    ctx = await alice.get(f"/rooms/{room}/context/{middle}", params={"limit": "2"})
    assert ctx["event"]["event_id"] == middle
    assert [e["content"]["body"] for e in ctx["events_before"]] == ["carol before"]
    assert [e["content"]["body"] for e in ctx["events_after"]] == ["carol after"]

    bobs = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "1"})
    assert bobs["chunk"][0]["sender"] == carol.user_id


async def test_ignoring_oneself_hides_nothing(hs: HomeserverUnderTest) -> None:
    alice, _, _, room = await three_in_a_room(hs)
    await say(alice, room, "mine")
    await ignore(alice, alice.user_id)
    assert await bodies(alice, room) == ["mine"]


@pytest.mark.parametrize(
    "content",
    [
        {},
        {"ignored_users": []},
        {"ignored_users": None},
        {"ignored_users": "@bob:localhost"},
        {"ignored_users": {"bob": {}}},
        {"ignored_users": {"@bob:localhost": []}},
        {"ignored_users": {"@bob:localhost": True}},
        {"ignored_users": {"": {}}},
    ],
)
async def test_malformed_ignored_user_lists_are_refused(hs: HomeserverUnderTest, content: Any) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await ignore(alice, bob.user_id)
    path = f"/user/{alice.user_id}/account_data/m.ignored_user_list"
    assert_error(await alice.put(path, content, expect=400), "M_BAD_JSON")
    assert await alice.get(path) == {"ignored_users": {bob.user_id: {}}}
    assert alice.user_id is not None
    assert await hs.app[ACCOUNT_DATA].ignored_users(UserID(alice.user_id)) == {bob.user_id}


async def test_ignored_user_list_in_a_room_is_not_checked(hs: HomeserverUnderTest) -> None:
    """The list means something only as global account data; per room it is plain data."""
    alice, bob, _, room = await three_in_a_room(hs)
    await say(bob, room, "still here")
    await alice.put(f"/user/{alice.user_id}/rooms/{room}/account_data/m.ignored_user_list", {"x": 1})
    await alice.put(
        f"/user/{alice.user_id}/rooms/{room}/account_data/m.ignored_user_list",
        {"ignored_users": {bob.user_id: {}}},
    )
    assert await bodies(alice, room) == ["still here"]
