"""Presence: GET/PUT /presence/{userId}/status, idleness from the clock, what /sync marks,
who sees whose presence, and long-poll wake-ups."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.appkeys import PRESENCE
from homeserver.errors import InvalidParam
from homeserver.presence import (
    CURRENTLY_ACTIVE_MS,
    IDLE_AFTER_MS,
    MAX_STATUS_MSG_BYTES,
    OFFLINE_AFTER_MS,
    REFRESH_AFTER_MS,
    STALE_AFTER_MS,
)
from tests.clientapi.stream_helpers import FakeClock, shared_room, uid, woken_by
from tests.clientapi.util import assert_error
from tests.clientapi.ws_helpers import sync_socket
from tests.helpers import HomeserverUnderTest, MatrixClient


def _clock(hs: HomeserverUnderTest) -> FakeClock:
    clock = FakeClock()
    hs.app[PRESENCE].clock = clock
    return clock


async def _status(client: MatrixClient, user: MatrixClient, **kw: Any) -> Any:
    return await client.get(f"/presence/{user.user_id}/status", **kw)


async def test_set_and_get_own_presence(hs: HomeserverUnderTest) -> None:
    clock = _clock(hs)
    alice = await hs.register("alice")
    assert (
        await alice.put(f"/presence/{alice.user_id}/status", {"presence": "online", "status_msg": "hi"}) == {}
    )
    clock.advance(1500)
    assert await _status(alice, alice) == {
        "presence": "online",
        "last_active_ago": 1500,
        "currently_active": True,
        "status_msg": "hi",
    }
    # Without status_msg the message is cleared; "unavailable" keeps the last active time.
    clock.advance(500)
    await alice.put(f"/presence/{alice.user_id}/status", {"presence": "unavailable"})
    assert await _status(alice, alice) == {
        "presence": "unavailable",
        "last_active_ago": 2000,
        "currently_active": False,
    }


async def test_user_without_presence_reads_offline(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert await _status(alice, alice) == {"presence": "offline", "currently_active": False}


async def test_cannot_set_someone_elses_presence(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    err = await alice.put(f"/presence/{bob.user_id}/status", {"presence": "online"}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    assert await _status(bob, bob) == {"presence": "offline", "currently_active": False}


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({}, "M_MISSING_PARAM"),
        ({"presence": None}, "M_MISSING_PARAM"),
        ({"presence": "busy"}, "M_INVALID_PARAM"),
        ({"presence": "ONLINE"}, "M_INVALID_PARAM"),
        ({"presence": 1}, "M_INVALID_PARAM"),
        ({"presence": ["online"]}, "M_INVALID_PARAM"),
        ({"presence": "online", "status_msg": 5}, "M_INVALID_PARAM"),
        ({"presence": "online", "status_msg": {"text": "x"}}, "M_INVALID_PARAM"),
        ({"presence": "online", "status_msg": "x" * (MAX_STATUS_MSG_BYTES + 1)}, "M_INVALID_PARAM"),
        ({"presence": "online", "status_msg": "nul\x00"}, "M_INVALID_PARAM"),
    ],
)
async def test_bad_bodies_change_nothing(hs: HomeserverUnderTest, body: dict[str, Any], errcode: str) -> None:
    alice = await hs.register("alice")
    before = hs.app[PRESENCE].position
    assert_error(await alice.put(f"/presence/{alice.user_id}/status", body, expect=400), errcode)
    assert hs.app[PRESENCE].position == before
    assert await _status(alice, alice) == {"presence": "offline", "currently_active": False}


async def test_bad_json_and_bad_user_ids(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    path = f"/presence/{alice.user_id}/status"
    assert_error(await alice.put(path, data=b"{not json", expect=400), "M_NOT_JSON")
    assert_error(await alice.put(path, ["online"], expect=400), "M_BAD_JSON")
    assert_error(
        await alice.put("/presence/alice/status", {"presence": "online"}, expect=400), "M_INVALID_PARAM"
    )
    assert_error(await alice.get("/presence/not-a-user/status", expect=400), "M_INVALID_PARAM")
    assert await _status(alice, alice) == {"presence": "offline", "currently_active": False}


async def test_presence_needs_a_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    anon = hs.client()
    assert_error(await anon.get(f"/presence/{alice.user_id}/status", expect=401), "M_MISSING_TOKEN")
    err = await anon.put(f"/presence/{alice.user_id}/status", {"presence": "online"}, expect=401)
    assert_error(err, "M_MISSING_TOKEN")


async def test_get_needs_a_shared_room(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    await shared_room(alice, bob)
    await alice.put(f"/presence/{alice.user_id}/status", {"presence": "online"})
    assert (await _status(bob, alice))["presence"] == "online"
    assert_error(await _status(carol, alice, expect=403), "M_FORBIDDEN")
    # A user of another server: this one cannot tell whether they exist, only that no room is shared.
    assert_error(await alice.get("/presence/@nobody:elsewhere.example/status", expect=403), "M_FORBIDDEN")
    unknown = f"@nobody:{hs.config.server_name}"
    assert_error(await alice.get(f"/presence/{unknown}/status", expect=404), "M_NOT_FOUND")


async def test_sharing_only_an_invite_is_not_enough(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id})
    assert_error(await _status(bob, alice, expect=403), "M_FORBIDDEN")
    await bob.post(f"/join/{room}")
    await _status(bob, alice)
    await bob.post(f"/rooms/{room}/leave")
    assert_error(await _status(bob, alice, expect=403), "M_FORBIDDEN")


async def test_online_user_goes_idle_with_time(hs: HomeserverUnderTest) -> None:
    clock = _clock(hs)
    alice = await hs.register("alice")
    await alice.put(f"/presence/{alice.user_id}/status", {"presence": "online", "status_msg": "here"})
    clock.advance(CURRENTLY_ACTIVE_MS - 1)
    assert (await _status(alice, alice))["currently_active"] is True
    clock.advance(1)
    assert await _status(alice, alice) == {
        "presence": "online",
        "last_active_ago": CURRENTLY_ACTIVE_MS,
        "currently_active": False,
        "status_msg": "here",
    }
    clock.advance(IDLE_AFTER_MS - CURRENTLY_ACTIVE_MS - 1)
    assert (await _status(alice, alice))["presence"] == "online"
    clock.advance(1)
    body = await _status(alice, alice)
    assert body["presence"] == "unavailable" and body["last_active_ago"] == IDLE_AFTER_MS
    # Activity makes them online again.
    await hs.app[PRESENCE].user_active(uid(alice), "online")
    assert (await _status(alice, alice))["presence"] == "online"


async def test_user_active_writes_only_on_change_and_refreshes_quietly(hs: HomeserverUnderTest) -> None:
    clock = _clock(hs)
    presence = hs.app[PRESENCE]
    alice = await hs.register("alice")
    await presence.user_active(uid(alice), "online")
    first = presence.position
    assert (await _status(alice, alice))["presence"] == "online"
    for _ in range(3):  # syncs within the minute: no write
        clock.advance(REFRESH_AFTER_MS // 4)
        await presence.user_active(uid(alice), "online")
    assert presence.position == first
    clock.advance(REFRESH_AFTER_MS // 4)  # a minute since the last write: refresh the time,
    await presence.user_active(uid(alice), "online")  # but wake nobody (no stream position)
    assert presence.position == first
    assert (await _status(alice, alice))["last_active_ago"] == 0
    # "offline" leaves presence alone; "unavailable" marks the user idle, once.
    second = presence.position
    await presence.user_active(uid(alice), "offline")
    assert presence.position == second
    await presence.user_active(uid(alice), "unavailable")
    assert (await _status(alice, alice))["presence"] == "unavailable"
    third = presence.position
    assert third > second
    await presence.user_active(uid(alice), "unavailable")
    assert presence.position == third
    with pytest.raises(InvalidParam):
        await presence.user_active(uid(alice), "busy")
    assert presence.position == third


async def test_sync_online_keeps_status_message(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await alice.put(f"/presence/{alice.user_id}/status", {"presence": "unavailable", "status_msg": "lunch"})
    await hs.app[PRESENCE].user_active(uid(alice), "online")
    body = await _status(alice, alice)
    assert body["presence"] == "online" and body["status_msg"] == "lunch"


async def test_for_sync_goes_to_those_who_share_a_room(hs: HomeserverUnderTest) -> None:
    clock = _clock(hs)
    presence = hs.app[PRESENCE]
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    await shared_room(alice, bob)
    start = presence.position
    await alice.put(f"/presence/{alice.user_id}/status", {"presence": "online", "status_msg": "hi"})
    clock.advance(10)
    until = presence.position
    expected = {
        "type": "m.presence",
        "sender": alice.user_id,
        "content": {
            "presence": "online",
            "last_active_ago": 10,
            "currently_active": True,
            "status_msg": "hi",
        },
    }
    assert await presence.for_sync(uid(bob), start, until) == [expected]
    assert await presence.for_sync(uid(alice), start, until) == [expected]
    assert await presence.for_sync(uid(carol), start, until) == []
    assert await presence.for_sync(uid(bob), until, until) == []
    # An initial sync (from 0) sees the latest state of each visible user, as of now.
    clock.advance(IDLE_AFTER_MS)
    await bob.put(f"/presence/{bob.user_id}/status", {"presence": "offline"})
    events = await presence.for_sync(uid(alice), 0, presence.position)
    by_sender = {e["sender"]: e["content"]["presence"] for e in events}
    assert by_sender == {alice.user_id: "unavailable", bob.user_id: "offline"}


async def test_for_sync_after_leaving(hs: HomeserverUnderTest) -> None:
    presence = hs.app[PRESENCE]
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await shared_room(alice, bob)
    await bob.post(f"/rooms/{room}/leave")
    start = presence.position
    await alice.put(f"/presence/{alice.user_id}/status", {"presence": "online"})
    assert await presence.for_sync(uid(bob), start, presence.position) == []


async def test_presence_change_wakes_long_polls(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    body = {"presence": "online"}
    assert await woken_by(hs, uid(bob), alice.put(f"/presence/{alice.user_id}/status", body))
    assert await woken_by(hs, uid(alice), alice.put(f"/presence/{alice.user_id}/status", body))
    assert await woken_by(hs, uid(bob), hs.app[PRESENCE].user_active(uid(alice), "unavailable"))


async def test_idle_sweep_tells_watchers_and_leaves_active_users_alone(hs: HomeserverUnderTest) -> None:
    clock = _clock(hs)
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    await shared_room(alice, bob, carol)
    await alice.get("/sync")  # marks alice online
    clock.advance(4 * 60 * 1000)
    await carol.get("/sync")  # carol is online and active four minutes later
    assert await hs.app[PRESENCE].mark_idle() == 0  # nobody idle for five minutes yet
    since = (await bob.get("/sync", params={"set_presence": "offline"}))["next_batch"]
    clock.advance(2 * 60 * 1000)
    assert await woken_by(hs, uid(bob), hs.app[PRESENCE].mark_idle())
    body = await bob.get("/sync", params={"since": since, "set_presence": "offline"})
    states = {e["sender"]: e["content"]["presence"] for e in body["presence"]["events"]}
    assert states == {alice.user_id: "unavailable"}
    assert await hs.app[PRESENCE].mark_idle() == 0  # written once, not every round


async def test_a_refresh_of_online_users_wakes_no_listener(hs: HomeserverUnderTest) -> None:
    """With N users in a room, a wake-up per activity refresh would cost N x N syncs a minute."""
    clock = _clock(hs)
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    await alice.get("/sync")
    since = (await bob.get("/sync"))["next_batch"]
    clock.advance(REFRESH_AFTER_MS)
    poll = bob.get("/sync", params={"since": since, "timeout": "300"})
    await alice.get("/sync")  # refreshes alice's activity time
    assert (await poll)["presence"]["events"] == []
    assert (await _status(bob, alice))["last_active_ago"] == 0


# --- offline: no client syncing -------------------------------------------------------------


async def test_user_goes_offline_once_no_sync_is_running(hs: HomeserverUnderTest) -> None:
    clock = _clock(hs)
    presence = hs.app[PRESENCE]
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    await alice.get("/sync")  # online; the request has ended
    since = (await bob.get("/sync", params={"set_presence": "offline"}))["next_batch"]
    clock.advance(OFFLINE_AFTER_MS - 1)
    assert await presence.mark_offline() == 0  # not yet
    clock.advance(1)
    assert await woken_by(hs, uid(bob), presence.mark_offline())
    assert (await _status(bob, alice))["presence"] == "offline"
    body = await bob.get("/sync", params={"since": since, "set_presence": "offline"})
    states = {e["sender"]: e["content"]["presence"] for e in body["presence"]["events"]}
    assert states == {alice.user_id: "offline"}
    assert await presence.mark_offline() == 0  # written once
    await alice.get("/sync")  # back: online again
    assert (await _status(bob, alice))["presence"] == "online"


async def test_an_open_websocket_or_a_running_sync_keeps_the_user_online(hs: HomeserverUnderTest) -> None:
    clock = _clock(hs)
    presence = hs.app[PRESENCE]
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    async with sync_socket(alice) as ws:
        await ws.sync()
        clock.advance(STALE_AFTER_MS)  # however long: the socket is open
        assert await presence.mark_offline() == 0
        assert (await _status(bob, alice))["presence"] != "offline"
        with presence.syncing(uid(bob), "online"):  # a long-poll in flight, too
            clock.advance(OFFLINE_AFTER_MS)
            assert await presence.mark_offline() == 0
    # the socket closed (its handler ends soon after the client's close): offline in time
    await bob.get("/sync")
    clock.advance(OFFLINE_AFTER_MS)
    with presence.syncing(uid(alice), "online"):
        pass  # stands for the socket's end, whenever the server saw it
    clock.advance(OFFLINE_AFTER_MS)
    assert await presence.mark_offline() >= 1
    assert (await _status(bob, alice))["presence"] == "offline"


async def test_syncing_with_set_presence_offline_does_not_count(hs: HomeserverUnderTest) -> None:
    clock = _clock(hs)
    presence = hs.app[PRESENCE]
    alice = await hs.register("alice")
    await alice.get("/sync")
    with presence.syncing(uid(alice), "offline"):
        clock.advance(OFFLINE_AFTER_MS)
        assert await presence.mark_offline() == 1


async def test_rows_left_online_by_a_process_that_went_away_go_offline(hs: HomeserverUnderTest) -> None:
    """After a restart nobody is counted as syncing: stored online rows go offline once stale."""
    clock = _clock(hs)
    alice = await hs.register("alice")
    await alice.put(f"/presence/{alice.user_id}/status", {"presence": "online"})  # no sync at all
    presence = hs.app[PRESENCE]
    clock.advance(STALE_AFTER_MS - 1)
    await presence.mark_idle()
    assert await presence.mark_offline() == 0
    clock.advance(1)
    assert await presence.mark_offline() == 1
    assert (await _status(alice, alice))["presence"] == "offline"
