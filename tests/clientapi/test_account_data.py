"""Account data, global and per room (spec: "Client Config"), and direct chats (m.direct)."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.appkeys import ACCOUNT_DATA, NOTIFIER
from homeserver.ids import RoomID, UserID
from homeserver.storage.account_data import AccountDataStore
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

CONFIG_TYPE = "org.example.custom.config"


async def stored(hs: HomeserverUnderTest, user: MatrixClient, data_type: str, room: str | None = None) -> Any:
    """What the database holds, read beneath the API."""
    store: AccountDataStore = hs.app[ACCOUNT_DATA]._store
    assert user.user_id is not None
    return await store.get(UserID(user.user_id), RoomID(room) if room else None, data_type)


async def new_room(client: MatrixClient, **body: Any) -> str:
    room_id = (await client.post("/createRoom", body))["room_id"]
    assert isinstance(room_id, str)
    return room_id


async def test_global_account_data_round_trip(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    path = f"/user/{alice.user_id}/account_data/{CONFIG_TYPE}"
    err = await alice.get(path, expect=404)
    assert_error(err, "M_NOT_FOUND")

    assert await alice.put(path, {"theme": "dark", "n": [1, 2.5, None]}) == {}
    assert await alice.get(path) == {"theme": "dark", "n": [1, 2.5, None]}

    await alice.put(path, {"theme": "light"})  # replaces, does not merge
    assert await alice.get(path) == {"theme": "light"}
    assert await alice.get(f"/_matrix/client/r0/user/{alice.user_id}/account_data/{CONFIG_TYPE}") == {
        "theme": "light"
    }


async def test_room_account_data_is_separate_from_global(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    room_path = f"/user/{alice.user_id}/rooms/{room}/account_data/{CONFIG_TYPE}"
    global_path = f"/user/{alice.user_id}/account_data/{CONFIG_TYPE}"

    await alice.put(global_path, {"scope": "global"})
    assert_error(await alice.get(room_path, expect=404), "M_NOT_FOUND")  # no fallback to global

    await alice.put(room_path, {"scope": "room"})
    assert await alice.get(room_path) == {"scope": "room"}
    assert await alice.get(global_path) == {"scope": "global"}

    other = await new_room(alice)
    assert_error(
        await alice.get(f"/user/{alice.user_id}/rooms/{other}/account_data/{CONFIG_TYPE}", expect=404),
        "M_NOT_FOUND",
    )


async def test_only_own_account_data(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(bob)
    await bob.put(f"/user/{bob.user_id}/account_data/{CONFIG_TYPE}", {"mine": True})
    await bob.put(f"/user/{bob.user_id}/rooms/{room}/account_data/{CONFIG_TYPE}", {"mine": True})

    for path in (
        f"/user/{bob.user_id}/account_data/{CONFIG_TYPE}",
        f"/user/{bob.user_id}/rooms/{room}/account_data/{CONFIG_TYPE}",
    ):
        assert_error(await alice.get(path, expect=403), "M_FORBIDDEN")
        assert_error(await alice.put(path, {"mine": False}, expect=403), "M_FORBIDDEN")
    assert_error(
        await alice.put(f"/user/@nobody:{hs.config.server_name}/account_data/x", {}, expect=403),
        "M_FORBIDDEN",
    )
    assert await stored(hs, bob, CONFIG_TYPE) == {"mine": True}
    assert await stored(hs, bob, CONFIG_TYPE, room) == {"mine": True}
    assert await stored(hs, alice, CONFIG_TYPE) is None
    await hs.client().get(f"/user/{bob.user_id}/account_data/{CONFIG_TYPE}", expect=401)


@pytest.mark.parametrize("room_scoped", [False, True])
async def test_bad_bodies_change_nothing(hs: HomeserverUnderTest, room_scoped: bool) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    base = f"/user/{alice.user_id}" + (f"/rooms/{room}" if room_scoped else "")
    path = f"{base}/account_data/{CONFIG_TYPE}"
    await alice.put(path, {"v": 1})

    assert_error(await alice.put(path, data=b"{not json", expect=400), "M_NOT_JSON")
    for body in ([1, 2], "text", 42, True):
        assert_error(await alice.put(path, body, expect=400), "M_BAD_JSON")
    big = {"x": "y" * 300_000}
    assert_error(await alice.put(path, big, expect=413), "M_TOO_LARGE")
    for managed in ("m.fully_read", "m.push_rules"):
        err = await alice.put(f"{base}/account_data/{managed}", {"event_id": "$x"}, expect=405)
        assert_error(err, "M_BAD_JSON")
        assert await stored(hs, alice, managed, room if room_scoped else None) is None
    assert_error(await alice.put(f"{base}/account_data/{'t' * 256}", {}, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.put(f"{base}/account_data/a%00b", {}, expect=400), "M_INVALID_PARAM")
    assert await alice.get(path) == {"v": 1}


async def test_room_account_data_needs_a_real_room_and_membership(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(bob)  # alice has never been in it
    unknown = f"!nosuchroom:{hs.config.server_name}"

    err = await alice.put(
        f"/user/{alice.user_id}/rooms/not-a-room/account_data/{CONFIG_TYPE}", {}, expect=400
    )
    assert_error(err, "M_INVALID_PARAM")
    err = await alice.get(f"/user/{alice.user_id}/rooms/not-a-room/account_data/{CONFIG_TYPE}", expect=400)
    assert_error(err, "M_INVALID_PARAM")
    err = await alice.put(f"/user/{alice.user_id}/rooms/{unknown}/account_data/{CONFIG_TYPE}", {}, expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await alice.put(f"/user/{alice.user_id}/rooms/{room}/account_data/{CONFIG_TYPE}", {}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    assert await stored(hs, alice, CONFIG_TYPE, room) is None
    assert await stored(hs, alice, CONFIG_TYPE, unknown) is None

    # Having left still counts: the data stays the user's to manage.
    await bob.post(f"/rooms/{room}/invite", {"user_id": alice.user_id})
    await alice.post(f"/rooms/{room}/join")
    await alice.post(f"/rooms/{room}/leave")
    await alice.put(f"/user/{alice.user_id}/rooms/{room}/account_data/{CONFIG_TYPE}", {"left": True})
    assert await stored(hs, alice, CONFIG_TYPE, room) == {"left": True}


async def test_each_change_gets_a_new_stream_position(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice)
    store: AccountDataStore = hs.app[ACCOUNT_DATA]._store
    assert alice.user_id is not None and bob.user_id is not None
    start = hs.app[NOTIFIER].account_data_stream_position

    await alice.put(f"/user/{alice.user_id}/account_data/a.one", {"n": 1})
    await bob.put(f"/user/{bob.user_id}/account_data/b.one", {"n": 1})
    await alice.put(f"/user/{alice.user_id}/rooms/{room}/account_data/a.room", {"n": 2})
    await alice.put(f"/user/{alice.user_id}/account_data/a.one", {"n": 3})

    changes = await store.changes_since(UserID(alice.user_id), start)
    assert [(c.room_id, c.type, c.content) for c in changes] == [
        (room, "a.room", {"n": 2}),
        (None, "a.one", {"n": 3}),  # once, with its latest content
    ]
    positions = [c.stream_id for c in changes]
    assert positions == sorted(positions) and len(set(positions)) == 2
    assert hs.app[NOTIFIER].account_data_stream_position == start + 4
    assert await store.changes_since(UserID(alice.user_id), positions[-1]) == []
    bob_changes = await store.changes_since(UserID(bob.user_id), start)
    assert [c.type for c in bob_changes] == ["b.one"]
    assert await store.max_stream_id() == start + 4


async def test_direct_chat_flow(hs: HomeserverUnderTest) -> None:
    """Spec "Direct Messaging": alice starts a DM with is_direct, both sides record m.direct."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="trusted_private_chat", is_direct=True, invite=[bob.user_id])

    invite = await alice.get(f"/rooms/{room}/state/m.room.member/{bob.user_id}")
    assert invite["membership"] == "invite" and invite["is_direct"] is True

    await alice.put(f"/user/{alice.user_id}/account_data/m.direct", {bob.user_id: [room]})
    await bob.post(f"/rooms/{room}/join")
    await bob.put(f"/user/{bob.user_id}/account_data/m.direct", {alice.user_id: [room]})

    assert await alice.get(f"/user/{alice.user_id}/account_data/m.direct") == {bob.user_id: [room]}
    assert await bob.get(f"/user/{bob.user_id}/account_data/m.direct") == {alice.user_id: [room]}
    assert_error(await alice.get(f"/user/{bob.user_id}/account_data/m.direct", expect=403), "M_FORBIDDEN")
