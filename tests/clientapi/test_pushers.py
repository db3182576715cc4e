"""Pushers: GET /pushers and POST /pushers/set (bad input refused, nothing changed), and
delivery to a real push gateway on loopback: the notification's shape, a retry after the
gateway fails once, and removal of a pusher whose pushkey the gateway rejects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from homeserver.appkeys import PUSH_DELIVERY
from tests.clientapi.conftest import MakeServer
from tests.helpers import HomeserverUnderTest, MatrixClient

NOTIFY = "/_matrix/push/v1/notify"


class Gateway:
    """A push gateway: records each request; answers with the scripted replies in turn
    (then 200 {"rejected": []})."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.replies: list[tuple[int, dict[str, Any]]] = []
        app = web.Application()
        app.router.add_post(NOTIFY, self._notify)
        self.server = TestServer(app, host="127.0.0.1")

    async def _notify(self, request: web.Request) -> web.Response:
        await self.received.put(orjson.loads(await request.read()))
        status, body = self.replies.pop(0) if self.replies else (200, {"rejected": []})
        return web.json_response(body, status=status)

    @property
    def url(self) -> str:
        return str(self.server.make_url(NOTIFY))

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.received.get(), 30)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()
    await gw.server.start_server()
    yield gw
    await gw.server.close()


@pytest.fixture
async def local_hs(make_hs: MakeServer) -> HomeserverUnderTest:
    server = await make_hs(push_allow_local_gateways=True)
    server.app[PUSH_DELIVERY].backoff_s = 0.01  # retries without waiting seconds
    return server


def _pusher(url: str, pushkey: str = "key1", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "http",
        "app_id": "org.example.app",
        "pushkey": pushkey,
        "app_display_name": "Example",
        "device_display_name": "Phone",
        "lang": "en",
        "data": {"url": url, "format": "event_id_only", "extra": 1},
        **extra,
    }


async def _room(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = (await alice.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    await bob.post(f"/join/{room}")
    return alice, bob, room


async def _send(client: MatrixClient, room: str, body: str, txn: str) -> str:
    content = {"msgtype": "m.text", "body": body}
    return str((await client.put(f"/rooms/{room}/send/m.room.message/{txn}", content))["event_id"])


async def test_set_list_replace_and_delete(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    url = "https://push.example.org/_matrix/push/v1/notify"
    await bob.post("/pushers/set", _pusher(url, profile_tag="tag"))
    listed = (await bob.get("/pushers"))["pushers"]
    assert listed == [
        {
            "pushkey": "key1",
            "kind": "http",
            "app_id": "org.example.app",
            "app_display_name": "Example",
            "device_display_name": "Phone",
            "lang": "en",
            "data": {"url": url, "format": "event_id_only", "extra": 1},
            "profile_tag": "tag",
        }
    ]
    await bob.post("/pushers/set", _pusher(url, device_display_name="Tablet"))
    assert [p["device_display_name"] for p in (await bob.get("/pushers"))["pushers"]] == ["Tablet"]
    await bob.post("/pushers/set", {"kind": None, "app_id": "org.example.app", "pushkey": "key1"})
    assert (await bob.get("/pushers"))["pushers"] == []


async def test_append_false_takes_the_pushkey_from_other_users(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    url = "https://push.example.org/_matrix/push/v1/notify"
    await alice.post("/pushers/set", _pusher(url))
    await bob.post("/pushers/set", _pusher(url, append=True))
    assert len((await alice.get("/pushers"))["pushers"]) == 1
    await bob.post("/pushers/set", _pusher(url))
    assert (await alice.get("/pushers"))["pushers"] == []
    assert len((await bob.get("/pushers"))["pushers"]) == 1


async def test_pusher_goes_with_its_device(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    phone = await hs.login("bob")
    url = "https://push.example.org/_matrix/push/v1/notify"
    await phone.post("/pushers/set", _pusher(url))
    await bob.post("/pushers/set", _pusher(url, pushkey="key2"))
    await phone.post("/logout")
    assert [p["pushkey"] for p in (await bob.get("/pushers"))["pushers"]] == ["key2"]


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"app_id": "a", "pushkey": "k"}, "M_MISSING_PARAM"),  # no kind
    ({"kind": "http", "pushkey": "k", "lang": "en", "data": {}}, "M_MISSING_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "data": None}, "M_MISSING_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "lang": None}, "M_MISSING_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "kind": "email"}, "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "kind": 5}, "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "app_id": 5}, "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "app_id": "a" * 65}, "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "pushkey": "k" * 513}, "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "pushkey": "é" * 300}, "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "pushkey": ""}, "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "append": "yes"}, "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "data": []}, "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "data": {"url": "x" * 5000}}, "M_INVALID_PARAM"),
    (_pusher("http://push.example.org/_matrix/push/v1/notify"), "M_INVALID_PARAM"),  # not https
    (_pusher("https://push.example.org/notify"), "M_INVALID_PARAM"),  # wrong path
    (_pusher("https://127.0.0.1/_matrix/push/v1/notify"), "M_INVALID_PARAM"),  # loopback
    (_pusher("https://[::1]/_matrix/push/v1/notify"), "M_INVALID_PARAM"),
    (_pusher("https://10.1.2.3/_matrix/push/v1/notify"), "M_INVALID_PARAM"),
    (_pusher("https://localhost/_matrix/push/v1/notify"), "M_INVALID_PARAM"),
    (_pusher("https://u:p@push.example.org/_matrix/push/v1/notify"), "M_INVALID_PARAM"),
    (_pusher("https://push.example.org:99999/_matrix/push/v1/notify"), "M_INVALID_PARAM"),
    ({**_pusher("https://h/_matrix/push/v1/notify"), "data": {"url": 5}}, "M_INVALID_PARAM"),
    (
        {
            **_pusher("https://h/_matrix/push/v1/notify"),
            "data": {"url": "https://h/_matrix/push/v1/notify", "format": "full"},
        },
        "M_INVALID_PARAM",
    ),
]


