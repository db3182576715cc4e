"""Hostile input never causes a 5xx: bad bytes in headers, NUL bytes, huge values."""

from __future__ import annotations

import orjson
import pytest

from homeserver.config import Registration
from tests.clientapi.conftest import MakeServer
from tests.clientapi.util import assert_error, device_ids, has_device, raw_request, user_count
from tests.helpers import HomeserverUnderTest

HUGE = "x" * 500_000


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer \xff\xfe\xfd",
        b"Bearer \xc3\xa9t\xc3\xa9",
        b"Bearer " + "\u2603".encode(),
        b"Bearer a.b.c",
        b"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJAYTpiIn0.",
        b"Bearer \x00",
        b"\xff\xff",
    ],
)
async def test_undecodable_authorization_header(hs: HomeserverUnderTest, value: bytes) -> None:
    status, body = await raw_request(
        hs, b"GET /_matrix/client/v3/account/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: " + value
    )
    assert status in (400, 401), (status, body)
    if status == 401:
        assert orjson.loads(body)["errcode"] in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN")


async def test_non_ascii_bytes_in_a_json_body_header_and_path(hs: HomeserverUnderTest) -> None:
    body = b'{"type": "m.login.password", "user": "\xff", "password": "x"}'
    status, raw = await raw_request(
        hs, b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json", body
    )
    assert status == 400
    assert orjson.loads(raw)["errcode"] == "M_NOT_JSON"
    status, _ = await raw_request(hs, b"GET /_matrix/client/v3/devices/\xff\xfe HTTP/1.1\r\nHost: x")
    assert status < 500


