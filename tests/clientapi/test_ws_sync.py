"""WebSocket sync: auth by header or first frame, sync frames equal to /sync bodies, resume
after a crash, a slow reader, sends idempotent with HTTP, typing, receipts, pings, and every
kind of bad frame answered without closing the socket."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import WSCloseCode

from clientapi.ws import WS_CONNECTIONS, WS_SETTINGS, Connection
from homeserver import clock
from homeserver.appkeys import NOTIFIER
from homeserver.auth.tokens import Requester, TokenIssuer
from homeserver.config import Config, Registration
from homeserver.ids import UserID
from homeserver.notifier import WAKE_BATCH
from homeserver.presence import Presence
from tests.clientapi.conftest import MakeServer
from tests.clientapi.room_helpers import event_count, send_text
from tests.clientapi.ws_helpers import WAIT_S, SyncSocket, sync_socket, timeline, ws_url
from tests.helpers import DEFAULT_PASSWORD, HomeserverUnderTest, MatrixClient


def timeless(body: Any) -> Any:
    """A sync body without what grows between two reads: events' `unsigned.age`, presence's
    `last_active_ago`."""
    if isinstance(body, dict):
        return {k: timeless(v) for k, v in body.items() if k not in ("age", "last_active_ago")}
    if isinstance(body, list):
        return [timeless(v) for v in body]
    return body


async def _room_with(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat", "name": "WS"}))["room_id"]
    await bob.post(f"/join/{room}")
    return alice, bob, room


@contextlib.asynccontextmanager
async def _server_with(config: Config, **settings: Any) -> AsyncIterator[HomeserverUnderTest]:
    """A started server with these WebSocket settings."""
    server = HomeserverUnderTest(config)
    server.app[WS_SETTINGS] = dataclasses.replace(server.app[WS_SETTINGS], **settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def quick_auth_hs(config: Config) -> AsyncIterator[HomeserverUnderTest]:
    """A server that waits only a moment for the first-frame auth."""
    async with _server_with(config, auth_timeout_s=0.05) as server:
        yield server


# --- auth -------------------------------------------------------------------------------


async def test_header_auth_first_frame_is_the_initial_sync(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    await send_text(alice, room, "before")
    async with sync_socket(bob) as ws:
        frame = await ws.sync()
    assert timeless(frame) == timeless(await bob.get("/sync"))
    assert timeline(frame, room)[-1]["content"]["body"] == "before"


async def test_first_frame_auth(hs: HomeserverUnderTest) -> None:
    _, bob, room = await _room_with(hs)
    async with sync_socket(bob, header_auth=False) as ws:
        await ws.send_raw(orjson.dumps({"type": "auth", "id": 1, "access_token": bob.access_token}))
        ack = await ws.reply()
        assert ack == {"type": "ack", "id": 1, "user_id": bob.user_id, "device_id": bob.device_id}
        frame = await ws.sync()
    assert room in frame["rooms"]["join"]


async def test_first_frame_auth_id_is_optional(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    async with sync_socket(bob, header_auth=False) as ws:
        await ws.send_raw(orjson.dumps({"type": "auth", "access_token": bob.access_token}))
        assert (await ws.reply())["id"] is None
        assert "next_batch" in await ws.sync()


async def test_no_auth_frame_in_time_closes_4401(quick_auth_hs: HomeserverUnderTest) -> None:
    bob = await quick_auth_hs.register("bob")
    async with sync_socket(bob, header_auth=False) as ws:
        assert await ws.closed() == 4401


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "access_token": "not-a-token"},
        {"type": "auth", "access_token": ""},
        {"type": "auth", "access_token": 5},
        {"type": "auth"},
        {"type": "ping", "id": 1},
        [1, 2],
        "not json",
    ],
)
async def test_bad_first_frame_closes_4401(hs: HomeserverUnderTest, first: Any) -> None:
    bob = await hs.register("bob")
    async with sync_socket(bob, header_auth=False) as ws:
        await ws.send_raw(first if isinstance(first, str) else orjson.dumps(first))
        error = await ws.frame()
        assert error["type"] == "error" and error["errcode"].startswith("M_")
        assert await ws.closed() == 4401


async def test_bad_header_token_is_refused_before_the_upgrade(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    bob.access_token = "nonsense"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        async with sync_socket(bob):
            pass
    assert err.value.status == 401


async def test_a_plain_request_without_the_handshake_gets_a_json_error(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    headers = {"Authorization": f"Bearer {bob.access_token}"}
    async with aiohttp.ClientSession() as session, session.get(ws_url(bob, {}), headers=headers) as response:
        assert response.status == 400 and response.content_type == "application/json"
        assert (await response.json())["errcode"] == "M_UNKNOWN"


async def test_query_string_token_is_refused(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(ws_url(bob, {"access_token": str(bob.access_token)}))
    assert err.value.status == 401


async def test_guest_is_refused_before_the_upgrade(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(allow_guests=True))
    guest = hs.client((await hs.client().post("/register", {}, params={"kind": "guest"}))["access_token"])
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        async with sync_socket(guest):
            pass
    assert err.value.status == 403


@pytest.mark.parametrize(
    "params", [{"since": "garbage"}, {"set_presence": "busy"}, {"filter": "{not json"}, {"filter": "nosuch"}]
)
async def test_bad_query_is_refused_before_the_upgrade(
    hs: HomeserverUnderTest, params: dict[str, str]
) -> None:
    bob = await hs.register("bob")
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        async with sync_socket(bob, params):
            pass
    assert err.value.status in (400, 404)


async def test_unknown_stored_filter_after_first_frame_auth_closes_4400(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    async with sync_socket(bob, {"filter": "nosuch"}, header_auth=False) as ws:
        await ws.send_raw(orjson.dumps({"type": "auth", "access_token": bob.access_token}))
        assert (await ws.reply())["type"] == "ack"
        assert (await ws.frame())["errcode"] == "M_NOT_FOUND"
        assert await ws.closed() == 4400


async def test_logout_closes_the_socket_4401(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    async with sync_socket(bob) as ws:
        await ws.sync()
        await bob.post("/logout")
        await send_text(alice, room, "wakes bob's socket")
        error = await ws.frame()
        assert error["type"] == "error" and error["errcode"] == "M_UNKNOWN_TOKEN"
        assert await ws.closed() == 4401


async def test_frames_look_the_token_up_only_after_a_revocation(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame checks the token in O(1) while nothing was revoked (here: for an hour);
    a logout makes the next frame look it up, and close the socket."""
    monkeypatch.setattr("clientapi.ws.TOKEN_RECHECK_S", 3600.0)
    lookups: list[str | None] = []
    lookup = TokenIssuer.authenticate

    async def counted(self: TokenIssuer, token: str, now_ms: int) -> Requester:
        lookups.append(token)
        return await lookup(self, token, now_ms)

    monkeypatch.setattr(TokenIssuer, "authenticate", counted)
    alice, bob, room = await _room_with(hs)
    async with sync_socket(bob) as ws:
        await ws.sync()
        looked_up = lookups.count(bob.access_token)
        for i in range(3):
            sent = await send_text(alice, room, f"m{i}")
            assert [e["event_id"] for e in timeline(await ws.sync(), room)] == [sent]
        assert lookups.count(bob.access_token) == looked_up
        await bob.post("/logout")
        await send_text(alice, room, "wakes bob's socket")
        error = await ws.frame()
        assert error["type"] == "error" and error["errcode"] == "M_UNKNOWN_TOKEN"
        assert await ws.closed() == 4401


