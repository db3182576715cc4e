"""Reporting content (spec: "Reporting Content"): events, rooms and users, kept for the admins."""

from __future__ import annotations

import itertools
from typing import Any

from homeserver.appkeys import REPORTS
from homeserver.config import RateLimit, RateLimits
from homeserver.storage.reports import Report
from tests.clientapi.conftest import MakeServer
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

_txn = itertools.count()


async def say(client: MatrixClient, room: str, body: str) -> str:
    content = {"msgtype": "m.text", "body": body}
    return str((await client.put(f"/rooms/{room}/send/m.room.message/r{next(_txn)}", content))["event_id"])


async def reports(hs: HomeserverUnderTest) -> list[Report]:
    return await hs.app[REPORTS]._store.newest()


async def room_with_bob(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str, str]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await bob.post(f"/join/{room}")
    return alice, bob, room, await say(alice, room, "offensive")


async def test_report_an_event(hs: HomeserverUnderTest) -> None:
    alice, bob, room, event = await room_with_bob(hs)
    assert (
        await bob.post(f"/rooms/{room}/report/{event}", {"reason": "this makes me sad", "score": -100}) == {}
    )
    await alice.post(f"/rooms/{room}/report/{event}", {})  # reason is optional for events
    [second, first] = await reports(hs)
    assert (first.reporter, first.room_id, first.event_id) == (bob.user_id, room, event)
    assert (first.reason, first.score, first.target_user_id) == ("this makes me sad", -100, None)
    assert first.received_ts > 0
    assert (second.reporter, second.reason, second.score) == (alice.user_id, None, None)


async def test_events_one_may_not_report(hs: HomeserverUnderTest) -> None:
    alice, bob, room, event = await room_with_bob(hs)
    carol = await hs.register("carol")
    other_room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await alice.put(f"/rooms/{other_room}/state/m.room.history_visibility", {"history_visibility": "joined"})
    before_carol = await say(alice, other_room, "before carol")
    await carol.post(f"/join/{other_room}")
    redacted = await say(alice, room, "soon gone")
    await alice.put(f"/rooms/{room}/redact/{redacted}/x1", {})

    cases = [
        (bob, room, "$" + "A" * 43),  # no such event
        (bob, other_room, event),  # the event is in another room
        (carol, room, event),  # not joined to the room
        (carol, other_room, before_carol),  # joined, but history hides it
        (bob, room, redacted),  # redacted
        (bob, f"!nosuchroom:{hs.config.server_name}", event),
    ]
    for who, room_id, event_id in cases:
        err = await who.post(f"/rooms/{room_id}/report/{event_id}", {"reason": "x"}, expect=404)
        assert_error(err, "M_NOT_FOUND")
    await bob.post(f"/rooms/{room}/leave")
    assert_error(await bob.post(f"/rooms/{room}/report/{event}", {"reason": "x"}, expect=404), "M_NOT_FOUND")
    assert await reports(hs) == []


async def test_bad_event_reports(hs: HomeserverUnderTest) -> None:
    _, bob, room, event = await room_with_bob(hs)
    path = f"/rooms/{room}/report/{event}"
    bad_fields: list[Any] = [
        {"reason": 5},
        {"reason": ["x"]},
        {"reason": "a\x00b"},
        {"score": "-100"},
        {"score": True},
        {"score": -100.5},
        {"score": 1},
        {"score": -101},
    ]
    for body in bad_fields:
        assert_error(await bob.post(path, body, expect=400), "M_INVALID_PARAM")
    huge = b'{"score": -%d}' % 2**70
    assert_error(await bob.post(path, data=huge, expect=400), "M_INVALID_PARAM")
    assert_error(await bob.post(path, data=b"{", expect=400), "M_NOT_JSON")
    assert_error(await bob.post(path, ["reason"], expect=400), "M_BAD_JSON")
    assert_error(await bob.post(f"/rooms/{room}/report/not-an-event", {}, expect=400), "M_INVALID_PARAM")
    assert_error(await bob.post(f"/rooms/not-a-room/report/{event}", {}, expect=400), "M_INVALID_PARAM")
    await hs.client().post(path, {"reason": "x"}, expect=401)
    assert await reports(hs) == []


async def test_report_a_room_member_or_not(hs: HomeserverUnderTest) -> None:
    alice, _, room, _ = await room_with_bob(hs)
    private = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    carol = await hs.register("carol")  # in neither room
    assert await carol.post(f"/rooms/{private}/report", {"reason": "spam invites"}) == {}
    await carol.post(f"/rooms/{room}/report", {"reason": ""})  # may be blank
    [blank, first] = await reports(hs)
    assert (first.reporter, first.room_id, first.event_id, first.reason) == (
        carol.user_id,
        private,
        None,
        "spam invites",
    )
    assert (blank.room_id, blank.reason) == (room, "")


async def test_bad_room_reports(hs: HomeserverUnderTest) -> None:
    alice, _, room, _ = await room_with_bob(hs)
    path = f"/rooms/{room}/report"
    assert_error(await alice.post(path, {}, expect=400), "M_MISSING_PARAM")
    assert_error(await alice.post(path, {"reason": None}, expect=400), "M_MISSING_PARAM")
    for reason in (1, ["x"], {"x": 1}, "nul\x00"):
        assert_error(await alice.post(path, {"reason": reason}, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.post(path, data=b"nope", expect=400), "M_NOT_JSON")
    unknown = f"!nosuchroom:{hs.config.server_name}"
    assert_error(await alice.post(f"/rooms/{unknown}/report", {"reason": "x"}, expect=404), "M_NOT_FOUND")
    assert_error(await alice.post("/rooms/nope/report", {"reason": "x"}, expect=400), "M_INVALID_PARAM")
    assert await reports(hs) == []


async def test_report_users(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert await alice.post(f"/users/{bob.user_id}/report", {"reason": "rude"}) == {}
    await alice.post("/users/@someone:elsewhere.example/report", {"reason": "spam"})  # not checked remotely
    err = await alice.post(f"/users/@ghost:{hs.config.server_name}/report", {"reason": "x"}, expect=404)
    assert_error(err, "M_NOT_FOUND")
    assert_error(await alice.post("/users/not-a-user/report", {"reason": "x"}, expect=400), "M_INVALID_PARAM")
    assert_error(await alice.post(f"/users/{bob.user_id}/report", {}, expect=400), "M_MISSING_PARAM")
    assert [(r.target_user_id, r.reason, r.room_id) for r in await reports(hs)] == [
        ("@someone:elsewhere.example", "spam", None),
        (bob.user_id, "rude", None),
    ]


async def test_reports_are_rate_limited(make_hs: MakeServer) -> None:
    free = RateLimit(per_second=100.0, burst=100)
    limits = RateLimits(register=free, message=free, report=RateLimit(per_second=0.001, burst=2))
    hs = await make_hs(rate_limits=limits)
    _, bob, room, event = await room_with_bob(hs)
    await bob.post(f"/rooms/{room}/report/{event}", {"reason": "1"})
    await bob.post(f"/rooms/{room}/report/{'$' + 'B' * 43}", {"reason": "probe"}, expect=404)  # costs too
    err = await bob.post(f"/rooms/{room}/report/{event}", {"reason": "3"}, expect=429)
    assert_error(err, "M_LIMIT_EXCEEDED")
    assert err["retry_after_ms"] > 0
    assert_error(await bob.post(f"/rooms/{room}/report", {"reason": "4"}, expect=429), "M_LIMIT_EXCEEDED")
    assert [r.reason for r in await reports(hs)] == ["1"]