async def test_nul_bytes_in_usernames(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    for name in ("a\x00b", "\x00", "alice\x00"):
        assert_error(await anon.post("/register", {"username": name}, expect=400), "M_INVALID_USERNAME")
        err = await anon.get("/register/available", params={"username": name}, expect=400)
        assert_error(err, "M_INVALID_USERNAME")
    assert await user_count(hs) == 0
    alice = await hs.register("alice")
    for user in ("alice\x00", "\x00", "@alice\x00:localhost", f"@alice:{hs.config.server_name}\x00"):
        legacy = {"type": "m.login.password", "user": user, "password": alice.password}
        assert_error(await anon.post("/login", legacy, expect=403), "M_FORBIDDEN")
        identifier = {"type": "m.id.user", "user": user}
        body = {"type": "m.login.password", "identifier": identifier, "password": "x"}
        assert_error(await anon.post("/login", body, expect=403), "M_FORBIDDEN")


async def test_nul_bytes_in_device_ids_and_names(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    body = {
        "username": "bob",
        "password": "correct horse",
        "device_id": "D\x00",
        "auth": {"type": "m.login.dummy"},
    }
    err = await anon.post("/register", body, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    assert await user_count(hs) == 0
    alice = await hs.register("alice")
    login = {"type": "m.login.password", "user": "alice", "password": alice.password}
    assert_error(await anon.post("/login", {**login, "device_id": "X\x00Y"}, expect=400), "M_INVALID_PARAM")
    err = await anon.post("/login", {**login, "initial_device_display_name": "ph\x00ne"}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    assert await device_ids(hs, alice.user_id) == {alice.device_id}
    err = await alice.put(f"/devices/{alice.device_id}", {"display_name": "a\x00b"}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    for path in ("/devices/A%00B", "/devices/%00"):
        assert_error(await alice.get(path, expect=404), "M_NOT_FOUND")
        assert_error(await alice.put(path, {"display_name": "x"}, expect=404), "M_NOT_FOUND")
        assert_error(await alice.delete(path, {}, expect=404), "M_NOT_FOUND")
    err = await alice.post(
        "/delete_devices", {"devices": ["\x00"], "auth": alice.password_auth()}, expect=400
    )
    assert_error(err, "M_INVALID_PARAM")
    assert await has_device(hs, alice.user_id, alice.device_id)


async def test_nul_bytes_in_uia_sessions_and_tokens(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(require_token=True))
    anon = hs.client()
    for session in ("\x00", "a" * 10_000, "s\x00" * 10):
        body = {
            "username": "bob",
            "password": "correct horse",
            "auth": {"type": "m.login.dummy", "session": session},
        }
        assert_error(await anon.post("/register", body, expect=400), "M_UNKNOWN")
    for token in ("\x00", "tok\x00en", "é", HUGE):
        body = {
            "username": "bob",
            "password": "correct horse",
            "auth": {"type": "m.login.registration_token", "token": token},
        }
        err = await anon.post("/register", body, expect=401)
        assert_error(err, "M_FORBIDDEN")
        path = "/_matrix/client/v1/register/m.login.registration_token/validity"
        assert await anon.get(path, params={"token": token[:1000]}) == {"valid": False}
    assert await user_count(hs) == 0


async def test_huge_strings_are_refused_cleanly(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    body = {"username": HUGE, "password": "correct horse", "auth": {"type": "m.login.dummy"}}
    assert_error(await anon.post("/register", body, expect=400), "M_INVALID_USERNAME")
    body = {"username": "bob", "password": HUGE, "auth": {"type": "m.login.dummy"}}
    assert (await anon.post("/register", body, expect=400))["errcode"] in (
        "M_INVALID_PARAM",
        "M_WEAK_PASSWORD",
    )
    body = {
        "username": "bob",
        "device_id": HUGE,
        "password": "correct horse",
        "auth": {"type": "m.login.dummy"},
    }
    assert_error(await anon.post("/register", body, expect=400), "M_INVALID_PARAM")
    assert await user_count(hs) == 0
    alice = await hs.register("alice")
    for login in (
        {"type": "m.login.password", "user": HUGE, "password": "x"},
        {"type": "m.login.password", "user": "alice", "password": HUGE},
        {"type": HUGE, "user": "alice", "password": "x"},
    ):
        assert (await anon.post("/login", login, expect=403 if login["type"] != HUGE else 400))["errcode"]
    login = {"type": "m.login.password", "user": "alice", "password": alice.password, "device_id": HUGE}
    assert_error(await anon.post("/login", login, expect=400), "M_INVALID_PARAM")
    assert await device_ids(hs, alice.user_id) == {alice.device_id}
    await alice.put(f"/devices/{alice.device_id}", {"display_name": HUGE})
    device = await alice.get(f"/devices/{alice.device_id}")
    assert len(device["display_name"]) <= 256
    assert_error(await anon.post("/refresh", {"refresh_token": HUGE}, expect=401), "M_UNKNOWN_TOKEN")
    assert_error(await alice.get("/devices/" + "D" * 4000, expect=404), "M_NOT_FOUND")


async def test_lone_surrogates_and_odd_unicode_in_fields(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    data = b'{"username": "bob", "password": "\\ud800abcdefgh", "auth": {"type": "m.login.dummy"}}'
    assert_error(await anon.post("/register", data=data, expect=400), "M_NOT_JSON")
    body = {"username": "b\u00f6b", "password": "correct horse", "auth": {"type": "m.login.dummy"}}
    assert_error(await anon.post("/register", body, expect=400), "M_INVALID_USERNAME")
    body = {"username": "bob", "password": "p\u00e4ss\u2603word\U0001f600", "auth": {"type": "m.login.dummy"}}
    bob = await anon.post("/register", body)
    login = {"type": "m.login.password", "user": "bob", "password": "p\u00e4ss\u2603word\U0001f600"}
    assert (await anon.post("/login", login))["user_id"] == bob["user_id"]


async def test_undecodable_bytes_with_a_valid_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    auth = b"Authorization: Bearer " + str(alice.access_token).encode()
    for head in (
        b"GET /_matrix/client/v3/account/whoami HTTP/1.1\r\nHost: x\r\nUser-Agent: \xff\xfe\xc3\r\n" + auth,
        b"GET /_matrix/client/v3/devices/\xff\xfe HTTP/1.1\r\nHost: x\r\n" + auth,
        b"GET /_matrix/client/v3/devices/%ff%fe HTTP/1.1\r\nHost: x\r\n" + auth,
        b"PUT /_matrix/client/v3/devices/%ff HTTP/1.1\r\nHost: x\r\n" + auth,
    ):
        status, body = await raw_request(hs, head, b"{}")
        assert status < 500, (head, status, body)
    await alice.get("/account/whoami")