async def test_logged_out_socket_answers_no_request(hs: HomeserverUnderTest) -> None:
    _, bob, _ = await _room_with(hs)
    async with sync_socket(bob) as ws:
        await ws.sync()
        await bob.post("/logout")
        await ws.send_raw(orjson.dumps({"type": "ping", "id": 1}))
        assert (await ws.reply())["errcode"] == "M_UNKNOWN_TOKEN"
        assert await ws.closed() == 4401


async def test_auth_frame_with_another_devices_token_is_refused(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    other = await hs.login("bob")
    async with sync_socket(bob) as ws:
        await ws.sync()
        error = await ws.request("auth", access_token=other.access_token)
        assert error["errcode"] == "M_FORBIDDEN"
        assert (await ws.request("auth", access_token=bob.access_token))["type"] == "ack"
        assert (await ws.request("ping"))["type"] == "ack"


async def _login_refreshable(hs: HomeserverUnderTest) -> tuple[MatrixClient, str]:
    await hs.register("alice")
    body = {"type": "m.login.password", "user": "alice", "password": DEFAULT_PASSWORD, "refresh_token": True}
    result = await hs.client().post("/login", body)
    return hs.client(result["access_token"]), result["refresh_token"]


async def test_expired_token_closes_the_socket_4401(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = await _login_refreshable(hs)
    async with sync_socket(alice) as ws:
        await ws.sync()
        real = clock.now_ms
        monkeypatch.setattr(
            "clientapi.middleware.now_ms", lambda: real() + hs.config.access_token_lifetime_ms
        )
        await ws.send_raw(orjson.dumps({"type": "ping", "id": 1}))
        assert (await ws.reply())["errcode"] == "M_UNKNOWN_TOKEN"
        assert await ws.closed() == 4401


async def test_refreshed_token_sent_as_auth_frame_keeps_the_socket_open(hs: HomeserverUnderTest) -> None:
    alice, refresh = await _login_refreshable(hs)
    async with sync_socket(alice) as ws, sync_socket(alice) as stale:
        await ws.sync()
        await stale.sync()
        fresh = await hs.client().post("/refresh", {"refresh_token": refresh})
        assert (await ws.request("auth", access_token=fresh["access_token"]))["type"] == "ack"
        await hs.client(fresh["access_token"]).get("/account/whoami")  # the old token is now spent
        assert (await ws.request("ping"))["type"] == "ack"
        await stale.send_raw(orjson.dumps({"type": "ping", "id": 1}))
        assert (await stale.reply())["errcode"] == "M_UNKNOWN_TOKEN"
        assert await stale.closed() == 4401


# --- sync frames --------------------------------------------------------------------------


async def test_incremental_frames_equal_sync_bodies(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    async with sync_socket(bob) as ws:
        first = await ws.sync()
        sent = await send_text(alice, room, "new")
        second = await ws.sync()
        assert [e["event_id"] for e in timeline(second, room)] == [sent]
        assert timeless(second) == timeless(await bob.get("/sync", params={"since": first["next_batch"]}))


async def test_frames_follow_the_filter_and_since(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    since = (await bob.get("/sync"))["next_batch"]
    for i in range(4):
        await send_text(alice, room, f"m{i}")
    params = {"since": since, "filter": json.dumps({"room": {"timeline": {"limit": 2}}})}
    async with sync_socket(bob, params) as ws:
        frame = await ws.sync()
    section = frame["rooms"]["join"][room]["timeline"]
    assert section["limited"] is True and "prev_batch" in section
    assert [e["content"]["body"] for e in section["events"]] == ["m2", "m3"]
    assert timeless(frame) == timeless(await bob.get("/sync", params=params))


async def test_killed_client_resumes_and_gets_every_event_exactly_once(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    params = {"filter": json.dumps({"room": {"timeline": {"limit": 100}}})}
    sent: list[str] = []
    seen: list[str] = []
    async with sync_socket(bob, params) as ws:
        since = (await ws.sync())["next_batch"]
        for i in range(5):
            sent.append(await send_text(alice, room, f"a{i}"))
        while len(seen) < 5:
            frame = await ws.sync()
            seen += [e["event_id"] for e in timeline(frame, room)]
            since = frame["next_batch"]
        for i in range(5):
            sent.append(await send_text(alice, room, f"b{i}"))
        lost = await ws.sync()  # delivered, but the client dies before it has processed it
        assert timeline(lost, room)
        ws.kill()
    for i in range(5):
        sent.append(await send_text(alice, room, f"c{i}"))
    async with sync_socket(bob, {**params, "since": since}) as ws:
        while sent[-1] not in seen:
            seen += [e["event_id"] for e in timeline(await ws.sync(), room)]
    assert seen == sent


async def test_slow_reader_is_not_buffered_without_bound(hs: HomeserverUnderTest) -> None:
    """A client that stops reading: the server's write buffer stays within one frame of the
    transport's high-water mark; once the client reads again, a limited frame catches it up."""
    alice, bob, room = await _room_with(hs)
    limit = 3
    params = {"filter": json.dumps({"room": {"timeline": {"limit": limit}}})}
    big = "x" * 60_000
    max_frame = limit * 64 * 1024 + 64 * 1024  # the timeline at most, and the rest of a frame
    async with sync_socket(bob, params, rcvbuf=4096) as ws:
        await ws.sync()
        ws.stop_reading()
        (conn,) = hs.app[WS_CONNECTIONS]
        transport = conn.transport
        assert transport is not None
        high_water = transport.get_write_buffer_limits()[1]
        sent: list[str] = []
        for _ in range(400):  # until the server cannot write any more
            sent.append(await send_text(alice, room, big))
            assert transport.get_write_buffer_size() <= high_water + max_frame
            if transport.get_write_buffer_size() > high_water:
                break
        else:
            pytest.fail("the server's transport never filled up")
        for _ in range(2 * limit):  # more than a frame holds, while the client still reads nothing
            sent.append(await send_text(alice, room, big))
            assert transport.get_write_buffer_size() <= high_water + max_frame
        received: list[str] = []
        limited = False
        ws.read_again()
        while sent[-1] not in received:
            frame = await ws.sync()
            section = frame["rooms"]["join"].get(room)
            if section is not None:
                received += [e["event_id"] for e in section["timeline"]["events"]]
                limited = limited or section["timeline"]["limited"]
    assert limited
    assert len(received) < len(sent)  # some were skipped over, in a gap the client can fill
    assert received[-limit:] == sent[-limit:]


async def test_shutdown_closes_sockets_going_away(config: Config) -> None:
    server = HomeserverUnderTest(config)
    await server.start()
    bob = await server.register("bob")
    async with sync_socket(bob) as ws:
        await ws.sync()
        await server.stop()
        assert await ws.closed() == 1001


# --- requests -----------------------------------------------------------------------------


async def _ws_send(ws: SyncSocket, room: str, txn_id: str, body: str) -> dict[str, Any]:
    content = {"msgtype": "m.text", "body": body}
    return await ws.request("send", room_id=room, event_type="m.room.message", txn_id=txn_id, content=content)


async def test_send_is_acked_with_the_event_id_and_synced_with_the_txn_id(hs: HomeserverUnderTest) -> None:
    _, bob, room = await _room_with(hs)
    async with sync_socket(bob) as ws:
        await ws.sync()
        ack = await _ws_send(ws, room, "ws1", "over the socket")
        assert ack["type"] == "ack" and ack["event_id"].startswith("$")
        (event,) = timeline(await ws.sync(), room)
    assert event["event_id"] == ack["event_id"]
    assert event["content"]["body"] == "over the socket"
    assert event["unsigned"]["transaction_id"] == "ws1"


async def test_same_txn_id_over_socket_and_http_is_one_event(hs: HomeserverUnderTest) -> None:
    _, bob, room = await _room_with(hs)
    before = await event_count(hs, room)
    content = {"msgtype": "m.text", "body": "once"}
    async with sync_socket(bob) as ws:
        await ws.sync()
        ack = await _ws_send(ws, room, "shared", "once")
        http = await bob.put(f"/rooms/{room}/send/m.room.message/shared", content)
        again = await _ws_send(ws, room, "shared", "once")
        first_http = await bob.put(f"/rooms/{room}/send/m.room.message/http-first", content)
        then_ws = await _ws_send(ws, room, "http-first", "once")
    assert ack["event_id"] == http["event_id"] == again["event_id"]
    assert then_ws["event_id"] == first_http["event_id"]
    assert await event_count(hs, room) == before + 2


async def test_core_errors_are_error_frames_with_the_http_errcode(hs: HomeserverUnderTest) -> None:
    alice, bob, _ = await _room_with(hs)
    private = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    before = await event_count(hs)
    content = {"msgtype": "m.text", "body": "no"}
    http = await bob.put(f"/rooms/{private}/send/m.room.message/x", content, expect=403)
    async with sync_socket(bob) as ws:
        await ws.sync()
        error = await _ws_send(ws, private, "y", "no")
        assert (await ws.request("ping"))["type"] == "ack"
    assert error["type"] == "error" and error["errcode"] == http["errcode"] == "M_FORBIDDEN"
    assert await event_count(hs) == before


async def test_too_large_event_is_refused_as_over_http(hs: HomeserverUnderTest) -> None:
    _, bob, room = await _room_with(hs)
    content = {"msgtype": "m.text", "body": "x" * 70_000}
    http = await bob.put(f"/rooms/{room}/send/m.room.message/big", content, expect=413)
    before = await event_count(hs, room)
    async with sync_socket(bob) as ws:
        await ws.sync()
        error = await _ws_send(ws, room, "big2", "x" * 70_000)
    assert error["errcode"] == http["errcode"] == "M_TOO_LARGE"
    assert await event_count(hs, room) == before


async def test_ping(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    async with sync_socket(bob) as ws:
        await ws.sync()
        assert await ws.request("ping") == {"type": "ack", "id": "r1"}
        await ws.send_raw(orjson.dumps({"type": "ping", "id": 7}))
        assert await ws.reply() == {"type": "ack", "id": 7}


async def test_typing_and_receipt(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    event_id = await send_text(alice, room, "read me")
    async with sync_socket(bob) as ws:
        await ws.sync()
        assert await ws.request("typing", room_id=room, typing=True, timeout=10_000) == {
            "type": "ack",
            "id": "r1",
        }
        ack = await ws.request("receipt", room_id=room, receipt_type="m.read", event_id=event_id)
        assert ack["type"] == "ack"
        bad = await ws.request("receipt", room_id=room, receipt_type="m.bogus", event_id=event_id)
        assert bad["errcode"] == "M_INVALID_PARAM"
        wrong = await ws.request("typing", room_id=room, typing="yes")
        assert wrong["errcode"] == "M_INVALID_PARAM"
    other = (await alice.post("/createRoom", {"preset": "private_chat"}))["room_id"]
    async with sync_socket(bob) as ws:
        await ws.sync()
        assert (await ws.request("typing", room_id=other, typing=True))["errcode"] == "M_FORBIDDEN"


async def test_typing_over_one_socket_reaches_the_other(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    async with sync_socket(alice) as alice_ws, sync_socket(bob) as bob_ws:
        await alice_ws.sync()
        await bob_ws.sync()
        assert (await bob_ws.request("typing", room_id=room, typing=True))["type"] == "ack"
        while True:
            section = (await alice_ws.sync())["rooms"]["join"].get(room, {})
            typing = [e for e in section.get("ephemeral", {}).get("events", []) if e["type"] == "m.typing"]
            if typing:
                break
    assert typing[-1]["content"]["user_ids"] == [bob.user_id]


# --- bad frames ---------------------------------------------------------------------------

SEND = {"type": "send", "id": "s", "room_id": "!r:localhost", "event_type": "m.room.message", "txn_id": "t"}
TYPING = {"type": "typing", "id": "t", "room_id": "!r:localhost"}
RECEIPT = {"type": "receipt", "id": "c", "room_id": "!r:localhost", "receipt_type": "m.read"}
BAD_FRAMES: list[tuple[bytes, str, object]] = [
    (b"not json", "M_NOT_JSON", None),
    (b"\xff\xfe{}", "M_NOT_JSON", None),
    (b"", "M_NOT_JSON", None),
    (b"[1, 2]", "M_BAD_JSON", None),
    (b'"ping"', "M_BAD_JSON", None),
    (b"null", "M_BAD_JSON", None),
    (b'{"type": "ping"}', "M_MISSING_PARAM", None),
    (b'{"type": "ping", "id": true}', "M_INVALID_PARAM", None),
    (b'{"type": "ping", "id": 1.5}', "M_INVALID_PARAM", None),
    (b'{"type": "ping", "id": {"a": 1}}', "M_INVALID_PARAM", None),
    (orjson.dumps({"type": "ping", "id": "i" * 256}), "M_INVALID_PARAM", None),
    (b'{"type": "shout", "id": 1}', "M_UNRECOGNIZED", 1),
    (b'{"id": 2}', "M_UNRECOGNIZED", 2),
    (b'{"type": 5, "id": 3}', "M_UNRECOGNIZED", 3),
    (orjson.dumps({**SEND, "content": {}, "room_id": None}), "M_MISSING_PARAM", "s"),
    (orjson.dumps({**SEND, "content": {}, "room_id": 5}), "M_INVALID_PARAM", "s"),
    (orjson.dumps({**SEND, "content": {}, "room_id": "no-room"}), "M_INVALID_PARAM", "s"),
    (orjson.dumps({**SEND, "content": {}, "event_type": ""}), "M_INVALID_PARAM", "s"),
    (orjson.dumps({**SEND, "content": {}, "event_type": "t" * 256}), "M_INVALID_PARAM", "s"),
    (orjson.dumps({**SEND, "content": {}, "event_type": "a\x00b"}), "M_INVALID_PARAM", "s"),
    (orjson.dumps({**SEND, "content": {}, "txn_id": ["t"]}), "M_INVALID_PARAM", "s"),
    (orjson.dumps({**SEND, "content": {}, "txn_id": "t\x00"}), "M_INVALID_PARAM", "s"),
    (orjson.dumps({**SEND, "content": {}, "txn_id": "t" * 256}), "M_INVALID_PARAM", "s"),
    (orjson.dumps(SEND), "M_MISSING_PARAM", "s"),
    (orjson.dumps({**SEND, "content": [1]}), "M_BAD_JSON", "s"),
    (orjson.dumps({**SEND, "content": "text"}), "M_BAD_JSON", "s"),
    (orjson.dumps(TYPING), "M_MISSING_PARAM", "t"),
    (orjson.dumps({**TYPING, "typing": "yes"}), "M_INVALID_PARAM", "t"),
    (orjson.dumps({**TYPING, "typing": True, "timeout": "1"}), "M_INVALID_PARAM", "t"),
    (orjson.dumps({**TYPING, "typing": True, "timeout": -1}), "M_INVALID_PARAM", "t"),
    (orjson.dumps(RECEIPT), "M_MISSING_PARAM", "c"),
    (orjson.dumps({**RECEIPT, "event_id": "x"}), "M_INVALID_PARAM", "c"),
    (orjson.dumps({**RECEIPT, "event_id": 7}), "M_INVALID_PARAM", "c"),
    (orjson.dumps({**RECEIPT, "event_id": "$e", "receipt_type": "m.bogus"}), "M_INVALID_PARAM", "c"),
    (orjson.dumps({**RECEIPT, "event_id": "$e", "thread_id": 1}), "M_INVALID_PARAM", "c"),
]


async def test_every_bad_frame_gets_an_error_and_the_socket_stays_open(hs: HomeserverUnderTest) -> None:
    _, bob, room = await _room_with(hs)
    before = await event_count(hs)
    async with sync_socket(bob) as ws:
        await ws.sync()
        for data, errcode, request_id in BAD_FRAMES:
            await ws.send_raw(data)
            error = await ws.reply()
            assert (error["type"], error["errcode"], error["id"]) == ("error", errcode, request_id), data
            assert isinstance(error["error"], str)
            await ws.send_raw(data.decode("utf-8", "replace"))  # as a text frame too
            assert (await ws.reply())["errcode"] == errcode
        assert (await ws.request("ping"))["type"] == "ack"
        assert (await _ws_send(ws, room, "still-works", "yes"))["type"] == "ack"
    assert await event_count(hs) == before + 1


async def test_oversized_frame_is_an_error_and_a_huge_one_closes_1009(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    limit = hs.config.max_request_body_bytes
    async with sync_socket(bob) as ws:
        await ws.sync()
        await ws.send_raw(orjson.dumps({"type": "ping", "id": 1, "pad": "x" * limit}))
        error = await ws.reply()
        assert (error["errcode"], error["id"]) == ("M_TOO_LARGE", None)
        assert (await ws.request("ping"))["type"] == "ack"
        await ws.send_raw(b"x" * (2 * limit + 1))
        assert await ws.closed() == 1009


# --- an idle socket -----------------------------------------------------------------------


async def _idle_connection(hs: HomeserverUnderTest) -> Connection:
    """The server side of the only open socket, once its pump has ended (it parks itself
    after writing the newest frame and finding nothing more, and lets go of the task)."""
    (conn,) = hs.app[WS_CONNECTIONS]
    pump = conn.pump
    if pump is not None:
        await asyncio.wait_for(pump, 5)
    assert conn.pump is None
    return conn


async def test_idle_socket_holds_no_task_and_news_wakes_it(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room_with(hs)
    async with sync_socket(bob) as ws:
        await ws.sync()
        conn = await _idle_connection(hs)
        assert conn.parked
        for i in range(3):  # each frame parks it again
            sent = await send_text(alice, room, f"m{i}")
            assert [e["event_id"] for e in timeline(await ws.sync(), room)] == [sent]
            assert (await _idle_connection(hs)).parked


async def test_more_sockets_than_a_wake_batch_each_get_every_event_once(hs: HomeserverUnderTest) -> None:
    """Sockets woken by one event beyond WAKE_BATCH get their frames in later loop turns."""
    alice, bob, room = await _room_with(hs)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(sync_socket(bob)) for _ in range(WAKE_BATCH + 4)]
        for ws in sockets:
            await ws.sync()
        sent = [await send_text(alice, room, f"m{i}") for i in range(3)]
        for ws in sockets:
            seen: list[str] = []
            while len(seen) < len(sent):
                seen += [e["event_id"] for e in timeline(await ws.sync(), room)]
            assert seen == sent


async def test_frames_and_closes_leave_no_socket_counted_as_working(hs: HomeserverUnderTest) -> None:
    """A woken pump counts as working until its task ends, even one cancelled before it ran (a
    socket closed just after it was woken): a count left behind would make every later
    commit wait for SETTLE_CAP_S."""
    alice, bob, room = await _room_with(hs)
    notifier = hs.app[NOTIFIER]
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(sync_socket(bob)) for _ in range(WAKE_BATCH + 4)]
        for ws in sockets:
            await ws.sync()
        sent = await send_text(alice, room, "m")
        for ws in sockets[:2]:
            seen: list[str] = []
            while sent not in seen:
                seen += [e["event_id"] for e in timeline(await ws.sync(), room)]
        for ws in sockets[2:]:
            ws.kill()  # mid-fan-out: some pumps are queued, some running, some done
        await send_text(alice, room, "n")
    await notifier.settled(WAIT_S)  # a count left behind: the cap, and the assertion fails
    assert notifier.busy_listeners == 0


async def test_a_commit_waits_for_sockets_still_building_frames(hs: HomeserverUnderTest) -> None:
    """Back-pressure: while a woken socket is still at work, the next commit waits (then takes
    all that queued meanwhile in one transaction), so sockets are not left ever further
    behind a stream that runs ahead of them."""
    alice, _bob, room = await _room_with(hs)
    notifier = hs.app[NOTIFIER]
    notifier.working(+1)  # a socket building its frame
    sending = asyncio.ensure_future(send_text(alice, room, "held"))
    done, _ = await asyncio.wait({sending}, timeout=0.2)  # below the cap (SETTLE_CAP_S)
    assert not done
    notifier.working(-1)
    event_id = await sending
    assert event_id.startswith("$")


def _marks(monkeypatch: pytest.MonkeyPatch) -> asyncio.Queue[str]:
    """The users marked active from now on, with a socket's own marks an hour apart: only a
    socket's first pull and the pulls that must mark do."""
    marks = asyncio.Queue[str]()
    mark = Presence.user_active

    async def counted(self: Presence, user_id: UserID, set_presence: str) -> None:
        marks.put_nowait(user_id)
        await mark(self, user_id, set_presence)

    monkeypatch.setattr(Presence, "user_active", counted)
    monkeypatch.setattr("clientapi.ws.ACTIVE_EVERY_S", 3600.0)
    return marks


async def test_a_busy_socket_marks_its_user_active_once_an_interval(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks = _marks(monkeypatch)
    alice, bob, room = await _room_with(hs)
    async with sync_socket(bob) as ws:
        await ws.sync()
        for i in range(3):
            sent = await send_text(alice, room, f"m{i}")
            assert [e["event_id"] for e in timeline(await ws.sync(), room)] == [sent]
        await _idle_connection(hs)
    assert [marks.get_nowait() for _ in range(marks.qsize())] == [bob.user_id]


async def test_idle_socket_pulls_every_poll_interval(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """The keep-alive pull comes from the app's sweep, as a /sync client's next request would,
    and marks the user active (it keeps their presence online) however recent the last mark."""
    marks = _marks(monkeypatch)
    async with _server_with(config, poll_ms=20) as server:
        bob = await server.register("bob")
        async with sync_socket(bob) as ws:
            await ws.sync()
            for _ in range(3):  # the first pull, then two timer pulls with no news at all
                assert await asyncio.wait_for(marks.get(), 5) == bob.user_id
            conn = await _idle_connection(server)
            assert conn.parked
            presence = await bob.get(f"/presence/{bob.user_id}/status")
            assert presence["presence"] == "online"


# --- heartbeats -------------------------------------------------------------------------


@pytest.fixture
async def heartbeat_hs(config: Config) -> AsyncIterator[HomeserverUnderTest]:
    """A server that pings a socket silent for a moment."""
    async with _server_with(config, heartbeat_s=0.02) as server:
        yield server


async def _next_answering_pings(ws: SyncSocket) -> tuple[dict[str, Any], int]:
    """The next text frame, and how many pings came (and were answered) before it."""
    pings = 0
    while True:
        msg = await ws.ws.receive(timeout=WAIT_S)
        if msg.type is aiohttp.WSMsgType.PING:
            pings += 1
            await ws.ws.pong(msg.data)
            continue
        assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
        return orjson.loads(msg.data), pings


async def test_heartbeat_keeps_a_socket_that_answers_pings(heartbeat_hs: HomeserverUnderTest) -> None:
    bob = await heartbeat_hs.register("bob")
    async with sync_socket(bob, autoping=False) as ws:
        frame, _ = await _next_answering_pings(ws)
        assert frame["type"] == "sync"
        pings = 0
        while pings < 3:  # three heartbeats, each answered
            msg = await ws.ws.receive(timeout=WAIT_S)
            assert msg.type is aiohttp.WSMsgType.PING, (msg.type, msg.data)
            pings += 1
            await ws.ws.pong(msg.data)
        await ws.send_raw(orjson.dumps({"type": "ping", "id": "alive"}))
        ack, _ = await _next_answering_pings(ws)
        assert (ack["type"], ack["id"]) == ("ack", "alive")


async def test_heartbeat_drops_a_socket_that_leaves_a_ping_unanswered(
    heartbeat_hs: HomeserverUnderTest,
) -> None:
    bob = await heartbeat_hs.register("bob")
    async with sync_socket(bob, autoping=False) as ws:
        frame, _ = await _next_answering_pings(ws)
        assert frame["type"] == "sync"
        msg = await ws.ws.receive(timeout=WAIT_S)
        assert msg.type is aiohttp.WSMsgType.PING  # not answered
        assert await ws.closed() == WSCloseCode.ABNORMAL_CLOSURE


async def test_a_ping_before_the_auth_frame_is_answered(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    async with sync_socket(bob, header_auth=False, autoping=False) as ws:
        await ws.ws.ping(b"early")
        pong = await ws.ws.receive(timeout=WAIT_S)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"early")
        await ws.send_raw(orjson.dumps({"type": "auth", "id": 1, "access_token": bob.access_token}))
        assert (await ws.reply())["type"] == "ack"
