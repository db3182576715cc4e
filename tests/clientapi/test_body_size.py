"""Bodies over max_request_body_bytes: 413 M_TOO_LARGE, and nothing done."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import orjson

from tests.clientapi.conftest import MakeServer
from tests.clientapi.util import assert_cors, assert_error, password_hash, user_count
from tests.helpers import HomeserverUnderTest

LIMIT = 1024


async def small_server(make_hs: MakeServer) -> HomeserverUnderTest:
    return await make_hs(max_request_body_bytes=LIMIT)


def padded(body: Mapping[str, object], size: int) -> bytes:
    """`body` with a padding key, encoded to exactly `size` bytes."""
    base = len(orjson.dumps({**body, "pad": ""}))
    data = orjson.dumps({**body, "pad": "x" * (size - base)})
    assert len(data) == size
    return data


async def test_oversized_bodies_are_refused(make_hs: MakeServer) -> None:
    hs = await small_server(make_hs)
    anon = hs.client()
    register = {"username": "alice", "password": "correct horse battery", "auth": {"type": "m.login.dummy"}}
    assert_error(await anon.post("/register", data=padded(register, LIMIT + 1), expect=413), "M_TOO_LARGE")
    assert_cors(anon)
    assert_error(await anon.post("/login", data=b"{" + b" " * 100_000 + b"}", expect=413), "M_TOO_LARGE")
    assert await user_count(hs) == 0
    # At the limit, the request is served.
    result = await anon.post("/register", data=padded(register, LIMIT))
    assert result["user_id"].startswith("@alice:")


async def test_oversized_chunked_body(make_hs: MakeServer) -> None:
    hs = await small_server(make_hs)
    body = {"username": "alice", "password": "correct horse battery", "auth": {"type": "m.login.dummy"}}
    data = padded(body, 50_000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    anon = hs.client()
    assert anon.http is not None
    async with anon.http.post(anon.url("/register"), data=chunks()) as resp:
        assert resp.status == 413
        assert_error(await resp.json(), "M_TOO_LARGE")
    assert await user_count(hs) == 0


async def test_oversized_bodies_on_authenticated_endpoints(make_hs: MakeServer) -> None:
    hs = await small_server(make_hs)
    alice = await hs.register("alice", initial_device_display_name="Phone")
    before = await password_hash(hs, alice.user_id)
    big = padded({"new_password": "a brand new password", "auth": alice.password_auth()}, 5000)
    assert_error(await alice.post("/account/password", data=big, expect=413), "M_TOO_LARGE")
    assert await password_hash(hs, alice.user_id) == before
    big = padded({"display_name": "Renamed"}, 5000)
    assert_error(await alice.put(f"/devices/{alice.device_id}", data=big, expect=413), "M_TOO_LARGE")
    assert (await alice.get(f"/devices/{alice.device_id}"))["display_name"] == "Phone"
    big = padded({"auth": alice.password_auth()}, 5000)
    assert_error(await alice.post("/account/deactivate", data=big, expect=413), "M_TOO_LARGE")
    await alice.get("/account/whoami")
