"""GET/POST /login, GET /account/whoami, and how access tokens are accepted or refused."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from tests.clientapi.util import assert_cors, assert_error, device_ids, user_count
from tests.helpers import HomeserverUnderTest

PW = {"type": "m.login.password", "password": "x"}


def password_login(user: str, password: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    } | extra


async def test_login_flows(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    flows = await anon.get("/login")
    assert {"type": "m.login.password"} in flows["flows"]
    assert_cors(anon)


async def test_login_by_localpart_user_id_and_legacy_user(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    anon = hs.client()
    for body in (
        password_login("alice", alice.password),
        password_login("ALICE", alice.password),  # localparts are case-insensitive at login
        password_login(str(alice.user_id), alice.password),
        {"type": "m.login.password", "user": "alice", "password": alice.password},
        {"type": "m.login.password", "user": str(alice.user_id), "password": alice.password},
    ):
        result = await anon.post("/login", body)
        assert result["user_id"] == alice.user_id
        assert result["home_server"] == hs.config.server_name
        assert result["well_known"]["m.homeserver"]["base_url"] == hs.config.base_url.rstrip("/")
        assert "refresh_token" not in result and "expires_in_ms" not in result
        me = await hs.client(result["access_token"]).get("/account/whoami")
        assert me["device_id"] == result["device_id"]
    assert len(await device_ids(hs, alice.user_id)) == 6


async def test_wrong_password_or_unknown_user(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    anon = hs.client()
    for body in (
        password_login("alice", "wrong password"),
        password_login("alice", ""),
        password_login("bob", alice.password),
        password_login("@alice:elsewhere.example", alice.password),
        {"type": "m.login.password", "user": "alice", "password": alice.password.upper()},
    ):
        assert_error(await anon.post("/login", body, expect=403), "M_FORBIDDEN")
        assert_cors(anon)
    assert await device_ids(hs, alice.user_id) == {alice.device_id}


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"identifier": {"type": "m.id.user", "user": "alice"}, "password": "x"}, "M_MISSING_PARAM"),
        (
            {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}},
            "M_MISSING_PARAM",
        ),
        ({"type": "m.login.password", "password": "correct horse battery"}, "M_MISSING_PARAM"),
        ({"type": 1, "user": "alice", "password": "x"}, "M_INVALID_PARAM"),
        ({"type": "m.login.password", "user": "alice", "password": 12345678}, "M_INVALID_PARAM"),
        ({"type": "m.login.password", "user": "alice", "password": "x", "device_id": 7}, "M_INVALID_PARAM"),
        (
            {"type": "m.login.password", "user": "alice", "password": "x", "refresh_token": "yes"},
            "M_INVALID_PARAM",
        ),
        (
            {"type": "m.login.password", "user": "alice", "password": "x", "initial_device_display_name": []},
            "M_INVALID_PARAM",
        ),
        ({"type": "m.login.password", "identifier": "alice", "password": "x"}, "M_INVALID_PARAM"),
        ({"type": "m.login.password", "identifier": {"user": "alice"}, "password": "x"}, "M_MISSING_PARAM"),
        (
            {"type": "m.login.password", "identifier": {"type": "m.id.user"}, "password": "x"},
            "M_MISSING_PARAM",
        ),
        (
            {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": 1}, "password": "x"},
            "M_INVALID_PARAM",
        ),
        ({"type": "m.login.password", "user": ["alice"], "password": "x"}, "M_INVALID_PARAM"),
        (
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.thirdparty", "medium": "email"},
                "password": "x",
            },
            "M_UNKNOWN",
        ),
        ({"type": "m.login.sso"}, "M_UNKNOWN"),
    ],
)
async def test_malformed_login(hs: HomeserverUnderTest, body: dict[str, Any], errcode: str) -> None:
    alice = await hs.register("alice")
    assert_error(await hs.client().post("/login", body, expect=400), errcode)
    assert await device_ids(hs, alice.user_id) == {alice.device_id}


async def test_empty_body_is_a_missing_type(hs: HomeserverUnderTest) -> None:
    assert_error(await hs.client().post("/login", data=b"", expect=400), "M_MISSING_PARAM")


async def test_device_id_reuse_replaces_the_old_token(hs: HomeserverUnderTest) -> None:
    await hs.register("alice")
    first = await hs.login("alice", device_id="PHONE", initial_device_display_name="My phone")
    assert first.device_id == "PHONE"
    second = await hs.login("alice", device_id="PHONE", initial_device_display_name="Ignored")
    assert second.device_id == "PHONE"
    assert_error(await first.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")
    assert (await second.get("/account/whoami"))["device_id"] == "PHONE"
    device = await second.get("/devices/PHONE")
    # The display name is only for a new device: ignored for a known one.
    assert device["display_name"] == "My phone"
    assert sum(1 for d in (await second.get("/devices"))["devices"] if d["device_id"] == "PHONE") == 1


async def test_initial_device_display_name(hs: HomeserverUnderTest) -> None:
    await hs.register("alice")
    alice = await hs.login("alice", initial_device_display_name="Laptop")
    device = await alice.get(f"/devices/{alice.device_id}")
    assert device["display_name"] == "Laptop"


async def test_login_with_refresh_token(hs: HomeserverUnderTest) -> None:
    await hs.register("alice")
    result = await hs.client().post(
        "/login", password_login("alice", "correct horse battery", refresh_token=True)
    )
    assert result["refresh_token"].startswith("mr_")
    assert result["expires_in_ms"] == hs.config.access_token_lifetime_ms


async def test_deactivated_user_cannot_log_in(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await alice.post("/account/deactivate", {"auth": alice.password_auth()})
    err = await hs.client().post("/login", password_login("alice", alice.password), expect=403)
    assert err["errcode"] in ("M_FORBIDDEN", "M_USER_DEACTIVATED")
    assert await device_ids(hs, alice.user_id) == set()


async def test_whoami(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    me = await alice.get("/account/whoami")
    assert me == {"user_id": alice.user_id, "device_id": alice.device_id, "is_guest": False}
    assert_cors(alice)


async def test_missing_token(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"Authorization": "Basic abc"},
    ):
        err = await anon.get("/account/whoami", headers=headers, expect=401)
        assert_error(err, "M_MISSING_TOKEN")
        assert_cors(anon)


async def test_query_string_access_token_is_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    anon = hs.client()
    err = await anon.get("/account/whoami", params={"access_token": str(alice.access_token)}, expect=401)
    assert err["errcode"] in ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN")
    # Even alongside a good header.
    err = await alice.get("/account/whoami", params={"access_token": str(alice.access_token)}, expect=401)
    assert err["errcode"] in ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN")
    # And the query-string token did not log out or otherwise act.
    await alice.post("/logout", params={"access_token": str(alice.access_token)}, expect=401)
    await alice.get("/account/whoami")


async def test_bad_tokens(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert alice.access_token is not None
    claims = jwt.decode(alice.access_token, options={"verify_signature": False})
    wrong_key = "not the secret, but long enough for HS256"
    forged_secret = jwt.encode(claims, wrong_key, algorithm="HS256")
    forged_none = jwt.encode(claims, "", algorithm="none")
    other_user = jwt.encode({**claims, "sub": "@bob:localhost"}, wrong_key, algorithm="HS256")
    for token in (
        "garbage",
        alice.access_token + "x",
        alice.access_token[:-2],
        forged_secret,
        forged_none,
        other_user,
    ):
        err = await hs.client(token).get("/account/whoami", expect=401)
        assert_error(err, "M_UNKNOWN_TOKEN")
        assert err.get("soft_logout", False) is False


async def test_logged_out_token_is_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await alice.post("/logout")
    err = await alice.get("/account/whoami", expect=401)
    assert_error(err, "M_UNKNOWN_TOKEN")
    assert err.get("soft_logout", False) is False
    assert await user_count(hs) == 1
