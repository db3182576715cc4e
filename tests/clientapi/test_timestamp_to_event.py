"""GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

_txn = itertools.count()
V1 = "/_matrix/client/v1"


async def say(client: MatrixClient, room: str, body: str) -> tuple[str, int]:
    """Send a message; its event ID and origin_server_ts. Waits a little first, so that
    consecutive messages get distinct timestamps."""
    await asyncio.sleep(0.005)
    content = {"msgtype": "m.text", "body": body}
    event_id = (await client.put(f"/rooms/{room}/send/m.room.message/ts{next(_txn)}", content))["event_id"]
    event = await client.get(f"/rooms/{room}/event/{event_id}")
    return event_id, event["origin_server_ts"]


async def lookup(client: MatrixClient, room: str, ts: Any, direction: Any, expect: int = 200) -> Any:
    params = {k: str(v) for k, v in (("ts", ts), ("dir", direction)) if v is not None}
    return await client.get(f"{V1}/rooms/{room}/timestamp_to_event", params=params, expect=expect)


async def test_nearest_event_in_each_direction(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    (m0, t0), (m1, t1), (m2, t2) = [await say(alice, room, f"m{i}") for i in range(3)]
    assert t0 < t1 < t2

    assert await lookup(alice, room, t1, "f") == {"event_id": m1, "origin_server_ts": t1}
    assert await lookup(alice, room, t1, "b") == {"event_id": m1, "origin_server_ts": t1}
    assert (await lookup(alice, room, t1 + 1, "f"))["event_id"] == m2
    assert (await lookup(alice, room, t2 - 1, "b"))["event_id"] == m1
    assert (await lookup(alice, room, t2 + 10**9, "b"))["event_id"] == m2
    assert_error(await lookup(alice, room, t2 + 10**9, "f", expect=404), "M_NOT_FOUND")
    assert_error(await lookup(alice, room, 0, "b", expect=404), "M_NOT_FOUND")
    first = await lookup(alice, room, 0, "f")
    create = await alice.get(f"/rooms/{room}/event/{first['event_id']}")
    assert create["type"] == "m.room.create"
    assert m0 != first["event_id"]


async def test_only_events_the_user_may_see(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await alice.put(f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "joined"})
    secret, t_secret = await say(alice, room, "before bob")
    await bob.post(f"/join/{room}")

    assert (await lookup(alice, room, t_secret, "f"))["event_id"] == secret
    found = await lookup(bob, room, t_secret, "f")
    assert found["event_id"] != secret
    event = await bob.get(f"/rooms/{room}/event/{found['event_id']}")
    assert (event["type"], event["state_key"]) == ("m.room.member", bob.user_id)
    assert (await lookup(bob, room, t_secret, "b"))["event_id"] != secret


async def test_members_only_unless_world_readable(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    _, ts = await say(alice, room, "hello")
    assert_error(await lookup(bob, room, ts, "f", expect=403), "M_FORBIDDEN")
    unknown = f"!nosuchroom:{hs.config.server_name}"
    assert_error(await lookup(alice, unknown, ts, "f", expect=403), "M_FORBIDDEN")

    await alice.put(
        f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    _, later = await say(alice, room, "public now")
    assert (await lookup(bob, room, later, "b"))["origin_server_ts"] == later


async def test_bad_parameters(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = (await alice.post("/createRoom", {}))["room_id"]
    assert_error(await lookup(alice, room, None, "f", expect=400), "M_MISSING_PARAM")
    assert_error(await lookup(alice, room, 1, None, expect=400), "M_MISSING_PARAM")
    for ts in ("abc", "1.5", "", "1e3", "99999999999999999999"):
        assert_error(await lookup(alice, room, ts, "f", expect=400), "M_INVALID_PARAM")
    for direction in ("x", "", "forward", "F"):
        assert_error(await lookup(alice, room, 1, direction, expect=400), "M_INVALID_PARAM")
    assert_error(await lookup(alice, "not-a-room", 1, "f", expect=400), "M_INVALID_PARAM")
    await hs.client().get(f"{V1}/rooms/{room}/timestamp_to_event", params={"ts": "1", "dir": "f"}, expect=401)
