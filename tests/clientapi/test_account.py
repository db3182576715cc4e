"""Account management: password change, deactivation, and the 3PID endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.appkeys import USERS
from homeserver.ids import UserID
from tests.clientapi.util import assert_error, device_ids, password_hash, uia_session, user_count
from tests.helpers import HomeserverUnderTest

NEW_PASSWORD = "a brand new password"


def login_body(user: str, password: str) -> dict[str, Any]:
    return {"type": "m.login.password", "user": user, "password": password}


async def test_change_password(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    session = await uia_session(alice, "POST", "/account/password", {"new_password": NEW_PASSWORD})
    body = {"new_password": NEW_PASSWORD, "auth": alice.password_auth(session)}
    assert await alice.post("/account/password", body) == {}
    anon = hs.client()
    assert_error(await anon.post("/login", login_body("alice", alice.password), expect=403), "M_FORBIDDEN")
    await anon.post("/login", login_body("alice", NEW_PASSWORD))
    # logout_devices defaults to true: the other devices go, the requester's stays.
    assert_error(await laptop.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")
    await alice.get("/account/whoami")
    assert laptop.device_id not in await device_ids(hs, alice.user_id)
    assert alice.device_id in await device_ids(hs, alice.user_id)
    # The finished session cannot be replayed.
    body = {"new_password": "yet another password", "auth": alice.password_auth(session)}
    assert_error(await alice.post("/account/password", body, expect=400), "M_UNKNOWN")


async def test_change_password_keeping_other_devices(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    body = {"new_password": NEW_PASSWORD, "logout_devices": False, "auth": alice.password_auth()}
    await alice.post("/account/password", body)
    await laptop.get("/account/whoami")
    await alice.get("/account/whoami")
    assert await device_ids(hs, alice.user_id) == {alice.device_id, laptop.device_id}
    await hs.login("alice", NEW_PASSWORD)


async def test_change_password_wrong_password(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    before = await password_hash(hs, alice.user_id)
    auth = alice.password_auth() | {"password": "not my password"}
    err = await alice.post("/account/password", {"new_password": NEW_PASSWORD, "auth": auth}, expect=401)
    assert_error(err, "M_FORBIDDEN")
    assert await password_hash(hs, alice.user_id) == before
    await laptop.get("/account/whoami")


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({}, "M_MISSING_PARAM"),
        ({"new_password": None}, "M_MISSING_PARAM"),
        ({"new_password": 12345678}, "M_INVALID_PARAM"),
        ({"new_password": ["a", "b"]}, "M_INVALID_PARAM"),
        ({"new_password": NEW_PASSWORD, "logout_devices": "false"}, "M_INVALID_PARAM"),
        ({"new_password": "short"}, "M_WEAK_PASSWORD"),
        ({"new_password": "x" * 1000}, "M_INVALID_PARAM"),
    ],
)
async def test_change_password_bad_input(hs: HomeserverUnderTest, body: dict[str, Any], errcode: str) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    before = await password_hash(hs, alice.user_id)
    err = await alice.post("/account/password", {**body, "auth": alice.password_auth()}, expect=400)
    assert_error(err, errcode)
    assert await password_hash(hs, alice.user_id) == before
    await laptop.get("/account/whoami")


async def test_change_password_needs_uia_and_a_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    before = await password_hash(hs, alice.user_id)
    challenge = await alice.post("/account/password", {"new_password": NEW_PASSWORD}, expect=401)
    assert challenge["flows"] == [{"stages": ["m.login.password"]}]
    err = await hs.client().post("/account/password", {"new_password": NEW_PASSWORD}, expect=401)
    assert_error(err, "M_MISSING_TOKEN")
    body = {"new_password": NEW_PASSWORD, "auth": alice.password_auth()}
    assert_error(await hs.client("bad").post("/account/password", body, expect=401), "M_UNKNOWN_TOKEN")
    assert await password_hash(hs, alice.user_id) == before


async def test_change_password_not_json(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    before = await password_hash(hs, alice.user_id)
    assert_error(await alice.post("/account/password", data=b"new_password=x", expect=400), "M_NOT_JSON")
    assert_error(await alice.post("/account/password", data=b'"x"', expect=400), "M_BAD_JSON")
    assert await password_hash(hs, alice.user_id) == before


async def test_new_password_is_hashed(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await alice.post("/account/password", {"new_password": NEW_PASSWORD, "auth": alice.password_auth()})
    stored = await password_hash(hs, alice.user_id)
    assert stored is not None and NEW_PASSWORD not in stored and stored.startswith("$argon2id$")


async def test_deactivate(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    session = await uia_session(alice, "POST", "/account/deactivate", {})
    result = await alice.post("/account/deactivate", {"auth": alice.password_auth(session)})
    # No third-party identifiers to unbind: the spec says "success".
    assert result == {"id_server_unbind_result": "success"}
    for client in (alice, laptop):
        assert_error(await client.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")
    assert await device_ids(hs, alice.user_id) == set()
    err = await hs.client().post("/login", login_body("alice", alice.password), expect=403)
    assert err["errcode"] in ("M_FORBIDDEN", "M_USER_DEACTIVATED")
    user = await hs.app[USERS].get(UserID(str(alice.user_id)))
    assert user is not None and user.deactivated and user.password_hash is None
    # The user ID is never handed out again.
    err = await hs.client().get("/register/available", params={"username": "alice"}, expect=400)
    assert_error(err, "M_USER_IN_USE")
    assert await user_count(hs) == 1


async def test_deactivate_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    anon = hs.client()
    assert_error(
        await anon.post("/account/deactivate", {"auth": alice.password_auth()}, expect=401), "M_MISSING_TOKEN"
    )
    auth = alice.password_auth() | {"password": "wrong password"}
    assert_error(await alice.post("/account/deactivate", {"auth": auth}, expect=401), "M_FORBIDDEN")
    challenge = await alice.post("/account/deactivate", {}, expect=401)
    assert challenge["flows"] == [{"stages": ["m.login.password"]}]
    err = await alice.post("/account/deactivate", {"auth": alice.password_auth(), "erase": "yes"}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    assert_error(await alice.post("/account/deactivate", data=b"{", expect=400), "M_NOT_JSON")
    assert_error(await alice.post("/account/deactivate", data=b"[]", expect=400), "M_BAD_JSON")
    # A session started for a password change cannot deactivate.
    session = await uia_session(alice, "POST", "/account/password", {"new_password": NEW_PASSWORD})
    err = await alice.post("/account/deactivate", {"auth": alice.password_auth(session)}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    user = await hs.app[USERS].get(UserID(str(alice.user_id)))
    assert user is not None and not user.deactivated
    await alice.get("/account/whoami")
    await hs.login("alice")


async def test_deactivate_with_erase(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    result = await alice.post("/account/deactivate", {"auth": alice.password_auth(), "erase": True})
    assert result["id_server_unbind_result"] == "success"


async def test_threepids(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert await alice.get("/account/3pid") == {"threepids": []}
    creds = {
        "client_secret": "d0nt-T3ll",
        "sid": "abc123987",
        "id_server": "id.example",
        "id_access_token": "x",
    }
    err = await alice.post("/account/3pid", {"three_pid_creds": creds}, expect=403)
    assert_error(err, "M_THREEPID_AUTH_FAILED")
    for path in ("/account/3pid/add", "/account/3pid/bind"):
        err = await alice.post(path, {**creds, "auth": alice.password_auth()}, expect=403)
        assert_error(err, "M_THREEPID_AUTH_FAILED")
    for path in ("/account/3pid/delete", "/account/3pid/unbind"):
        result = await alice.post(path, {"medium": "email", "address": "alice@example.org"})
        assert result == {"id_server_unbind_result": "no-support"}
        assert_error(await alice.post(path, {"medium": "email"}, expect=400), "M_MISSING_PARAM")
        assert_error(await alice.post(path, {"address": "a@example.org"}, expect=400), "M_MISSING_PARAM")
        err = await alice.post(path, {"medium": 1, "address": "a@example.org"}, expect=400)
        assert_error(err, "M_INVALID_PARAM")
    assert await alice.get("/account/3pid") == {"threepids": []}


async def test_threepid_endpoints_need_a_token(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    assert_error(await anon.get("/account/3pid", expect=401), "M_MISSING_TOKEN")
    for path in ("/account/3pid", "/account/3pid/add", "/account/3pid/bind", "/account/3pid/delete"):
        assert_error(await anon.post(path, {}, expect=401), "M_MISSING_TOKEN")


async def test_threepid_validation_requests(hs: HomeserverUnderTest) -> None:
    anon = hs.client()  # these need no access token
    email = {"client_secret": "secret", "email": "a@example.org", "send_attempt": 1}
    msisdn = {"client_secret": "secret", "country": "GB", "phone_number": "07700900000", "send_attempt": 1}
    for path, body in (
        ("/account/3pid/email/requestToken", email),
        ("/account/3pid/msisdn/requestToken", msisdn),
        ("/account/password/email/requestToken", email),
        ("/account/password/msisdn/requestToken", msisdn),
    ):
        assert_error(await anon.post(path, body, expect=400), "M_THREEPID_MEDIUM_NOT_SUPPORTED")
        assert_error(await anon.post(path, data=b"{", expect=400), "M_NOT_JSON")
