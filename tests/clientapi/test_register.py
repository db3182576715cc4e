"""POST /register with User-Interactive Auth, GET /register/available, and the username grammar."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.appkeys import PASSWORDS, USERS
from homeserver.ids import UserID, is_valid_user_id
from tests.clientapi.util import assert_cors, assert_error, device_ids, user_count
from tests.helpers import HomeserverUnderTest

PASSWORD = "correct horse battery"


def dummy(session: str | None = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"type": "m.login.dummy"}
    if session is not None:
        auth["session"] = session
    return auth


async def test_uia_dance_then_registered(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    body: dict[str, Any] = {"username": "alice", "password": PASSWORD}
    challenge = await anon.post("/register", body, expect=401)
    assert challenge["flows"] == [{"stages": ["m.login.dummy"]}]
    assert challenge["completed"] == []
    assert isinstance(challenge["params"], dict)
    assert isinstance(challenge["session"], str) and challenge["session"]
    assert_cors(anon)
    assert await user_count(hs) == 0  # a challenge creates nothing

    result = await anon.post("/register", {**body, "auth": dummy(challenge["session"])})
    assert result["user_id"] == f"@alice:{hs.config.server_name}"
    assert result["home_server"] == hs.config.server_name
    assert isinstance(result["device_id"], str) and result["device_id"]
    assert "refresh_token" not in result and "expires_in_ms" not in result
    me = await hs.client(result["access_token"]).get("/account/whoami")
    assert me == {"user_id": result["user_id"], "device_id": result["device_id"], "is_guest": False}
    assert await user_count(hs) == 1


async def test_dummy_auth_without_a_session_registers_at_once(hs: HomeserverUnderTest) -> None:
    result = await hs.client().post("/register", {"username": "alice", "password": PASSWORD, "auth": dummy()})
    assert result["user_id"].startswith("@alice:")


async def test_no_auth_always_gets_401(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    bodies: list[dict[str, Any]] = [{}, {"auth": {}}, {"auth": None}, {"username": "alice"}]
    for body in bodies:
        challenge = await anon.post("/register", body, expect=401)
        assert "session" in challenge and "flows" in challenge
    assert await user_count(hs) == 0


async def test_generated_user_id_when_no_username(hs: HomeserverUnderTest) -> None:
    result = await hs.client().post("/register", {"password": PASSWORD, "auth": dummy()})
    assert is_valid_user_id(result["user_id"])
    assert result["user_id"].endswith(f":{hs.config.server_name}")


@pytest.mark.parametrize(
    "username",
    [
        "Alice",
        "ALICE",
        "al ice",
        "al:ice",
        "@alice",
        "al#ice",
        "al\u00e9",
        "",
        "_reserved",
        "a" * 250,
        "a\tb",
    ],
)
async def test_username_grammar(hs: HomeserverUnderTest, username: str) -> None:
    anon = hs.client()
    # Checked before User-Interactive Auth starts, and again at the end.
    err = await anon.post("/register", {"username": username, "password": PASSWORD}, expect=400)
    assert_error(err, "M_INVALID_USERNAME")
    err = await anon.post(
        "/register", {"username": username, "password": PASSWORD, "auth": dummy()}, expect=400
    )
    assert_error(err, "M_INVALID_USERNAME")
    err = await anon.get("/register/available", params={"username": username}, expect=400)
    assert_error(err, "M_INVALID_USERNAME")
    assert await user_count(hs) == 0


async def test_allowed_username_characters(hs: HomeserverUnderTest) -> None:
    name = "a-z.0_9=/+x"
    assert await hs.client().get("/register/available", params={"username": name}) == {"available": True}
    alice = await hs.register(name)
    assert alice.user_id == f"@{name}:{hs.config.server_name}"


async def test_user_in_use(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    anon = hs.client()
    # Before UIA (no challenge is handed out) and with auth.
    assert_error(await anon.post("/register", {"username": "alice"}, expect=400), "M_USER_IN_USE")
    body = {"username": "alice", "password": "another password", "auth": dummy()}
    assert_error(await anon.post("/register", body, expect=400), "M_USER_IN_USE")
    err = await anon.get("/register/available", params={"username": "alice"}, expect=400)
    assert_error(err, "M_USER_IN_USE")
    assert await user_count(hs) == 1
    user = await hs.app[USERS].get(UserID(str(alice.user_id)))
    assert user is not None
    assert await hs.app[PASSWORDS].verify(user.password_hash, PASSWORD)


async def test_register_available(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    assert await anon.get("/register/available", params={"username": "bob"}) == {"available": True}
    assert_cors(anon)
    assert_error(await anon.get("/register/available", expect=400), "M_MISSING_PARAM")
    assert await user_count(hs) == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("username", 42),
        ("username", ["alice"]),
        ("password", 12345678),
        ("password", {"p": 1}),
        ("device_id", True),
        ("initial_device_display_name", 3),
        ("inhibit_login", "yes"),
        ("inhibit_login", 0),
        ("refresh_token", "true"),
    ],
)
async def test_wrong_types(hs: HomeserverUnderTest, key: str, value: Any) -> None:
    body = {"username": "alice", "password": PASSWORD, "auth": dummy(), key: value}
    assert_error(await hs.client().post("/register", body, expect=400), "M_INVALID_PARAM")
    assert await user_count(hs) == 0


async def test_auth_that_is_not_an_object(hs: HomeserverUnderTest) -> None:
    for auth in ("m.login.dummy", ["m.login.dummy"], 1):
        body = {"username": "alice", "password": PASSWORD, "auth": auth}
        err = await hs.client().post("/register", body, expect=400)
        assert err["errcode"] in ("M_UNKNOWN", "M_BAD_JSON", "M_INVALID_PARAM")
    assert await user_count(hs) == 0


async def test_weak_and_overlong_passwords(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    body = {"username": "alice", "password": "short", "auth": dummy()}
    assert_error(await anon.post("/register", body, expect=400), "M_WEAK_PASSWORD")
    body = {"username": "alice", "password": "p" * 513, "auth": dummy()}
    assert (await anon.post("/register", body, expect=400))["errcode"] in (
        "M_INVALID_PARAM",
        "M_WEAK_PASSWORD",
    )
    assert await user_count(hs) == 0


async def test_bad_uia_session(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    for session in ("nope", 42, ["x"]):
        body = {
            "username": "alice",
            "password": PASSWORD,
            "auth": {"type": "m.login.dummy", "session": session},
        }
        err = await anon.post("/register", body, expect=400)
        assert_error(err, "M_UNKNOWN")
    assert await user_count(hs) == 0


async def test_uia_stage_not_offered(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    challenge = await anon.post("/register", {"username": "alice"}, expect=401)
    for auth in (
        {"type": "m.login.password", "user": "alice", "password": "x"},
        {"type": "m.login.registration_token", "token": "abc"},
        {"type": 5},
    ):
        body = {"username": "alice", "password": PASSWORD, "auth": {**auth, "session": challenge["session"]}}
        err = await anon.post("/register", body, expect=401)
        assert_error(err, "M_FORBIDDEN")
        assert err["session"] == challenge["session"] and err["completed"] == []
    assert await user_count(hs) == 0


async def test_finished_uia_session_cannot_be_replayed(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    challenge = await anon.post("/register", {"username": "alice"}, expect=401)
    await anon.post(
        "/register", {"username": "alice", "password": PASSWORD, "auth": dummy(challenge["session"])}
    )
    body = {"username": "bob", "password": PASSWORD, "auth": dummy(challenge["session"])}
    assert_error(await anon.post("/register", body, expect=400), "M_UNKNOWN")
    assert await user_count(hs) == 1


async def test_uia_session_is_bound_to_its_uri(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    # A session started to delete a device cannot authorise a registration.
    challenge = await alice.delete(f"/devices/{alice.device_id}", {}, expect=401)
    body = {"username": "bob", "password": PASSWORD, "auth": dummy(challenge["session"])}
    assert_error(await hs.client().post("/register", body, expect=403), "M_FORBIDDEN")
    # Nor one started on another path to the same endpoint.
    challenge = await hs.client().post("/_matrix/client/r0/register", {}, expect=401)
    body["auth"] = dummy(challenge["session"])
    assert_error(await hs.client().post("/register", body, expect=403), "M_FORBIDDEN")
    assert await user_count(hs) == 1


async def test_inhibit_login(hs: HomeserverUnderTest) -> None:
    body = {
        "username": "alice",
        "password": PASSWORD,
        "auth": dummy(),
        "inhibit_login": True,
        "refresh_token": True,
    }
    result = await hs.client().post("/register", body)
    assert result["user_id"] == f"@alice:{hs.config.server_name}"
    for key in ("access_token", "device_id", "refresh_token", "expires_in_ms"):
        assert key not in result
    assert await device_ids(hs, result["user_id"]) == set()
    alice = await hs.login("alice")  # the account works
    assert await device_ids(hs, result["user_id"]) == {alice.device_id}


async def test_device_id_and_initial_display_name(hs: HomeserverUnderTest) -> None:
    body = {
        "username": "alice",
        "password": PASSWORD,
        "auth": dummy(),
        "device_id": "MYPHONE",
        "initial_device_display_name": "Jungle Phone",
    }
    result = await hs.client().post("/register", body)
    assert result["device_id"] == "MYPHONE"
    alice = hs.client(result["access_token"])
    device = await alice.get("/devices/MYPHONE")
    assert device["device_id"] == "MYPHONE" and device["display_name"] == "Jungle Phone"


async def test_refresh_token_on_registration(hs: HomeserverUnderTest) -> None:
    body = {"username": "alice", "password": PASSWORD, "auth": dummy(), "refresh_token": True}
    result = await hs.client().post("/register", body)
    assert isinstance(result["refresh_token"], str)
    assert result["expires_in_ms"] == hs.config.access_token_lifetime_ms
    refreshed = await hs.client().post("/refresh", {"refresh_token": result["refresh_token"]})
    me = await hs.client(refreshed["access_token"]).get("/account/whoami")
    assert me["user_id"] == result["user_id"]


async def test_register_with_an_unknown_kind(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    err = await anon.post("/register", {"auth": dummy()}, params={"kind": "admin"}, expect=400)
    assert err["errcode"] in ("M_INVALID_PARAM", "M_UNRECOGNIZED")
    assert await user_count(hs) == 0


async def test_email_and_msisdn_registration_are_refused(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    body = {"client_secret": "secret", "email": "a@example.org", "send_attempt": 1}
    assert_error(await anon.post("/register/email/requestToken", body, expect=403), "M_THREEPID_DENIED")
    body = {"client_secret": "secret", "country": "GB", "phone_number": "07700900000", "send_attempt": 1}
    assert_error(await anon.post("/register/msisdn/requestToken", body, expect=403), "M_THREEPID_DENIED")
    assert_error(await anon.post("/register/email/requestToken", data=b"[", expect=400), "M_NOT_JSON")