async def test_bad_pusher_bodies_change_nothing(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    for body, errcode in BAD_BODIES:
        err = await bob.post("/pushers/set", body, expect=400)
        assert err["errcode"] == errcode, body
    assert (await bob.get("/pushers"))["pushers"] == []
    err = await bob.post("/pushers/set", data=b"{not json", expect=400)
    assert err["errcode"] == "M_NOT_JSON"
    err = await bob.post(
        "/pushers/set", data=b"[1]", expect=400, headers={"Content-Type": "application/json"}
    )
    assert err["errcode"] == "M_BAD_JSON"
    for path in ("/pushers", "/pushers/set"):
        method = "GET" if path == "/pushers" else "POST"
        err = await hs.client().request(method, path, expect=401)
        assert err["errcode"] == "M_MISSING_TOKEN"


async def test_too_many_pushers(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    url = "https://push.example.org/_matrix/push/v1/notify"
    for n in range(50):
        await bob.post("/pushers/set", _pusher(url, pushkey=f"k{n}"))
    err = await bob.post("/pushers/set", _pusher(url, pushkey="one more"), expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"
    await bob.post("/pushers/set", _pusher(url, pushkey="k0", lang="fr"))  # replacing is fine
    assert len((await bob.get("/pushers"))["pushers"]) == 50


async def test_delivery_to_a_gateway(local_hs: HomeserverUnderTest, gateway: Gateway) -> None:
    alice, bob, room = await _room(local_hs)
    await bob.post("/pushers/set", _pusher(gateway.url))
    full = _pusher(gateway.url, pushkey="key2")
    full["data"] = {"url": gateway.url}
    await bob.post("/pushers/set", full)
    sent = await _send(alice, room, "hello bob", "t1")
    requests = [await gateway.next(), await gateway.next()]
    by_format = {len(r["notification"]["devices"][0]["data"]): r["notification"] for r in requests}
    short, long = by_format[2], by_format[0]  # data minus url: {format, extra} / {}
    assert short["event_id"] == sent and short["room_id"] == room
    assert short["counts"] == {"unread": 1}
    assert "content" not in short and "sender" not in short
    device = short["devices"][0]
    assert device["app_id"] == "org.example.app" and device["pushkey"] == "key1"
    assert device["data"] == {"format": "event_id_only", "extra": 1}
    assert device["tweaks"] == {"sound": "default", "highlight": True}
    assert short["prio"] == "high"
    assert long["sender"] == alice.user_id and long["type"] == "m.room.message"
    assert long["content"]["body"] == "hello bob"
    assert [d["pushkey"] for d in long["devices"]] == ["key2"]


async def test_in_a_bigger_room_only_the_members_with_pushers_are_pushed(
    local_hs: HomeserverUnderTest, gateway: Gateway
) -> None:
    """More members than users with pushers: the members are matched the other way round,
    and a member with an outcome of their own (a mention) is pushed too."""
    alice, bob, room = await _room(local_hs)
    others = [await local_hs.register(name) for name in ("carol", "dave", "erin")]
    for member in others:
        await member.post(f"/join/{room}")
    await bob.post("/pushers/set", _pusher(gateway.url))
    await others[0].post("/pushers/set", _pusher(gateway.url, pushkey="carol-key"))
    first = await _send(alice, room, "hello all", "t1")
    second = await _send(alice, room, "hello carol", "t2")  # carol's own highlight outcome
    pushed = sorted(
        (r["notification"]["event_id"], r["notification"]["devices"][0]["pushkey"])
        for r in [await gateway.next() for _ in range(4)]
    )
    assert pushed == sorted([(first, "key1"), (first, "carol-key"), (second, "key1"), (second, "carol-key")])
    assert gateway.received.empty()


async def test_delivery_retries_after_a_failure(local_hs: HomeserverUnderTest, gateway: Gateway) -> None:
    alice, bob, room = await _room(local_hs)
    await bob.post("/pushers/set", _pusher(gateway.url))
    gateway.replies = [(500, {"error": "down"})]
    sent = await _send(alice, room, "hello", "t1")
    first, second = await gateway.next(), await gateway.next()
    assert first["notification"]["event_id"] == second["notification"]["event_id"] == sent
    assert second["notification"]["counts"] == {"unread": 1}


async def test_rejected_pushkey_removes_the_pusher(local_hs: HomeserverUnderTest, gateway: Gateway) -> None:
    alice, bob, room = await _room(local_hs)
    await bob.post("/pushers/set", _pusher(gateway.url))
    await bob.post("/pushers/set", _pusher(gateway.url, pushkey="key2"))
    gateway.replies = [(200, {"rejected": ["key1"]})]
    await _send(alice, room, "one", "t1")
    assert sorted(d["pushkey"] for d in (await gateway.next())["notification"]["devices"]) == ["key1", "key2"]
    await _send(alice, room, "two", "t2")
    assert [d["pushkey"] for d in (await gateway.next())["notification"]["devices"]] == ["key2"]
    assert [p["pushkey"] for p in (await bob.get("/pushers"))["pushers"]] == ["key2"]


async def test_loopback_gateway_refused_without_the_option(hs: HomeserverUnderTest, gateway: Gateway) -> None:
    bob = await hs.register("bob")
    err = await bob.post("/pushers/set", _pusher(gateway.url), expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"


async def test_a_gateway_error_is_not_retried_and_a_dead_one_is_given_up(
    local_hs: HomeserverUnderTest, gateway: Gateway
) -> None:
    alice, bob, room = await _room(local_hs)
    local_hs.app[PUSH_DELIVERY].max_attempts = 2
    await bob.post("/pushers/set", _pusher(gateway.url))
    gateway.replies = [(404, {}), (503, {}), (503, {})]
    first = await _send(alice, room, "one", "t1")
    second = await _send(alice, room, "two", "t2")
    third = await _send(alice, room, "three", "t3")
    seen = [(await gateway.next())["notification"]["event_id"] for _ in range(4)]
    # one: refused (404), never again; two: failed twice, given up; three: delivered.
    assert seen == [first, second, second, third]
