"""Registration as the config shapes it: turned off, token-gated, guests."""

from __future__ import annotations

from typing import Any

from homeserver.appkeys import REGISTRATION_TOKENS
from homeserver.clock import now_ms
from homeserver.config import Registration
from tests.clientapi.conftest import MakeServer
from tests.clientapi.util import assert_error, device_ids, user_count
from tests.helpers import HomeserverUnderTest

PASSWORD = "correct horse battery"
VALIDITY = "/_matrix/client/v1/register/m.login.registration_token/validity"


async def test_registration_disabled(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(enabled=False))
    anon = hs.client()
    body = {"username": "alice", "password": PASSWORD, "auth": {"type": "m.login.dummy"}}
    assert_error(await anon.post("/register", body, expect=403), "M_FORBIDDEN")
    assert_error(await anon.post("/register", {}, expect=403), "M_FORBIDDEN")
    err = await anon.get("/register/available", params={"username": "alice"}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    assert_error(await anon.get(VALIDITY, params={"token": "abc"}, expect=403), "M_FORBIDDEN")
    assert_error(
        await anon.post("/register", {}, params={"kind": "guest"}, expect=403), "M_GUEST_ACCESS_FORBIDDEN"
    )
    assert await user_count(hs) == 0


async def test_guests_refused_by_default(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    err = await anon.post("/register", {}, params={"kind": "guest"}, expect=403)
    assert_error(err, "M_GUEST_ACCESS_FORBIDDEN")
    assert await user_count(hs) == 0


async def register_guest(hs: HomeserverUnderTest, body: dict[str, Any] | None = None) -> Any:
    return await hs.client().post("/register", body or {}, params={"kind": "guest"})


async def test_guest_registration(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(allow_guests=True))
    # Everything but the display name is ignored; no UIA for guests.
    body = {
        "username": "alice",
        "password": PASSWORD,
        "device_id": "MINE",
        "initial_device_display_name": "Visitor",
    }
    result = await register_guest(hs, body)
    assert result["user_id"] != f"@alice:{hs.config.server_name}"
    assert result["device_id"] != "MINE"
    guest = hs.client(result["access_token"])
    me = await guest.get("/account/whoami")
    assert me == {"user_id": result["user_id"], "device_id": result["device_id"], "is_guest": True}
    assert await user_count(hs) == 1

    # Refused elsewhere.
    for method, path in (
        ("GET", "/devices"),
        ("GET", "/capabilities"),
        ("POST", "/logout/all"),
        ("POST", "/account/password"),
        ("POST", "/account/deactivate"),
        ("GET", "/account/3pid"),
    ):
        err = await guest.request(method, path, {} if method == "POST" else None, expect=403)
        assert_error(err, "M_GUEST_ACCESS_FORBIDDEN")
    assert await device_ids(hs, result["user_id"]) == {result["device_id"]}

    # A guest cannot log in (no password) and can log out.
    login = {"type": "m.login.password", "user": result["user_id"], "password": ""}
    assert_error(await hs.client().post("/login", login, expect=403), "M_FORBIDDEN")
    await guest.post("/logout")
    assert_error(await guest.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")


async def test_guest_registration_checks_the_display_name_type(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(allow_guests=True))
    err = await hs.client().post(
        "/register", {"initial_device_display_name": 5}, params={"kind": "guest"}, expect=400
    )
    assert_error(err, "M_INVALID_PARAM")
    assert await user_count(hs) == 0


async def test_registration_token_required(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(require_token=True))
    await hs.app[REGISTRATION_TOKENS].create("fBVFdqVE", None, None, now_ms())
    anon = hs.client()
    assert await anon.get(VALIDITY, params={"token": "fBVFdqVE"}) == {"valid": True}
    assert await anon.get(VALIDITY, params={"token": "unknown"}) == {"valid": False}
    assert_error(await anon.get(VALIDITY, expect=400), "M_MISSING_PARAM")

    body: dict[str, Any] = {"username": "alice", "password": PASSWORD}
    challenge = await anon.post("/register", body, expect=401)
    assert challenge["flows"] == [{"stages": ["m.login.registration_token"]}]
    session = challenge["session"]
    # Dummy auth is not enough, nor a wrong token.
    err = await anon.post(
        "/register", {**body, "auth": {"type": "m.login.dummy", "session": session}}, expect=401
    )
    assert_error(err, "M_FORBIDDEN")
    for bad in ("wrong", 42, None):
        bad_auth = {"type": "m.login.registration_token", "token": bad, "session": session}
        assert_error(await anon.post("/register", {**body, "auth": bad_auth}, expect=401), "M_FORBIDDEN")
    assert await user_count(hs) == 0

    auth = {"type": "m.login.registration_token", "token": "fBVFdqVE", "session": session}
    result = await anon.post("/register", {**body, "auth": auth})
    assert result["user_id"] == f"@alice:{hs.config.server_name}"
    token = await hs.app[REGISTRATION_TOKENS].get("fBVFdqVE")
    assert token is not None and token.completed == 1


async def test_registration_token_uses_exhausted(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(require_token=True))
    await hs.app[REGISTRATION_TOKENS].create("once", 1, None, now_ms())
    anon = hs.client()
    auth = {"type": "m.login.registration_token", "token": "once"}
    await anon.post("/register", {"username": "alice", "password": PASSWORD, "auth": auth})
    assert await anon.get(VALIDITY, params={"token": "once"}) == {"valid": False}
    err = await anon.post("/register", {"username": "bob", "password": PASSWORD, "auth": auth}, expect=401)
    assert_error(err, "M_FORBIDDEN")
    assert await user_count(hs) == 1
    token = await hs.app[REGISTRATION_TOKENS].get("once")
    assert token is not None and token.completed == 1


async def test_registration_token_expired(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(require_token=True))
    await hs.app[REGISTRATION_TOKENS].create("old", None, now_ms() - 1, now_ms() - 1000)
    anon = hs.client()
    assert await anon.get(VALIDITY, params={"token": "old"}) == {"valid": False}
    auth = {"type": "m.login.registration_token", "token": "old"}
    err = await anon.post("/register", {"username": "alice", "password": PASSWORD, "auth": auth}, expect=401)
    assert_error(err, "M_FORBIDDEN")
    assert await user_count(hs) == 0


async def test_registration_token_not_offered_when_not_required(hs: HomeserverUnderTest) -> None:
    await hs.app[REGISTRATION_TOKENS].create("tok", None, None, now_ms())
    auth = {"type": "m.login.registration_token", "token": "tok"}
    body = {"username": "alice", "password": PASSWORD, "auth": auth}
    assert_error(await hs.client().post("/register", body, expect=401), "M_FORBIDDEN")
    token = await hs.app[REGISTRATION_TOKENS].get("tok")
    assert token is not None and token.completed == 0
    assert await user_count(hs) == 0
